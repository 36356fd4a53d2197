"""What every test area shares: tools and the CLI as a subprocess (tools), the test PKI (pki), the fake
clock (clock), step contexts (context), the sandbox started in-process (sandbox), the real servers and
their fixtures (servers/), and the fast/full tier bookkeeping (tiers).

Imported as `tests.lib...`: pyproject's pytest `pythonpath` puts the repository root on sys.path."""
