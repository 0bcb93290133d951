"""Fixtures of the template's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Venv


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    """A fresh, empty virtual environment."""
    return Venv(tmp_path / "venv")
