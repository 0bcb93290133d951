"""Free-text answers are data: hostile text renders valid files and reads back intact.

``plugin_name``, ``description`` and ``author_name`` end up in TOML (``pyproject.toml``), Python
(a docstring and the ``DESCRIPTION`` string), Markdown (the README) and the license. Each case
renders a project through cookiecutter's API with the hooks (so the protos compile and the
smoke test passes), then reads every file back with a real parser: ``tomllib``, hatchling's core
metadata, ``ast`` and an import of the package, markdown-it.
"""

from __future__ import annotations

import ast
import email.utils
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.exceptions import TemplateSyntaxError
from markdown_it import MarkdownIt

from jwp_generator.escaping import markdown_text, python_text, rust_text
from jwp_generator.validation import BIDI_CONTROLS, text_failure
from tests.support import render, render_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the template's tests run on 3.11+ in CI
    import tomli as tomllib

RUFF = Path(sys.executable).with_name("ruff")
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE = {
    "quotes": {
        "plugin_name": "The \"Quoted\" 'Plugin'",
        "description": 'Says "hello", it\'s "quoted" and \'single\' too.',
        "author_name": 'Jane "JJ" O\'Neil',
    },
    "triple-quotes": {
        "plugin_name": "Triple \"\"\" and ''' quotes",
        "description": "\"\"\" closes a docstring; ''' too; a trailing backslash \\",
        "author_name": "Tri'''ple \"\"\"Author",
    },
    "backslashes": {
        "plugin_name": "Back\\slash \\n \\x22 \\u0041 \\",
        "description": "C:\\Users\\me\\ and \\\\server\\share \\t \\0 \\N{BULLET}",
        "author_name": "Dr. \\ Backslash \\\\",
    },
    "markup": {
        "plugin_name": "# Not *a* _heading_ `code` <b>bold</b> [link](x) | table |",
        "description": "1. not a list; - nor this; > nor a quote; ```fence``` <!-- x --> &amp;",
        "author_name": "<script>alert(1)</script> & Co. #1",
    },
    "shell-and-comments": {
        "plugin_name": "$HOME ${PATH} $(id) `id` ; rm -rf nothing # comment",
        "description": "// not a proto comment /* nor this */ # nor a TOML one; %s %(x)s {0}",
        "author_name": "Mr. $USER; `whoami`",
    },
    "unicode": {
        "plugin_name": "Ünïcödé Plügin \u2013 日本語 🎉",
        "description": "naïve \u201csmart quotes\u201d \u2013 Ελληνικά, עברית, 👨\u200d👩\u200d👧, \u00a0nbsp, ﬁ",
        "author_name": "Zoë Łukasiewicz-Ø'Brien",
    },
    "braces": {
        # cookiecutter evaluates {{ }} in answers; {% raw %} passes them through literally
        "plugin_name": "{% raw %}Braces {{ cookiecutter.plugin_slug }} {% if %}{% endraw %}",
        "description": "{% raw %}}} {{ 6 * 7 }} {% endraw %} {# comment #}{{ 6 * 7 }}",
        "author_name": "{% raw %}{{ author }}{% endraw %}",
    },
}
# What the braces case reads back as, after cookiecutter's own evaluation of the answers.
BRACES_RENDERED = {
    "plugin_name": "Braces {{ cookiecutter.plugin_slug }} {% if %}",
    "description": "}} {{ 6 * 7 }}  42",
    "author_name": "{{ author }}",
}


def read_back(project: Path) -> dict[str, Any]:
    """Import the generated package in a child Python and report what it says about itself."""
    package = next(path.name for path in (project / "src").iterdir() if path.is_dir())
    code = (
        f"import json, {package} as p\n"
        "plugin = p.load_multi_method_plugin()\n"
        "print(json.dumps({'doc': p.__doc__, 'description': plugin.description(),"
        " 'name': plugin.name()}))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(project / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    result: dict[str, Any] = json.loads(child.stdout)
    result["package"] = package
    return result


def core_metadata(project: Path) -> dict[str, str]:
    """The core metadata hatchling writes into the wheel, built from pyproject.toml."""
    from hatchling.metadata.core import ProjectMetadata
    from hatchling.metadata.spec import get_core_metadata_constructors
    from hatchling.plugin.manager import PluginManager

    metadata = ProjectMetadata(str(project), PluginManager())
    text = get_core_metadata_constructors()["2.4"](metadata)
    message = email.message_from_string(text)
    return {key: str(value) for key, value in message.items()}


def markdown_blocks(text: str, count: int = 2) -> list[tuple[str, str]]:
    """(block type, plain text) of the first ``count`` blocks; inline markup would show."""
    tokens = MARKDOWN.parse(text)
    blocks: list[tuple[str, str]] = []
    for index, token in enumerate(tokens):
        if token.type == "inline" and len(blocks) < count:
            kinds = {child.type for child in token.children or []}
            assert kinds <= {"text"}, f"markup in {token.content!r}: {kinds}"
            plain = "".join(child.content for child in token.children or [])
            blocks.append((tokens[index - 1].tag, plain))
    return blocks


def check_project(project: Path, expected: dict[str, str]) -> None:
    name, description, author = (
        expected["plugin_name"],
        expected["description"],
        expected["author_name"],
    )
    # TOML: parses, and the package metadata holds the text itself
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["description"] == description
    assert pyproject["project"]["authors"] == [{"name": author, "email": "author@example.com"}]
    metadata = core_metadata(project)
    assert metadata["Summary"] == description
    assert email.utils.getaddresses([metadata["Author-email"]]) == [(author, "author@example.com")]

    # Python: every file parses, the free-text files pass ruff, the package says the text back
    for path in project.rglob("*.py"):
        ast.parse(path.read_text("utf-8"), filename=str(path))
    told = read_back(project)
    source = project / "src" / told["package"]
    lint = subprocess.run(
        [str(RUFF), "check", "--no-cache", str(source / "__init__.py"), str(source / "runner.py")],
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
    )
    assert lint.returncode == 0, lint.stdout
    assert told["description"] == description
    assert told["doc"].startswith(f"{name}: a JobWorkerP runner plugin.")
    for path in (source / "__init__.py", source / "runner.py"):
        assert path.read_text("utf-8").isascii(), path

    # Markdown: the title is the name and the first paragraph the description, as plain text
    readme = (project / "README.md").read_text("utf-8")
    assert markdown_blocks(readme)[:2] == [("h1", name), ("p", description)]

    # the license names the author as given
    assert f"Copyright (c) {author}" in (project / "LICENSE").read_text("utf-8")

    # proto text: the hook compiled every proto and ran the smoke test; free text stays out
    for proto in (source / "protos").glob("*.proto"):
        assert description not in proto.read_text("utf-8")
    assert list((source / "protos").glob("*_pb2.py"))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_free_text_renders_valid_files(tmp_path: Path, case: str) -> None:
    answers = HOSTILE[case]
    project = render(tmp_path, plugin_slug="free-text", **answers)
    check_project(project, BRACES_RENDERED if case == "braces" else answers)


def test_cookiecutter_evaluates_jinja_in_answers(tmp_path: Path) -> None:
    """Documented in the README: an answer is a Jinja template to cookiecutter."""
    project = render(tmp_path, plugin_name="Calc", description="{{ 6 * 7 }} is the answer")
    assert read_back(project)["description"] == "42 is the answer"


def test_unbalanced_jinja_in_an_answer_stops_cookiecutter_before_writing(tmp_path: Path) -> None:
    with pytest.raises(TemplateSyntaxError):
        render(tmp_path, description="50 {% off")
    assert list(tmp_path.iterdir()) == []


def test_unbalanced_jinja_through_the_command_line_leaves_nothing(tmp_path: Path) -> None:
    result = render_cli(tmp_path, {"description": "a {# b"})
    assert result.returncode != 0
    assert "TemplateSyntaxError" in result.stderr
    assert list(tmp_path.iterdir()) == []


# Code injection: payloads that would leave a marker file if any answer ran as code. ------------


def payloads(marker: Path) -> dict[str, str]:
    """One payload per language the hooks or generated files could be tricked into running."""
    return {
        # closes a triple-quoted or plain string in Python source, then runs a statement
        "python-triple": f"'''\"\"\"); open(r'{marker}', 'w'); (\"\"\"'''",
        "python-plain": f"\\\"); __import__('pathlib').Path(r'{marker}').touch()  #",
        "python-apostrophe": f"'); __import__('os').system('touch {marker}'); ('",
        # command substitution and separators, if a hook passed an answer to a shell
        "shell": f"$(touch {marker}); `touch {marker}`",
        # JSON inside the hooks' raw strings: closes the string and the json.loads call
        "json": f"\\u0027\"}}'''); open(r'{marker}', 'w'); r'''{{\"",
    }


@pytest.mark.parametrize(
    "kind", ["python-triple", "python-plain", "python-apostrophe", "shell", "json"]
)
def test_injected_code_in_free_text_is_not_run(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "MARKER"
    payload = payloads(marker)[kind]
    assert text_failure(payload) is None, "the payload must be accepted to prove anything"
    out = tmp_path / "out"
    answers = {"plugin_name": payload, "description": payload, "author_name": payload}
    result = render_cli(out, {**answers, "plugin_slug": "injected"})
    assert result.returncode == 0, result.stdout + result.stderr
    project = next(out.iterdir())
    # the generated package is imported and run too (smoke test, read_back): still no marker
    told = read_back(project)
    assert told["description"] == payload
    assert not marker.exists()
    assert not list(tmp_path.rglob("MARKER"))


def test_injected_code_in_refused_answers_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    payload = payloads(marker)["python-apostrophe"]
    out = tmp_path / "out"
    # refused because of the newline, then because of another answer
    for answers in (
        {"description": f"ok\n{payload}"},
        {
            "plugin_name": payload,
            "author_name": payload,
            "plugin_slug": "x",
            "package_name": "class",
        },
    ):
        result = render_cli(out, answers)
        assert result.returncode != 0
    assert not marker.exists()
    assert not out.exists() or list(out.iterdir()) == []


# The escaping functions, for any text the rules accept. -----------------------------------

ONE_LINE_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=120
).filter(lambda t: text_failure(t) is None and not any(c in BIDI_CONTROLS for c in t))


@given(st.text(max_size=200))
def test_python_text_is_an_ascii_literal_of_the_text(text: str) -> None:
    literal = f'"{python_text(text)}"'
    assert literal.isascii()
    assert ast.literal_eval(literal) == text
    assert ast.literal_eval(f'"""{python_text(text)}: tail."""') == f"{text}: tail."


@given(ONE_LINE_TEXT)
def test_markdown_text_renders_as_the_text_itself(text: str) -> None:
    readme = f"# {markdown_text(text)}\n\n{markdown_text(text)}\n"
    assert markdown_blocks(readme) == [("h1", text), ("p", text)]


RUST_ESCAPE = re.compile(r'\\(?:u\{([0-9a-f]+)\}|(["\\]))')


@given(st.text(max_size=200))
def test_rust_text_is_an_ascii_literal_of_the_text(text: str) -> None:
    literal = rust_text(text)
    assert literal.isascii()
    assert not re.search(r'(?<!\\)"', literal.replace("\\\\", ""))
    decoded = RUST_ESCAPE.sub(lambda m: m.group(2) or chr(int(m.group(1), 16)), literal)
    assert decoded == text
