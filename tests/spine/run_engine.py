"""Runs the engine with fake steps in its own process (for the reload tests):
python -m tests.spine.run_engine DIR"""

import sys
from pathlib import Path

from tests.spine.helpers import make_engine

result = make_engine(Path(sys.argv[1])).run()
print("finished" if result.finished else "waiting", result.state)
