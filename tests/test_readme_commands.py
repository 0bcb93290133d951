"""The generated README's commands and the printed next steps, run as written on fresh renders.

Where the other README commands are run:

* "Edit, build, test" (venv, ``pip install -e ".[dev]"``, ``pytest``): the same lines as the
  printed next steps, run here verbatim (full lane: pip fetches the dev tools), and with uv by
  ``tests/test_author_edit.py``;
* ``python -m build``: ``tests/support.build_wheel`` for every deploy test;
* the deploy commands (``PLUGIN_PACKAGE=... deploy/python_command/jobworkerp-client.sh``,
  ``manifest apply``, the MCP script, ``check-settings``, ``mcp --settings``):
  ``tests/test_real_server.py`` and ``tests/test_deploy_*.py`` on a real server;
* the native bridge's build: ``tests/test_native_bridge.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_support import MODE_PARAMS
from tests.support import render, render_cli

PACKAGE = "hello_world"


def blocks(readme: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", readme, re.DOTALL)


def project_python(project: Path, folder: Path) -> dict[str, str]:
    """An environment whose ``python`` is this one with the rendered package importable."""
    folder.mkdir()
    # A script, not a symlink: a symlinked virtual environment's Python loses its packages.
    shim = folder / "python"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', "utf-8")
    shim.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(project / "src"),
    }


@pytest.mark.parametrize("mode", MODE_PARAMS)
def test_the_cli_examples_run_as_written(tmp_path: Path, mode: str) -> None:
    # Without a `run` method the examples name the method: the first one.
    methods = "run" if mode == "both" else "summarize_text,step2"
    project = render(tmp_path / "out", streaming_mode=mode, methods=methods)
    readme = (project / "README.md").read_text("utf-8")
    (cli,) = [block for block in blocks(readme, "bash") if f"{PACKAGE} describe" in block]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", cli],
        cwd=project,
        env=project_python(project, tmp_path / "bin"),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, f"{cli}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert "smoke test passed" in done.stdout
    assert "settings accepted" in done.stdout
    assert "Sample Text" in done.stdout  # the derived args reached the jobs


def test_the_envelope_example_gives_the_documented_answer(tmp_path: Path) -> None:
    project = render(tmp_path / "out")
    readme = (project / "README.md").read_text("utf-8")
    example, answer = blocks(readme, "json")[:2]
    (tmp_path / "input.json").write_text(example, "utf-8")
    done = subprocess.run(
        ["python", str(project / "deploy" / "python_command" / "script.py"), "input.json"],
        cwd=tmp_path,
        env=project_python(project, tmp_path / "bin"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(answer)


@pytest.mark.full
def test_the_printed_next_steps_run_as_printed(tmp_path: Path) -> None:
    """The summary's commands, verbatim, in bash: a venv, the install (pip, from the index),
    the generated tests. The native bridge's cargo line is test_native_bridge.py's."""
    out = tmp_path / "out"
    out.mkdir()
    rendered = render_cli(out, {})
    assert rendered.returncode == 0, rendered.stderr
    steps = rendered.stdout.split("Next steps:\n", 1)[1]
    commands = [line[2:] for line in steps.splitlines() if line.startswith("  ")]
    assert commands[0].startswith("cd ") and commands[-1] == "python -m pytest"
    # `python` is the Python running the tests; nothing of this environment leaks in.
    env = project_python(out / "hello-world", tmp_path / "bin")
    del env["PYTHONPATH"]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=Path.cwd(),  # where cookiecutter ran: the printed `cd` is relative to it
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\d+ passed", done.stdout), done.stdout[-2000:]
