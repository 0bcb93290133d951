"""Render, build and test generated plugins the way a user would.

For each rendered project: the hooks pass; the wheel builds in an isolated environment and holds
the compiled ``_pb2`` modules and the ``.proto`` sources; installed in a fresh virtual
environment, the project's own tests pass and the plugin is found through its entry point.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import CHOICES, TEMPLATE, Venv, build_wheel, render, render_cli, rendered_project

RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

# One case per streaming mode, every license, and method lists with one method, several, a
# snake_case name, names with digits, and no ``run`` method at all.
COVERING = [
    {},
    {
        "streaming_mode": "non_streaming",
        "methods": "run,summarize_text",
        "license": "Apache-2.0",
        "plugin_name": "Text Tools",
    },
    {
        "streaming_mode": "streaming",
        "methods": "summarize_text",
        "license": "BSD-3-Clause",
        "runner_name": "Summarizer",
    },
    {"streaming_mode": "both", "methods": "step9, step10, run", "license": "Proprietary"},
]
METHOD_LISTS = ["run", "run,summarize_text", "summarize_text", "step9,step10"]


def all_combinations() -> list[dict[str, str]]:
    """Every choice of every choice variable, each with one of the method lists in turn.

    Python plugins only: the Rust flavor's combinations are tests/test_rust_flavor.py's.
    """
    keys = sorted(key for key in CHOICES if key != "language")
    combos = itertools.product(*(CHOICES[key] for key in keys))
    method_lists = itertools.cycle(METHOD_LISTS)
    return [dict(zip(keys, values, strict=True), methods=next(method_lists)) for values in combos]


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def check_project(tmp_path: Path, answers: dict[str, str]) -> None:
    project = render(tmp_path / "out", **answers)
    package = next(path.name for path in (project / "src").iterdir() if path.is_dir())
    methods = [name.strip() for name in answers.get("methods", "run").split(",")]

    wheel = build_wheel(project, tmp_path / "dist")
    names = wheel_names(wheel)
    for stem in ["settings", *(f"{m}_{role}" for m in methods for role in ("args", "result"))]:
        assert f"{package}/protos/{stem}.proto" in names
        assert f"{package}/protos/{stem}_pb2.py" in names
        assert f"{package}/protos/{stem}_pb2.pyi" in names

    python_min = answers.get("python_min", "3.10")
    if tuple(map(int, python_min.split("."))) > sys.version_info[:2]:
        # The wheel says it needs a newer Python than the one running the tests.
        return
    venv = Venv(tmp_path / "venv")
    venv.install(f"{wheel}[dev]")
    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert " passed" in tests.stdout and " failed" not in tests.stdout
    found = venv.run(
        "-c",
        "from importlib.metadata import entry_points as e; "
        "print(*[p.value for p in e(group='jobworkerp.plugins')])",
    )
    assert found.stdout.split() == [f"{package}:load_multi_method_plugin"]


def test_default_render_through_the_command_line(tmp_path: Path) -> None:
    result = render_cli(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert "smoke test passed: HelloWorld answers run (BOTH)" in result.stdout
    assert "Next steps:" in result.stdout
    project = tmp_path / "hello-world"
    assert (project / "src" / "hello_world" / "protos" / "run_args.proto").is_file()
    assert (project / "src" / "hello_world" / "protos" / "run_args_pb2.py").is_file()
    assert (project / "LICENSE").read_text("utf-8").startswith("MIT License")


def test_skip_variable_renders_without_compiling(tmp_path: Path) -> None:
    result = render_cli(tmp_path, {}, env={"JWP_TEMPLATE_SKIP_CHECKS": "1"})
    assert result.returncode == 0, result.stderr
    assert "Checks skipped" in result.stdout
    protos = tmp_path / "hello-world" / "src" / "hello_world" / "protos"
    assert (protos / "run_result.proto").is_file()
    assert not list(protos.glob("*_pb2.py"))


def test_proprietary_license_writes_no_license_file() -> None:
    project = rendered_project(license="Proprietary")
    assert not (project / "LICENSE").exists()
    assert 'license = "LicenseRef-Proprietary"' in (project / "pyproject.toml").read_text()


# The defaults and the "both" case in the default lane; the single-mode cases in the full lane.
COVERING_LANES = [
    answers
    if answers.get("streaming_mode", "both") == "both"
    else pytest.param(answers, marks=pytest.mark.full)
    for answers in COVERING
]


@pytest.mark.parametrize(
    "answers", COVERING_LANES, ids=lambda a: a.get("streaming_mode", "defaults")
)
def test_covering_set_builds_installs_and_passes_its_tests(
    tmp_path: Path, answers: dict[str, str]
) -> None:
    check_project(tmp_path, answers)


@pytest.mark.full
@pytest.mark.parametrize(
    "answers", all_combinations(), ids=lambda a: "-".join(a[k] for k in sorted(a))
)
def test_every_combination_builds_installs_and_passes_its_tests(
    tmp_path: Path, answers: dict[str, str]
) -> None:
    check_project(tmp_path, answers)


def test_files_copied_without_rendering_hold_no_jinja() -> None:
    """cookiecutter copies these verbatim (faster renders); copier still renders every file, so
    a Jinja tag in one of them would make the two tools write different projects."""
    globs = json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8"))["_copy_without_render"]
    # Cookiecutter matches the paths inside the project folder.
    folder = TEMPLATE / "{{cookiecutter.plugin_slug}}"
    files = [
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    for pattern in globs:
        matched = [name for name in files if fnmatch.fnmatch(name, pattern)]
        assert matched, f"{pattern} matches no file of the template"
        for name in matched:
            text = (folder / name).read_text("utf-8")
            assert not any(tag in text for tag in ("{{", "{%", "{#")), f"{name} holds Jinja"
