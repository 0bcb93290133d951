"""Fixtures of the template's tests."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.jobworkerp_server import JobWorkerP, available
from tests.support import Venv

# The session's real server, once started: its log goes into a failing test's report.
_server: JobWorkerP | None = None


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    """A fresh, empty virtual environment."""
    return Venv(tmp_path / "venv")


@pytest.fixture(scope="session")
def jobworkerp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobWorkerP]:
    """One real JobWorkerP server for the session, always stopped at the end.

    Skipped when ``../shared/jobworkerp`` is missing, except in CI (``CI=true``), where the
    real-server lane must run.
    """
    global _server
    missing = available()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI=true: the real-server lane must run)")
        pytest.skip(missing)
    server = JobWorkerP(tmp_path_factory.mktemp("jobworkerp"))
    _server = server
    try:
        yield server
    finally:
        _server = None
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test that used the real server gets the tail of the server's log."""
    report = yield
    fixtures = getattr(item, "fixturenames", ())
    if report.failed and _server is not None and "jobworkerp" in fixtures:
        report.sections.append(("JobWorkerP server log (tail)", _server.log_tail()))
    return report
