"""The generated CI workflow and pre-commit configuration.

The workflow (``.github/workflows/ci.yml``) is parsed as YAML and checked against the answers:
one test job per Python from ``python_min`` to 3.13, a job that builds, tests and lints the
native bridge, actions pinned to full commit SHAs, GitHub's ``${{ }}`` expressions left for
GitHub. The pre-commit configuration must run the same ruff and
mypy commands as the workflow's lint job, and it is run for real in a rendered project.
The full lane runs the workflow's own commands, job by job, in a fresh virtual environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import CHOICES, Venv, render, rendered_project, run, uv

SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
LINT_COMMANDS = [
    "python -m ruff check .",
    "python -m ruff format --check .",
    "python -m mypy",
]


def load_workflow(project: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    return data


def commands(job: dict[str, Any]) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("python_min", CHOICES["python_min"])
def test_workflow_matrix_follows_python_min(python_min: str) -> None:
    project = rendered_project(python_min=python_min)
    jobs = load_workflow(project)["jobs"]
    expected = SUPPORTED[SUPPORTED.index(python_min) :]
    assert jobs["test"]["strategy"]["matrix"]["python-version"] == expected
    setup = {
        name: next(
            s["with"] for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")
        )
        for name, job in jobs.items()
    }
    assert setup["test"]["python-version"] == "${{ matrix.python-version }}"
    # Lint as the oldest supported Python (mypy's python_version is python_min too); build on
    # the newest.
    assert setup["lint"]["python-version"] == python_min
    assert setup["build"]["python-version"] == "3.13"
    assert setup["native"]["python-version"] == "3.13"
    text = (project / "pyproject.toml").read_text("utf-8")
    assert f'requires-python = ">={python_min}"' in text


def test_workflow_installs_tests_lints_and_builds(tmp_path: Path) -> None:
    project = rendered_project(package_name="text_tools")
    workflow = load_workflow(project)
    # PyYAML reads the bare key ``on`` as the boolean true (YAML 1.1).
    assert set(workflow[True]) == {"push", "pull_request", "workflow_dispatch"}
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert commands(jobs["test"]) == ['python -m pip install -e ".[dev]"', "python -m pytest"]
    assert commands(jobs["lint"]) == ['python -m pip install -e ".[dev]"', *LINT_COMMANDS]
    build = commands(jobs["build"])
    assert build[0] == 'python -m pip install "build>=1.2,<2" && python -m build'
    assert "python -m text_tools smoke" in build[1]
    assert jobs["build"]["needs"] == ["test", "lint"]
    # The native bridge is built for a venv with the plugin (build.rs reads VIRTUAL_ENV), in
    # native/, then tested and linted.
    native = jobs["native"]
    assert native["defaults"]["run"]["working-directory"] == "native"
    install = commands(native)[1]
    assert "pip install -e .." in install and "VIRTUAL_ENV=" in install, install
    assert commands(native)[2:] == [
        "cargo build",
        "cargo test",
        "cargo clippy --all-targets -- -D warnings",
        "cargo fmt --check",
    ]


def test_actions_are_pinned_and_expressions_escaped() -> None:
    project = rendered_project()
    text = (project / ".github/workflows/ci.yml").read_text("utf-8")
    uses = [line.split("uses:", 1)[1].strip() for line in text.splitlines() if "uses:" in line]
    assert len(uses) == 9
    for action in uses:
        assert PINNED.match(action), action
    # Every GitHub expression survived rendering, and no template syntax is left over.
    assert "${{ matrix.python-version }}" in text
    assert "${{ github.workflow }}-${{ github.ref }}" in text
    assert "{%" not in text
    assert re.findall(r"(?<!\$)\{\{", text) == []


def test_pre_commit_runs_the_lint_jobs_commands() -> None:
    project = rendered_project()
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text("utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert [hook["id"] for hook in hooks] == ["ruff-check", "ruff-format", "mypy"]
    assert all(hook["language"] == "system" for hook in hooks)
    # pre-commit appends the changed files where the workflow names "."; mypy reads its own list.
    entries = [hook["entry"].replace(" --force-exclude", "") for hook in hooks]
    lint = commands(load_workflow(project)["jobs"]["lint"])[1:]
    assert entries == [command.removesuffix(" .") for command in lint]
    assert hooks[2]["pass_filenames"] is False


def pre_commit(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """``pre-commit run --all-files`` with this Python's ruff and mypy first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ["PATH"],
        "PRE_COMMIT_HOME": str(home),
    }
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def git_init(project: Path) -> None:
    run(["git", "init", "--quiet", "-b", "main"], cwd=project)
    run(["git", "add", "."], cwd=project)


# Full lane: the generated hooks run ruff and mypy, which test_quality runs in the default lane.
@pytest.mark.full
def test_pre_commit_passes_then_catches_a_lint_error(tmp_path: Path) -> None:
    project = render(tmp_path / "out")
    git_init(project)
    clean = pre_commit(project, tmp_path / "pre-commit-home")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for name in ("ruff check", "ruff format --check", "mypy --strict"):
        assert re.search(rf"^{re.escape(name)}\.+Passed$", clean.stdout, re.MULTILINE), clean.stdout

    runner = project / "src" / "hello_world" / "runner.py"
    runner.write_text("import os\n" + runner.read_text("utf-8"), "utf-8")
    run(["git", "add", "."], cwd=project)
    dirty = pre_commit(project, tmp_path / "pre-commit-home")
    assert dirty.returncode == 1
    assert re.search(r"^ruff check\.+Failed$", dirty.stdout, re.MULTILINE), dirty.stdout
    assert "F401" in dirty.stdout


@pytest.mark.full
def test_workflow_commands_pass_locally(tmp_path: Path) -> None:
    """Each job's ``run`` steps, in order, in a fresh environment of the running Python."""
    project = render(tmp_path / "out", python_min="3.10")
    jobs = load_workflow(project)["jobs"]
    for name in ("lint", "test", "build"):
        venv = Venv(tmp_path / f"venv-{name}")
        run([uv(), "pip", "install", "--quiet", "--python", venv.python, "pip"])
        env = {**os.environ, "PATH": str(venv.python.parent) + os.pathsep + os.environ["PATH"]}
        env.pop("PYTHONPATH", None)
        for command in commands(jobs[name]):
            # Each step of a job runs in a fresh shell from the checkout, as on GitHub.
            run(["bash", "-eo", "pipefail", "-c", command], cwd=project, env=env)
    assert any(path.suffix == ".whl" for path in (project / "dist").iterdir())
