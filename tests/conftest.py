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


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    """A fresh, empty virtual environment."""
    return Venv(tmp_path / "venv")
