"""The ``language`` question: each flavor renders its own files and nothing of the other's.

These renders skip the post-generation checks: the Rust crate's build and tests are
``tests/test_rust_flavor.py``'s, the Python project's are the other files'.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jwp_generator.flavors import FLAVOR_FOLDERS
from tests.support import SKIP_VARIABLE, render_cli
from tests.tree_support import GIT_IDENTITY, differences, template_repo, tree

ANSWERS = {"methods": "run, count_words", "package_name": "text_kit", "plugin_slug": "text-kit"}
SKIP = {SKIP_VARIABLE: "1"}
# Paths only the Python flavor has (besides its folders), and only the Rust flavor has.
PYTHON_FILES = {"pyproject.toml", "hatch_build.py", ".pre-commit-config.yaml", "tests/conftest.py"}
RUST_FILES = {
    "Cargo.toml",
    "src/framework/build.rs",
    "src/lib.rs",
    "src/runner.rs",
    "tests/plugin.rs",
    "tests/library.rs",
    "src/framework/contract.rs",
}


def rendered(tmp_path: Path, language: str, **answers: str) -> Path:
    result = render_cli(tmp_path / language, {**ANSWERS, **answers, "language": language}, SKIP)
    assert result.returncode == 0, result.stderr
    (project,) = (tmp_path / language).iterdir()
    return project


def folders(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_dir()}


def test_the_rust_flavor_has_none_of_the_python_flavor_s_files(tmp_path: Path) -> None:
    project = rendered(tmp_path, "rust")
    python_folders = {folder.format(package_name="text_kit") for folder in FLAVOR_FOLDERS["python"]}
    assert not python_folders & folders(project)
    assert not {path for path in PYTHON_FILES if (project / path).exists()}
    assert (project / "protos" / "settings.proto").is_file()
    assert not (project / "protos" / "settings.proto").is_symlink()


def test_the_python_flavor_has_none_of_the_rust_flavor_s_files(tmp_path: Path) -> None:
    project = rendered(tmp_path, "python")
    assert not set(FLAVOR_FOLDERS["rust"]) & folders(project)
    assert not {path for path in RUST_FILES if (project / path).exists()}
    assert (project / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    ("streaming_mode", "feed_methods"),
    [("both", ""), ("non_streaming", ""), ("streaming", "count_words")],
)
def test_both_flavors_write_the_same_proto_files(
    tmp_path: Path, streaming_mode: str, feed_methods: str
) -> None:
    answers = {"streaming_mode": streaming_mode, "feed_methods": feed_methods}
    python = rendered(tmp_path, "python", **answers)
    rust = rendered(tmp_path, "rust", **answers)
    python_protos = tree(python / "src" / "text_kit" / "protos")
    python_protos = {name: text for name, text in python_protos.items() if name.endswith(".proto")}
    feed_files = [f"{name}_feed.proto" for name in [feed_methods] if name]
    assert sorted(python_protos) == sorted(
        [
            "count_words_args.proto",
            "count_words_result.proto",
            *feed_files,
            "run_args.proto",
            "run_result.proto",
            "settings.proto",
        ]
    )
    for name in feed_files:
        assert b"message CountWordsFeed {" in python_protos[name]
    assert differences(python_protos, tree(rust / "protos")) == []


def test_the_rust_default_description_names_rust(tmp_path: Path) -> None:
    project = rendered(tmp_path, "rust")
    recorded = (project / ".cookiecutter.json").read_text("utf-8")
    assert '"description": "A JobWorkerP runner plugin written in Rust."' in recorded


@pytest.mark.parametrize(
    ("answers", "variable", "code"),
    [
        ({"plugin_slug": "fn"}, "plugin_slug", "rust-keyword"),
        ({"package_name": "tokio"}, "package_name", "rust-reserved"),
        ({"package_name": "core"}, "package_name", "rust-reserved"),
        ({"methods": "run, impl"}, "methods", "rust-keyword"),
        ({"methods": "gen"}, "methods", "rust-keyword"),
    ],
)
def test_rust_names_are_refused_before_any_folder_exists(
    tmp_path: Path, answers: dict[str, str], variable: str, code: str
) -> None:
    out = tmp_path / "out"
    result = render_cli(out, {**ANSWERS, **answers, "language": "rust"}, SKIP)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"{variable} = {answers[variable]!r}: " in output
    assert f"[{code}]. Valid example: {variable}=" in output
    assert "Nothing was generated." in output
    assert not out.exists() or not any(out.iterdir())
    # The same names are fine for a Python plugin.
    python = render_cli(tmp_path / "python", {**ANSWERS, **answers}, SKIP)
    assert python.returncode == 0, python.stderr


def test_without_cargo_the_rust_project_is_kept_and_the_summary_says_what_to_run(
    tmp_path: Path,
) -> None:
    # The real command, run with a PATH that has Python and git but no cargo.
    path = os.pathsep.join(
        folder
        for folder in os.environ["PATH"].split(os.pathsep)
        if not Path(folder, "cargo").exists()
    )
    result = render_cli(tmp_path, {**ANSWERS, "language": "rust"}, {"PATH": path})
    assert result.returncode == 0, result.stderr
    assert "Checks skipped: cargo not found" in result.stdout
    # One build command, in the checks to run by hand and in the next steps alike.
    assert result.stdout.count("cargo build --release && cargo test") == 2
    assert "cargo build && cargo test" not in result.stdout
    assert (tmp_path / "text-kit" / "protos" / "run_args.proto").is_file()


def test_copier_renders_the_rust_flavor_as_cookiecutter_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_copier import COPIER_RECORD, copier_copy

    for key, value in {**GIT_IDENTITY, **SKIP}.items():
        monkeypatch.setenv(key, value)
    repo = template_repo(tmp_path / "template")
    expected = rendered(tmp_path, "rust")
    (tmp_path / "copier").mkdir()
    copied = copier_copy(repo, tmp_path / "copier" / expected.name, {**ANSWERS, "language": "rust"})
    assert copied.returncode == 0, copied.stderr
    project = tmp_path / "copier" / expected.name
    assert differences(tree(expected), tree(project, leave_out={COPIER_RECORD})) == []


@pytest.mark.parametrize(
    ("methods", "line"),
    [
        ("run, count_words", "A job without a method runs `run`."),
        ("summarize", "A job without a method runs `summarize`."),
        ("count_words, summarize", "A job without a method is refused: name one with `using`."),
    ],
)
def test_the_rust_readme_names_the_method_a_job_without_one_gets(
    tmp_path: Path, methods: str, line: str
) -> None:
    """The rule of ``jwp_generator.naming.default_method``, which the framework applies."""
    readme = (rendered(tmp_path, "rust", methods=methods) / "README.md").read_text("utf-8")
    assert line in readme.splitlines()
