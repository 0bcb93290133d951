"""The post-generation hook when a tool is missing or a check fails.

A missing grpcio-tools keeps the project and prints the commands that finish the checks by
hand. A failed check (a proto protoc refuses, a runner that does not import, a hung smoke test,
a broken framework file) prints what failed and how to get the project anyway, exits non-zero,
and cookiecutter removes the folder. The unit tests call ``jwp_generator.finish.main`` on a
rendered project; the end-to-end tests run cookiecutter on a copy of the template with one
file broken, and from a virtual environment without grpcio-tools.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jwp_generator import finish
from jwp_generator.recovery import shown_path
from tests.support import TEMPLATE, Venv, render_cli

ANSWERS = {
    "plugin_name": "Hello World",
    "plugin_slug": "hello-world",
    "package_name": "hello_world",
    "runner_name": "HelloWorld",
    "methods": "run, summarize_text",
    "streaming_mode": "both",
    "python_min": "3.10",
}
PACKAGE_DIR = Path("src") / "hello_world"


def unchecked_project(tmp_path: Path) -> Path:
    """A rendered project whose checks have not run yet (the hook skipped them)."""
    result = render_cli(
        tmp_path,
        {key: ANSWERS[key] for key in ("plugin_name", "methods", "streaming_mode")},
        env={finish.SKIP_VARIABLE: "1"},
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "hello-world"


def assert_clear_failure(output: str, cause: str) -> None:
    """One ``error:`` line with the cause, then the way to finish by hand; no traceback."""
    assert "error: post-generation check failed: " in output
    assert cause in output
    assert "Traceback" not in output
    assert f"run cookiecutter again with {finish.SKIP_VARIABLE}=1" in output
    assert re.search(r"^  cd \S*hello-world$", output, re.MULTILINE)
    assert '  python -m pip install -e ".[dev]"' in output
    assert "  python -m hello_world smoke" in output


def test_checks_pass_on_an_intact_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = unchecked_project(tmp_path)
    assert finish.main(ANSWERS, project) == 0
    out = capsys.readouterr().out
    assert "smoke test passed: HelloWorld answers run (BOTH), summarize_text (BOTH)" in out
    assert (project / PACKAGE_DIR / "protos" / "summarize_text_result_pb2.py").is_file()


def test_the_summary_names_the_folder_from_where_cookiecutter_ran(tmp_path: Path) -> None:
    """The README's own render: run from the clone with ``--output-dir ..``."""
    clone = tmp_path / "clone"
    clone.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", "..", str(TEMPLATE)],
        cwd=clone,
        env={**os.environ, finish.SKIP_VARIABLE: "1"},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "hello-world").is_dir()
    assert result.stdout.startswith("Created ../hello-world: ")
    assert "\n  cd ../hello-world\n" in result.stdout


def test_a_path_is_relative_only_when_that_is_shorter() -> None:
    assert shown_path(Path("/srv/a/hello-world"), Path("/srv/a")) == "hello-world"
    assert shown_path(Path("/srv/hello-world"), Path("/srv/a")) == "../hello-world"
    assert shown_path(Path("/x/hello-world"), Path("/srv/a/b/c/d")) == "/x/hello-world"


def test_a_python_min_newer_than_this_python_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = unchecked_project(tmp_path)
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    newer = f"{sys.version_info.major}.{sys.version_info.minor + 1}"
    assert finish.main({**ANSWERS, "python_min": running}, project) == 0
    assert "warning: python_min" not in capsys.readouterr().out
    assert finish.main({**ANSWERS, "python_min": newer}, project) == 0
    out = capsys.readouterr().out
    assert f"warning: python_min is {newer} but this Python is {running}: " in out
    assert f"  python{newer} -m venv .venv" in out


def test_a_proto_protoc_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = unchecked_project(tmp_path)
    settings = project / PACKAGE_DIR / "protos" / "settings.proto"
    settings.write_text(settings.read_text("utf-8") + "\nmessage Broken {\n", "utf-8")
    assert finish.main(ANSWERS, project) == 1
    assert_clear_failure(capsys.readouterr().err, "protoc failed: ")


def test_a_runner_that_does_not_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = unchecked_project(tmp_path)
    runner = project / PACKAGE_DIR / "runner.py"
    runner.write_text(runner.read_text("utf-8") + "\nraise ImportError('no model here')\n")
    assert finish.main(ANSWERS, project) == 1
    err = capsys.readouterr().err
    assert_clear_failure(err, "the smoke test failed: ")
    assert "no model here" in err


def test_a_smoke_test_that_hangs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = unchecked_project(tmp_path)
    runner = project / PACKAGE_DIR / "runner.py"
    runner.write_text(runner.read_text("utf-8") + "\nimport time\n\ntime.sleep(60)\n")
    monkeypatch.setattr(finish, "SMOKE_TIMEOUT_SECONDS", 2)
    assert finish.main(ANSWERS, project) == 1
    assert_clear_failure(capsys.readouterr().err, "did not finish within 2 seconds")


def test_a_broken_framework_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = unchecked_project(tmp_path)
    (project / PACKAGE_DIR / "framework" / "devtools" / "protoc.py").unlink()
    assert finish.main(ANSWERS, project) == 1
    assert_clear_failure(capsys.readouterr().err, "FileNotFoundError: ")


def test_a_project_folder_that_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = unchecked_project(tmp_path)
    shutil.rmtree(project / PACKAGE_DIR / "protos")
    assert finish.main(ANSWERS, project) == 1
    assert_clear_failure(capsys.readouterr().err, "FileNotFoundError: ")


def test_missing_tools_keep_the_project(tmp_path: Path) -> None:
    """finish.main in a Python without grpcio-tools or protobuf: skipped, not failed."""
    project = unchecked_project(tmp_path / "out")
    bare = Venv(tmp_path / "bare")
    code = (
        "import sys; from pathlib import Path\n"
        f"sys.path.insert(0, {str(TEMPLATE)!r})\n"
        "from jwp_generator.finish import main\n"
        f"sys.exit(main({ANSWERS!r}, Path({str(project)!r})))\n"
    )
    result = subprocess.run(
        [str(bare.python), "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Checks skipped: grpcio-tools and protobuf not installed" in result.stdout
    assert '  python -m pip install -e ".[dev]"' in result.stdout
    assert (project / PACKAGE_DIR / "protos" / "summarize_text_args.proto").is_file()


# End to end: cookiecutter runs the hook. ---------------------------------------------------


def template_copy(tmp_path: Path) -> Path:
    """What cookiecutter reads of the template, copied so that one file can be broken."""
    copy = tmp_path / "template"
    copy.mkdir()
    shutil.copy2(TEMPLATE / "cookiecutter.json", copy)
    for folder in ("hooks", "jwp_generator", "templates", "{{cookiecutter.plugin_slug}}"):
        shutil.copytree(
            TEMPLATE / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return copy


def cookiecutter(python: Path | str, template: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "cookiecutter", "--no-input", "-o", str(out), str(template)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("broken", ["proto", "runner"])
def test_a_failed_check_leaves_no_folder(tmp_path: Path, broken: str) -> None:
    template = template_copy(tmp_path)
    package = template / "{{cookiecutter.plugin_slug}}" / "src" / "{{cookiecutter.package_name}}"
    if broken == "proto":
        path = package / "protos" / "settings.proto"
        path.write_text(path.read_text("utf-8").replace("string greeting = 1;", "strin greeting;"))
    else:
        path = package / "runner.py"
        path.write_text(path.read_text("utf-8") + "\nraise RuntimeError('broken on purpose')\n")
    out = tmp_path / "out"
    result = cookiecutter(sys.executable, template, out)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "error: post-generation check failed: " in output
    assert ("protoc failed" if broken == "proto" else "broken on purpose") in output
    # cookiecutter logs its own FailedHookException; none of the hook's code is in a traceback
    assert "jwp_generator" not in output
    assert f"{finish.SKIP_VARIABLE}=1" in output
    assert not out.exists() or list(out.iterdir()) == []


def test_without_grpcio_tools_the_project_is_kept(tmp_path: Path) -> None:
    venv = Venv(tmp_path / "venv")
    venv.install("cookiecutter")
    out = tmp_path / "out"
    result = cookiecutter(venv.python, TEMPLATE, out)
    assert result.returncode == 0, result.stderr
    assert "Checks skipped: grpcio-tools and protobuf not installed" in result.stdout
    assert "To run the checks by hand, follow the next steps" in result.stdout
    # One install command (into the project's environment), printed once.
    assert result.stdout.count('python -m pip install -e ".[dev]"') == 1
    assert ". .venv/bin/activate" in result.stdout
    assert "python -m hello_world smoke" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    protos = out / "hello-world" / PACKAGE_DIR / "protos"
    assert (protos / "run_args.proto").is_file()
    assert not list(protos.glob("*_pb2.py"))


@pytest.mark.full
def test_the_commands_printed_for_a_missing_tool_finish_the_job(tmp_path: Path) -> None:
    """Follow the printed commands in a fresh environment: they compile and smoke-test."""
    venv = Venv(tmp_path / "venv")
    venv.install("cookiecutter")
    out = tmp_path / "out"
    result = cookiecutter(venv.python, TEMPLATE, out)
    assert result.returncode == 0, result.stderr
    project = out / "hello-world"
    venv.install("-e", f"{project}[dev]")
    smoke = venv.run("-m", "hello_world", "smoke", cwd=project)
    assert "smoke test passed: HelloWorld" in smoke.stdout
