"""Copier renders the same projects as cookiecutter, from the same template.

``copier.yml`` is generated from ``cookiecutter.json`` (``jwp_generator/copier_questions.py``)
and must ask what it asks (names, order, defaults, choices, prompts; ``python_min`` only of a
Python plugin), and ``copier copy`` must write the same bytes as ``cookiecutter`` for the same
answers. Both run their post-generation step (cookiecutter's hooks, copier's task), so the
per-method protos and the compiled ``_pb2`` modules are compared too. The only file left out
of the comparison is copier's own record of the answers, ``.copier-answers.yml``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jwp_generator.flavors import FLAVOR_FOLDERS
from tests.support import CHOICES, TEMPLATE
from tests.tree_support import GIT_IDENTITY, commit, differences, git, template_repo, tree

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="copier-template-extensions needs Python 3.11 or newer"
)

COPIER_RECORD = ".copier-answers.yml"
CASES = [
    # Every answer given, none of them a default.
    {
        "plugin_name": "Text Tools",
        "plugin_slug": "text-kit",
        "package_name": "textkit",
        "runner_name": "TextKit",
        "description": 'Counts "words" & <tags>.',
        "methods": "summarize_text, step9,step10",
        "streaming_mode": "streaming",
        "author_name": "Ada Lovelace",
        "author_email": "ada@example.com",
        "license": "Proprietary",
        "python_min": "3.12",
    },
    # The derived names come from each tool's own defaults.
    {"plugin_name": "Ünïcode Thing 2", "methods": "run,summarize_text"},
]


def cookiecutter_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8"))
    return data


def copier_yml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((TEMPLATE / "copier.yml").read_text("utf-8"))
    return data


def questions() -> list[str]:
    return [key for key in cookiecutter_json() if not key.startswith("_")]


def test_copier_yml_asks_what_cookiecutter_json_asks() -> None:
    cookie, copier = cookiecutter_json(), copier_yml()
    prompts = cookie["__prompts__"]
    asked = [key for key in copier if not key.startswith("_") and key != "cookiecutter"]
    assert asked == questions()
    for key in questions():
        question, value = copier[key], cookie[key]
        assert question["type"] == "str", key
        if isinstance(value, list):
            # Choices: same values in the same order, the first one the default, same labels.
            labels = prompts[key] if isinstance(prompts[key], dict) else {}
            choices = question["choices"]
            if isinstance(choices, dict):
                assert list(choices.values()) == value, key
                assert list(choices) == [labels[choice] for choice in value], key
            else:
                assert choices == value and not labels, key
            assert question["default"] == value[0], key
            assert question["help"] == labels.get("__prompt__", prompts[key]), key
        else:
            # Plain and derived defaults alike: copier names answers without "cookiecutter.".
            assert question["default"] == value.replace("cookiecutter.", ""), key
            assert question["help"] == prompts[key], key
            # After `language`, a validator also applies that flavor's rules.
            flavored = (
                ", language" if questions().index(key) > questions().index("language") else ""
            )
            assert question["validator"] == f"{{{{ {key} | jwp_problem('{key}'{flavored}) }}}}", key


def test_the_committed_copier_yml_is_generated_from_cookiecutter_json() -> None:
    """copier.yml is the generator's output for today's cookiecutter.json, byte for byte."""
    generated = subprocess.run(
        [sys.executable, "-m", "jwp_generator.copier_questions"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (TEMPLATE / "copier.yml").read_text("utf-8") == generated, (
        "copier.yml is stale: python -m jwp_generator.copier_questions > copier.yml"
    )


def test_copier_yml_passes_every_answer_to_the_template() -> None:
    computed = copier_yml()["cookiecutter"]
    assert computed["when"] is False
    # Each answer under its own name, all of them, in cookiecutter.json's order.
    pairs = re.findall(r'"(\w+)": (\w+)', computed["default"])
    assert [key for key, _ in pairs] == questions()
    assert all(key == value for key, value in pairs)
    assert copier_yml()["_subdirectory"] == "{% raw %}{{cookiecutter.plugin_slug}}{% endraw %}"
    assert "{{cookiecutter.plugin_slug}}" in {path.name for path in TEMPLATE.iterdir()}


def test_copier_excludes_the_folders_the_hook_removes() -> None:
    """copier.yml's ``_exclude`` is jwp_generator.flavors' folder list, entry for entry.

    Each pattern starts with ``/``: copier reads them as .gitignore lines, where ``protos``
    alone would also exclude the Python package's ``protos`` folder.
    """
    expected = [
        "{% if cookiecutter.language != '"
        + language
        + "' %}/"
        + folder.replace("{package_name}", "{{ cookiecutter.package_name }}")
        + "{% endif %}"
        for language, folders in FLAVOR_FOLDERS.items()
        for folder in folders
    ]
    assert copier_yml()["_exclude"] == expected


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    return template_repo(tmp_path / "template")


def tool(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *map(str, command)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )


def copier_copy(
    repo: Path, destination: Path, answers: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    data = [part for key, value in answers.items() for part in ("--data", f"{key}={value}")]
    return tool(
        "copier",
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        "HEAD",
        *data,
        repo,
        destination,
        cwd=destination.parent,
    )


def executable(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and os.access(path, os.X_OK)
    }


def check_identical(repo: Path, tmp_path: Path, answers: dict[str, str]) -> None:
    pairs = [f"{key}={value}" for key, value in answers.items()]
    made = tool(
        "cookiecutter", "--no-input", "-o", tmp_path / "cookiecutter", repo, *pairs, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    (expected,) = (tmp_path / "cookiecutter").iterdir()

    (tmp_path / "copier").mkdir()
    copied = copier_copy(repo, tmp_path / "copier" / expected.name, answers)
    assert copied.returncode == 0, copied.stderr
    project = tmp_path / "copier" / expected.name
    assert list(project.glob("src/*/protos/*_pb2.pyi")), "copier's task compiled nothing"
    assert differences(tree(expected), tree(project, leave_out={COPIER_RECORD})) == []
    assert executable(expected) == executable(project)

    record = yaml.safe_load((project / COPIER_RECORD).read_text("utf-8"))
    recorded = json.loads((project / ".cookiecutter.json").read_text("utf-8"))["cookiecutter"]
    assert {key: value for key, value in record.items() if not key.startswith("_")} == recorded


@pytest.mark.parametrize("answers", CASES, ids=["every-answer", "derived-names"])
def test_copier_and_cookiecutter_render_the_same_bytes(
    repo: Path, tmp_path: Path, answers: dict[str, str]
) -> None:
    check_identical(repo, tmp_path, answers)


@pytest.mark.full
@pytest.mark.parametrize("streaming_mode", CHOICES["streaming_mode"])
@pytest.mark.parametrize("license_", CHOICES["license"])
def test_copier_and_cookiecutter_agree_on_every_choice(
    repo: Path, tmp_path: Path, streaming_mode: str, license_: str
) -> None:
    python_min = CHOICES["python_min"][CHOICES["license"].index(license_)]
    answers = {
        "streaming_mode": streaming_mode,
        "license": license_,
        "python_min": python_min,
        "methods": "run,step2",
    }
    check_identical(repo, tmp_path, answers)


def test_copier_refuses_a_bad_answer_with_the_templates_rule(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "copier").mkdir()
    refused = copier_copy(repo, tmp_path / "copier" / "x", {"package_name": "import"})
    assert refused.returncode != 0
    assert "package_name = 'import': is a Python keyword" in refused.stderr
    assert not (tmp_path / "copier" / "x").exists()


def test_copier_refuses_a_feed_method_that_is_not_a_method(repo: Path, tmp_path: Path) -> None:
    """The rule compares answers: the validator reads ``methods`` from the earlier answers."""
    (tmp_path / "copier").mkdir()
    answers = {"methods": "run", "feed_methods": "count_words"}
    refused = copier_copy(repo, tmp_path / "copier" / "x", answers)
    assert refused.returncode != 0
    assert "feed_methods = 'count_words': method 'count_words' is not one of methods" in (
        refused.stderr
    )
    assert not (tmp_path / "copier" / "x").exists()


# Full lane: the default lane updates through cruft (test_update); copier merges the same way.
@pytest.mark.full
def test_copier_update_brings_template_changes_and_keeps_user_edits(
    repo: Path, tmp_path: Path
) -> None:
    (tmp_path / "copier").mkdir()
    project = tmp_path / "copier" / "hello-world"
    copied = copier_copy(repo, project, {"methods": "run,summarize_text"})
    assert copied.returncode == 0, copied.stderr
    git(project, "init", "--quiet", "-b", "main")
    commit(project, "Project from the template")
    # The user edits the runner and a per-method proto, which copier's task wrote.
    runner = project / "src/hello_world/runner.py"
    runner.write_text(
        runner.read_text("utf-8").replace("A JobWorkerP runner", "My runner"), "utf-8"
    )
    args_proto = project / "src/hello_world/protos/summarize_text_args.proto"
    args_proto.write_text(args_proto.read_text("utf-8") + "// The user's note.\n", "utf-8")
    commit(project, "User edits")

    framework = (
        repo
        / "{{cookiecutter.plugin_slug}}/src/{{cookiecutter.package_name}}/framework/runtime/contract.py"
    )
    framework.write_text(framework.read_text("utf-8") + "# Added by the new template.\n", "utf-8")
    new = commit(repo, "new")

    updated = tool("copier", "update", "--trust", "--defaults", "--vcs-ref", "HEAD", cwd=project)
    assert updated.returncode == 0, updated.stderr
    changed = sorted(line[3:] for line in git(project, "status", "--porcelain").splitlines())
    assert changed == [COPIER_RECORD, "src/hello_world/framework/runtime/contract.py"]
    assert (
        "# Added by the new template."
        in (project / "src/hello_world/framework/runtime/contract.py").read_text()
    )
    assert "My runner" in runner.read_text("utf-8")
    assert args_proto.read_text("utf-8").endswith("// The user's note.\n")
    # Copier records the new commit (abbreviated, as git describe gives it for an untagged one).
    recorded = str(yaml.safe_load((project / COPIER_RECORD).read_text("utf-8"))["_commit"])
    assert len(recorded) >= 7 and new.startswith(recorded)


@pytest.mark.full
def test_copier_update_of_a_rust_plugin_keeps_user_edits(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Copier runs the task after every update; the crate's build is test_rust_flavor.py's.
    monkeypatch.setenv("JWP_TEMPLATE_SKIP_CHECKS", "1")
    (tmp_path / "copier").mkdir()
    project = tmp_path / "copier" / "hello-world"
    copied = copier_copy(repo, project, {"language": "rust", "methods": "run,summarize_text"})
    assert copied.returncode == 0, copied.stderr
    # python_min is not asked of a Rust plugin (copier records only the questions it asked).
    recorded = yaml.safe_load((project / COPIER_RECORD).read_text("utf-8"))
    assert "python_min" not in recorded and recorded["language"] == "rust"
    git(project, "init", "--quiet", "-b", "main")
    commit(project, "Project from the template")
    runner = project / "src/runner.rs"
    runner.write_text(runner.read_text("utf-8") + "// The user's note.\n", "utf-8")
    args_proto = project / "protos/summarize_text_args.proto"
    args_proto.write_text(args_proto.read_text("utf-8") + "// The user's proto note.\n", "utf-8")
    commit(project, "User edits")

    framework = sorted((project / "src" / "framework").glob("*.rs"))[0].name
    source = repo / "{{cookiecutter.plugin_slug}}" / "src" / "framework" / framework
    source.write_text(source.read_text("utf-8") + "// Added by the new template.\n", "utf-8")
    # A source shared with the bridge reaches the place that includes it.
    shared = repo / "templates" / "rust" / "schema.rs"
    shared.write_text(shared.read_text("utf-8") + "// New in the shared source.\n", "utf-8")
    commit(repo, "new")

    updated = tool("copier", "update", "--trust", "--defaults", "--vcs-ref", "HEAD", cwd=project)
    assert updated.returncode == 0, updated.stderr
    changed = sorted(line[3:] for line in git(project, "status", "--porcelain").splitlines())
    assert changed == sorted(
        [COPIER_RECORD, f"src/framework/{framework}", "src/framework/schema.rs"]
    )
    assert (project / "src/framework/schema.rs").read_text("utf-8") == shared.read_text("utf-8")
    assert runner.read_text("utf-8").endswith("// The user's note.\n")
    assert args_proto.read_text("utf-8").endswith("// The user's proto note.\n")
    assert not (project / "pyproject.toml").exists()
