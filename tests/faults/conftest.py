"""Fixtures of the fault tests (defined in ``harness.py``, which the tests import helpers from)."""
from tests.faults.harness import (  # noqa: F401  (fixtures and the summary hook, registered by import)
    demo_sqlite,
    private_redis,
    pytest_terminal_summary,
    sqlite_copy,
    start_server,
)
