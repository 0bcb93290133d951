"""Fixtures of the template's tests."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests import support
from tests.jobworkerp_server import JobWorkerP, available
from tests.support import Venv

# The session's real server, once started: its log goes into a failing test's report.
_server: JobWorkerP | None = None


@pytest.fixture(scope="session", autouse=True)
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every render of the session, in-process or not, uses a config in a temp folder.

    Without it cookiecutter writes each render's answers to ``~/.cookiecutter_replay/`` (and
    would clone into ``~/.cookiecutters/``), overwriting the user's own replay files.
    """
    config = support.write_cookiecutter_config(tmp_path_factory.mktemp("cookiecutter-config"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(support.CONFIG_VARIABLE, str(config))
        yield config


@pytest.fixture(scope="session", autouse=True)
def render_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.RenderCache]:
    """The session's shared renders (``support.rendered_project``)."""
    cache = support.RenderCache(tmp_path_factory.mktemp("renders"))
    support.RENDERS.append(cache)
    yield cache
    support.RENDERS.remove(cache)


@pytest.fixture(scope="session", autouse=True)
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One mypy cache for every mypy run of the session (``MYPY_CACHE_DIR``).

    Most of a cold mypy run on a rendered plugin is the standard library's and protobuf's stubs;
    they are the same for every project. mypy keeps one subfolder per target Python and
    re-checks a module whose source changed, so sharing the cache changes no result.
    """
    folder = tmp_path_factory.mktemp("mypy-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MYPY_CACHE_DIR", str(folder))
        yield folder


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


# The files that build Rust crates or start the real server, longest first. With
# pytest-xdist (``-n``, ``--dist loadfile``), each test file is one unit of work kept on one
# worker, so a file's session renders and its server are made once; these units are handed out
# first, while the other worker works through the short files.
LONG_FILES = (
    "test_native_bridge.py",
    "test_rust_flavor.py",
    "test_real_server.py",
    "test_rust_real_server.py",
    "test_rust_author_edit.py",
    "test_bridge_faults.py",
    "test_bridge_soak.py",
    "test_rust_feed.py",
    "test_native_feed.py",
    "test_json_schema_parity.py",
    "test_offline_lock.py",
    "test_method_table.py",
    "test_update.py",
    "test_stream_errors.py",
    "test_author_edit.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the long files first (a stable sort: every file's own order is kept)."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)
