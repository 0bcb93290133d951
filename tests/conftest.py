"""Fixtures of the template's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import support
from tests.support import Venv


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
