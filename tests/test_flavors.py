"""The ``language`` question: each flavor renders its own files and nothing of the other's.

These renders skip the post-generation checks: the Rust crate's build and tests are
``tests/test_rust_flavor.py``'s, the Python project's are the other files'.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from jwp_generator.flavors import FLAVOR_FOLDERS
from tests.support import SKIP_VARIABLE, TEMPLATE, render_cli
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


# Rust sources that land in more than one place: one file of the template's templates/ folder
# each, and the places in the project folder (both flavors') that insert it.
SHARED = TEMPLATE / "templates"
PROJECT_FOLDER = TEMPLATE / "{{cookiecutter.plugin_slug}}"
SHARED_RUST = {
    "rust/schema.rs": {"python": ["native/src/schema.rs"], "rust": ["src/framework/schema.rs"]},
    "rust/v2_host.rs": {
        "python": ["native/tests/support/v2_host.rs"],
        "rust": ["tests/support/v2_host.rs"],
    },
}
# The library installer and the offline lock: one Jinja template each, which both flavors'
# scripts include after setting the names that differ (the folder of the crate, the build command).
SHARED_SHELL = {
    "shell/install-library.sh": [
        "native/install.sh",
        "deploy/{% if cookiecutter is rust %}install-plugin.sh{% endif %}",
    ],
    "shell/lock-offline.sh": [
        "native/lock-offline.sh",
        "deploy/{% if cookiecutter is rust %}lock-offline.sh{% endif %}",
    ],
}
STRUCT = re.compile(r"^\s*(?:pub(?:\([a-z]+\))? )?struct (\w+)\b", re.MULTILINE)


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


def test_each_shared_rust_source_lands_as_it_is_in_both_flavors(tmp_path: Path) -> None:
    projects = {language: rendered(tmp_path, language) for language in ("python", "rust")}
    for name, places in SHARED_RUST.items():
        source = (SHARED / name).read_bytes()
        for language, paths in places.items():
            for path in paths:
                assert (projects[language] / path).read_bytes() == source, f"{language}: {path}"
    # The bridge's test compares with the crate's own messages, not a copy.
    bridge_test = (projects["python"] / "native" / "tests" / "bridge.rs").read_text("utf-8")
    assert '#[path = "../src/schema.rs"]\nmod schema;\n' in bridge_test


def test_the_template_holds_one_definition_of_each_shared_rust_source() -> None:
    template_files = [
        path
        for folder in (PROJECT_FOLDER, SHARED)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]
    # Each place is a one-line template that includes its source: by the name copier's loader
    # gives it (rooted at the repository), else cookiecutter's (templates/ is one of its roots).
    including = {
        path.relative_to(PROJECT_FOLDER).as_posix(): path.read_text("utf-8")
        for path in template_files
        if path.is_relative_to(PROJECT_FOLDER) and "templates/" in path.read_text("utf-8")
    }
    expected = {
        place: f'{{% include ["templates/{name}", "{name}"] -%}}\n'
        for name, places in SHARED_RUST.items()
        for paths in places.values()
        for place in paths
    }
    shell_places = {place for places in SHARED_SHELL.values() for place in places}
    assert {place: text for place, text in including.items() if place not in shell_places} == (
        expected
    )
    for name, places in SHARED_SHELL.items():
        for place in places:
            last = including[place].splitlines()[-1]
            assert last == f'{{%- include ["templates/{name}", "{name}"] -%}}', place
    # The shared folder holds only the shared sources.
    assert sorted(p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*.rs")) == sorted(
        SHARED_RUST
    )
    # They are included, so rendered: a Jinja tag in one would change what lands.
    for name in SHARED_RUST:
        text = (SHARED / name).read_text("utf-8")
        assert not any(tag in text for tag in ("{{", "{%", "{#")), f"{name} holds Jinja"
    # Nothing else defines the structs of a shared source. src/framework/host.rs, the crate's in-process host, has a
    # `Streamed` of its own (the V2 test host's drives a library through the vtable instead).
    rust_files = [path for path in template_files if path.suffix == ".rs" or ".rs{%" in path.name]
    elsewhere = {"Streamed": {PROJECT_FOLDER / "src" / "framework" / "host.rs"}}
    for name in SHARED_RUST:
        structs = set(STRUCT.findall((SHARED / name).read_text("utf-8")))
        assert structs, f"{name} defines no struct"
        for path in rust_files:
            again = {
                struct
                for struct in structs & set(STRUCT.findall(path.read_text("utf-8")))
                if path != SHARED / name and path not in elsewhere.get(struct, set())
            }
            assert not again, f"{path.relative_to(TEMPLATE)} defines {sorted(again)} again"
    assert not [path for path in template_files if path.is_symlink() and path.suffix == ".rs"]
