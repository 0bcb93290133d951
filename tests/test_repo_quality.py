"""The template's own code is clean: ruff and mypy --strict at the repository root.

The folders are those of pyproject.toml (``jwp_generator``, ``hooks``, ``tests``,
``benchmarks``); the template folder is the generated plugin's, checked on renders by
tests/test_quality.py.
"""

from __future__ import annotations

import sys

import pytest

from tests.support import TEMPLATE, run

FOLDERS = ["jwp_generator", "hooks", "tests", "benchmarks"]


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "--no-cache"], ["ruff", "format", "--check", "--no-cache"]],
    ids=" ".join,
)
def test_ruff(command: list[str]) -> None:
    run([sys.executable, "-m", *command, *FOLDERS], cwd=TEMPLATE)


def test_mypy_strict() -> None:
    """mypy reads its file list and strictness from pyproject.toml.

    Its cache is kept between sessions in ``.cache/`` (git-ignored): a cold run takes about 15 s,
    a warm one re-checks only the files that changed, with the same result.
    """
    cache = TEMPLATE / ".cache" / "mypy-repo"
    result = run([sys.executable, "-m", "mypy", "--cache-dir", cache], cwd=TEMPLATE)
    assert "Success: no issues found" in result.stdout
