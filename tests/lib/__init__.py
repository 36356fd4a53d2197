"""What every test area shares, imported as `tests.lib...` (pyproject's pytest `pythonpath` puts the
repository root on sys.path; child processes get it through tools.child_env()):

    tools       require_tool, run_onboard (the CLI as a user runs it), child_env
    pki         the one certificate builder: issue(), CA (with its trust directory), PKI (3 levels)
    clock       the one fake clock, for onboard's steps and the sandbox alike
    context     the one step-context factory (step_context, captured_ui, output)
    sandbox     the one way to start the sandbox in-process (start_sandbox, with a CA made once per session)
    regkit      the registration kit: the sandbox's registration servers, a user credential, configs, journeys
    recorded    registration servers as recorded pages (no sandbox, no socket)
    files       snapshot() of a directory
    servers/    the real servers (sshd, Dovecot, MariaDB + voms) and their fixtures (servers/fixtures.py)
    tiers       the fast and full tiers: which tests start servers; the guard keeping the fast tier fast
"""
