from onboard.cli import main

raise SystemExit(main())
