"""Shared test set-up.

Prefect is configured before it is imported anywhere: its home in a temporary folder,
analytics off, logging at WARNING. The Prefect test harness (a temporary API server) is
started once per session, only by the tests that ask for it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_PREFECT_HOME = tempfile.mkdtemp(prefix="newswatch-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
# tests reach their own servers on 127.0.0.1
os.environ["NEWSWATCH_ALLOW_PRIVATE_ADDRESSES"] = "1"
os.environ.pop("NEWSWATCH_DB", None)
os.environ.pop("NEWSWATCH_CONFIG", None)

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPORA = Path(os.environ.get("NEWSWATCH_CORPORA", REPO.parent / "shared" / "corpora"))


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (temporary API server) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"test corpora not found at {CORPORA} (set NEWSWATCH_CORPORA)")
    return CORPORA
