"""Both CI workflows pass actionlint: the template's own and the one every plugin gets.

actionlint is a Go program: the test builds the pinned release with ``go install`` into
``.cache/`` (git-ignored; built once, reused by later sessions) and skips only when Go is not
installed. The rendered workflow is checked for the oldest and the newest ``python_min``, whose
test matrices differ.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import TEMPLATE, rendered_project, run

ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint"
VERSION = "v1.7.12"
BUILD_SECONDS = 600


@pytest.fixture(scope="session")
def actionlint() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: actionlint is built with go install")
    bin_dir = TEMPLATE / ".cache" / "actionlint" / VERSION
    binary = bin_dir / "actionlint"
    if not binary.is_file():
        env = {**os.environ, "GOBIN": str(bin_dir)}
        try:
            run([go, "install", f"{ACTIONLINT}@{VERSION}"], env=env, timeout=BUILD_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"go install {ACTIONLINT}@{VERSION} took over {BUILD_SECONDS} s")
    return binary


def lint(actionlint: Path, workflow: Path) -> None:
    result = subprocess.run(
        [str(actionlint), "-no-color", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
        cwd=workflow.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_template_workflow_passes_actionlint(actionlint: Path) -> None:
    workflow = TEMPLATE / ".github" / "workflows" / "ci.yml"
    assert "run: bash .ci/run" in workflow.read_text("utf-8")
    lint(actionlint, workflow)


@pytest.mark.parametrize("python_min", ["3.10", "3.13"])
def test_the_generated_workflow_passes_actionlint(actionlint: Path, python_min: str) -> None:
    project = rendered_project(python_min=python_min)
    lint(actionlint, project / ".github" / "workflows" / "ci.yml")


def test_actionlint_finds_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    """The check is real: an unknown runner label and a bad expression are reported."""
    broken = tmp_path / "ci.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latst\n"
        "    steps:\n      - run: echo ${{ matrix.nothing }}\n",
        "utf-8",
    )
    result = subprocess.run(
        [str(actionlint), "-no-color", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "matrix" in result.stdout
