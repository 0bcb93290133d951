"""The update path: cruft and cookiecutter's replay, on a throwaway git copy of the template.

* ``cruft create`` renders the same files as ``cookiecutter`` (hooks included on both sides);
* a project records its answers: ``.cruft.json`` (cruft's) and ``.cookiecutter.json`` (a replay
  file), and ``cookiecutter --replay`` / ``--replay-file`` render the same project again;
* a project made from an older template commit takes the newer one with ``cruft update``: the
  template's changes arrive, the user's edits stay, no conflict and no rejected hunk;
* the post-generation step can run again and changes nothing; an update whose new render
  fails leaves the project as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jwp_generator.finish import main as finish
from tests.support import render, run
from tests.tree_support import GIT_IDENTITY, commit, differences, git, template_repo, tree

ANSWERS = {
    "plugin_name": "Text Tools",
    "methods": "run,summarize_text",
    "streaming_mode": "streaming",
    "license": "Apache-2.0",
    "python_min": "3.11",
}
PROJECT = "text-tools"
FRAMEWORK = (
    "{{cookiecutter.plugin_slug}}/src/{{cookiecutter.package_name}}/framework/runtime/contract.py"
)
RUNNER = "{{cookiecutter.plugin_slug}}/src/{{cookiecutter.package_name}}/runner.py"
SETTINGS = "{{cookiecutter.plugin_slug}}/src/{{cookiecutter.package_name}}/protos/settings.proto"


@pytest.fixture(autouse=True)
def isolated_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Git identity for cruft's commits; cookiecutter's replay folder inside the test."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {json.dumps(str(tmp_path / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(tmp_path / 'cookiecutters'))}\n",
        "utf-8",
    )
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return template_repo(tmp_path / "template")


def tool(name: str, *arguments: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cruft`` or ``python -m cookiecutter`` as a user would; never raises."""
    return subprocess.run(
        [sys.executable, "-m", name, *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def cookiecutter(repo: Path, output: Path, *options: str | Path) -> Path:
    """Render with the ``cookiecutter`` command; returns the project folder."""
    answers = [f"{key}={value}" for key, value in ANSWERS.items()]
    rendered = tool("cookiecutter", *options, "-o", output, repo, *answers, cwd=output.parent)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    return output / PROJECT


def cruft_create(repo: Path, output: Path, answers: dict[str, str] = ANSWERS) -> Path:
    created = tool(
        "cruft",
        "create",
        "--no-input",
        "--output-dir",
        output,
        "--extra-context",
        json.dumps(answers),
        repo,
        cwd=output.parent,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    return output / PROJECT


def cruft_project(repo: Path, tmp_path: Path) -> Path:
    """A project made with ``cruft create`` and committed to its own git repository."""
    (tmp_path / "projects").mkdir()
    project = cruft_create(repo, tmp_path / "projects")
    git(project, "init", "--quiet", "-b", "main")
    commit(project, "Project from the template")
    return project


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert text.count(old) == 1, f"{old!r} in {path}"
    path.write_text(text.replace(old, new), "utf-8")


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text("utf-8") + text, "utf-8")


def test_cruft_create_renders_what_cookiecutter_renders(repo: Path, tmp_path: Path) -> None:
    expected = cookiecutter(repo, tmp_path / "cookiecutter", "--no-input")
    (tmp_path / "cruft").mkdir()
    project = cruft_create(repo, tmp_path / "cruft")
    # Both ran the hooks: per-method protos and compiled modules are in the comparison too.
    assert (project / "src/text_tools/protos/summarize_text_result_pb2.pyi").is_file()
    assert differences(tree(expected), tree(project, leave_out={".cruft.json"})) == []

    state = json.loads((project / ".cruft.json").read_text("utf-8"))
    assert state["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert {key: state["context"]["cookiecutter"][key] for key in ANSWERS} == ANSWERS


def test_the_project_records_its_answers_for_replay(repo: Path, tmp_path: Path) -> None:
    first = cookiecutter(repo, tmp_path / "first", "--no-input")
    recorded = json.loads((first / ".cookiecutter.json").read_text("utf-8"))["cookiecutter"]
    assert {key: recorded[key] for key in ANSWERS} == ANSWERS
    assert not [key for key in recorded if key.startswith("_")]  # no machine paths in it

    again = tool(
        "cookiecutter",
        "--replay-file",
        first / ".cookiecutter.json",
        "-o",
        tmp_path / "again",
        repo,
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert differences(tree(first), tree(tmp_path / "again" / PROJECT)) == []


def test_cookiecutter_replay_renders_the_same_project(repo: Path, tmp_path: Path) -> None:
    first = cookiecutter(repo, tmp_path / "first", "--no-input")
    # Cookiecutter wrote its replay file (named after the template's folder) in replay_dir.
    assert (tmp_path / "replay" / f"{repo.name}.json").is_file()
    again = tool("cookiecutter", "--replay", "-o", tmp_path / "again", repo, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert differences(tree(first), tree(tmp_path / "again" / PROJECT)) == []


def test_cruft_update_brings_template_changes_and_keeps_user_edits(
    repo: Path, tmp_path: Path
) -> None:
    project = cruft_project(repo, tmp_path)
    assert tool("cruft", "check", cwd=project).returncode == 0

    # The user edits their runner and commits.
    runner = project / "src/text_tools/runner.py"
    edit(
        runner,
        '    "A JobWorkerP runner plugin written in Python.",\n',
        '    "Tools for text.",\n',
    )
    commit(project, "Describe the plugin")

    # The template moves on: a framework file, the user's runner (far from the user's edit) and
    # the settings proto, whose compiled modules change too.
    append(repo / FRAMEWORK, "\n# A line the new template adds to the framework.\n")
    append(repo / RUNNER, "\n\n# A line the new template adds to the runner.\n")
    append(repo / SETTINGS, "\nmessage AddedByTheNewTemplate {\n  string note = 1;\n}\n")
    new = commit(repo, "new")
    assert tool("cruft", "check", cwd=project).returncode == 1

    updated = tool("cruft", "update", "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    # The three-way merge applied as a whole: cruft did not fall back to rejected hunks.
    assert "Failed to apply the update" not in updated.stdout + updated.stderr
    assert not list(project.rglob("*.rej"))
    changed = git(project, "status", "--porcelain").splitlines()
    assert sorted(line[3:] for line in changed) == [
        ".cruft.json",
        "src/text_tools/framework/runtime/contract.py",
        "src/text_tools/protos/settings.proto",
        "src/text_tools/runner.py",
    ]
    assert not any("<<<<<<<" in text.decode("utf-8", "replace") for text in tree(project).values())

    text = runner.read_text("utf-8")
    assert '    "Tools for text.",\n' in text
    assert text.endswith("# A line the new template adds to the runner.\n")
    assert (
        "adds to the framework"
        in (project / "src/text_tools/framework/runtime/contract.py").read_text()
    )
    assert "AddedByTheNewTemplate" in (project / "src/text_tools/protos/settings.proto").read_text()
    assert json.loads((project / ".cruft.json").read_text("utf-8"))["commit"] == new
    commit(project, "Template update")
    assert tool("cruft", "check", cwd=project).returncode == 0

    # The updated project compiles its protos and passes its smoke test.
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    compile_code = "from pathlib import Path; from text_tools.framework.devtools.protoc import compile_package as c; c(Path('src'), 'text_tools')"
    run([sys.executable, "-c", compile_code], cwd=project, env=env)
    run([sys.executable, "-m", "text_tools", "smoke"], cwd=project, env=env)


RUST_ANSWERS = {**ANSWERS, "language": "rust"}
RUST_RUNNER = "{{cookiecutter.plugin_slug}}/src/{% if cookiecutter is rust %}runner.rs{% endif %}"
RUST_MANIFEST = "{{cookiecutter.plugin_slug}}/{% if cookiecutter is rust %}Cargo.toml{% endif %}"
NEW_RUNNER_LINE = "//! A line the new template adds to the runner."


def test_cruft_update_of_a_rust_plugin_keeps_user_edits(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Rust flavor's update path: no Python file appears, the user's runner edit stays."""
    # cruft runs the hooks on every render; the crate's build is test_rust_flavor.py's.
    monkeypatch.setenv("JWP_TEMPLATE_SKIP_CHECKS", "1")
    (tmp_path / "projects").mkdir()
    project = cruft_create(repo, tmp_path / "projects", RUST_ANSWERS)
    git(project, "init", "--quiet", "-b", "main")
    commit(project, "Project from the template")
    framework = sorted((project / "src" / "framework").glob("*.rs"))[0].name
    runner = project / "src/runner.rs"
    append(runner, "\n// The user's note.\n")
    commit(project, "User edit")

    template_runner = repo / RUST_RUNNER
    docs = template_runner.read_text("utf-8").replace(
        "//! It holds three things", f"{NEW_RUNNER_LINE}\n//! It holds three things", 1
    )
    template_runner.write_text(docs, "utf-8")
    append(repo / f"{{{{cookiecutter.plugin_slug}}}}/src/framework/{framework}", "// New.\n")
    append(repo / RUST_MANIFEST, "\n# A line the new template adds to the manifest.\n")
    # A source shared with the bridge reaches the place that includes it.
    append(repo / "templates/rust/schema.rs", "// New in the shared source.\n")
    commit(repo, "new")

    updated = tool("cruft", "update", "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert not list(project.rglob("*.rej"))
    changed = sorted(line[3:] for line in git(project, "status", "--porcelain").splitlines())
    assert changed == sorted(
        [
            ".cruft.json",
            "Cargo.toml",
            f"src/framework/{framework}",
            "src/framework/schema.rs",
            "src/runner.rs",
        ]
    )
    schema = (project / "src/framework/schema.rs").read_text("utf-8")
    assert schema == (repo / "templates/rust/schema.rs").read_text("utf-8")
    text = runner.read_text("utf-8")
    assert f"{NEW_RUNNER_LINE}\n//! It holds three things" in text
    assert text.endswith("// The user's note.\n")
    assert not (project / "pyproject.toml").exists() and not (project / "src/text_tools").exists()


def test_update_whose_new_render_fails_leaves_the_project_alone(repo: Path, tmp_path: Path) -> None:
    project = cruft_project(repo, tmp_path)
    before = tree(project)
    # The new template's settings proto does not compile: its post-generation step fails.
    append(repo / SETTINGS, "\nthis is not protobuf\n")
    commit(repo, "broken")

    updated = tool("cruft", "update", "--skip-apply-ask", cwd=project)
    assert updated.returncode != 0
    assert "post-generation check failed" in updated.stderr
    assert differences(before, tree(project)) == []
    assert git(project, "status", "--porcelain") == ""


def test_post_generation_step_runs_again_without_changing_anything(tmp_path: Path) -> None:
    project = render(tmp_path, **ANSWERS)
    answers = json.loads((project / ".cookiecutter.json").read_text("utf-8"))["cookiecutter"]
    before = tree(project)
    assert finish(answers, project) == 0
    assert differences(before, tree(project)) == []

    # Per-method protos are the user's once they exist: running the step again keeps them.
    args_proto = project / "src/text_tools/protos/summarize_text_args.proto"
    append(args_proto, "\nmessage UsersOwn {\n  string text = 1;\n}\n")
    users = args_proto.read_bytes()
    assert finish(answers, project) == 0
    assert args_proto.read_bytes() == users
    assert (
        b"UsersOwn" in (project / "src/text_tools/protos/summarize_text_args_pb2.py").read_bytes()
    )
