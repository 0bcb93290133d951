"""The answer rules of ``jwp_generator.validation``, one by one, and a few refusals end to end.

The rule tests are pure and fast: they call ``check_answers`` on a valid answer set with one
value changed. The end-to-end tests run the ``cookiecutter`` command and check the message and
that the output folder stays empty.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment

from jwp_generator import validation
from jwp_generator.jinja import AnswersRefused, GeneratorExtension
from jwp_generator.recovery import as_typed
from jwp_generator.validation import EXAMPLES, Problem, check_answers, main
from tests.support import CHOICES, TEMPLATE, render_cli

VALID = {**EXAMPLES, "methods": "run"}


def problems_with(**changes: object) -> list[Problem]:
    return check_answers({**VALID, **changes})


def codes(**changes: object) -> list[tuple[str, str]]:
    return [(problem.variable, problem.code) for problem in problems_with(**changes)]


def test_the_examples_pass() -> None:
    assert check_answers(VALID) == []
    assert check_answers(EXAMPLES) == []


REFUSED: list[tuple[str, object, str]] = [
    # free text: plugin_name, description, author_name share the one-line rules
    ("plugin_name", "", "required"),
    ("plugin_name", "   ", "required"),
    ("plugin_name", "Two\nlines", "one-line"),
    ("description", "Two\r\nlines", "one-line"),
    ("description", "Form\x0cfeed", "one-line"),
    ("description", "Line\u2028separator", "one-line"),
    ("author_name", "Next\x85line", "one-line"),
    ("author_name", "Tab\there", "control-character"),
    ("description", "NUL\x00byte", "control-character"),
    ("description", "Escape \x1b[31m", "control-character"),
    ("description", "Delete\x7f", "control-character"),
    ("plugin_name", "Lone \udcff surrogate", "control-character"),
    ("description", "abc\u202edcba", "bidi-control"),
    ("author_name", "x\u2066y", "bidi-control"),
    ("description", " leading blank", "surrounding-blank"),
    ("author_name", "trailing blank ", "surrounding-blank"),
    ("description", "x" * 201, "too-long"),
    # plugin_slug: folder and distribution name
    ("plugin_slug", "", "required"),
    ("plugin_slug", "Hello-World", "slug-format"),
    ("plugin_slug", "hello_world", "slug-format"),
    ("plugin_slug", "hello--world", "slug-format"),
    ("plugin_slug", "-hello", "slug-format"),
    ("plugin_slug", "hello-", "slug-format"),
    ("plugin_slug", "1password", "slug-format"),
    ("plugin_slug", "a/b", "slug-format"),
    ("plugin_slug", "../escape", "slug-format"),
    ("plugin_slug", "hello.world", "slug-format"),
    ("plugin_slug", "héllo", "slug-format"),
    ("plugin_slug", "hello\n", "slug-format"),
    ("plugin_slug", "a" * 41, "too-long"),
    ("plugin_slug", "con", "windows-reserved"),
    ("plugin_slug", "lpt1", "windows-reserved"),
    # package_name: import name and proto package
    ("package_name", "", "required"),
    ("package_name", "Hello", "identifier-format"),
    ("package_name", "hello-world", "identifier-format"),
    ("package_name", "_private", "identifier-format"),
    ("package_name", "a__b", "identifier-format"),
    ("package_name", "2fast", "identifier-format"),
    ("package_name", "ünï", "identifier-format"),
    ("package_name", "hello\n", "identifier-format"),
    ("package_name", "a" * 41, "too-long"),
    ("package_name", "class", "python-keyword"),
    ("package_name", "async", "python-keyword"),
    ("package_name", "match", "soft-keyword"),
    ("package_name", "type", "soft-keyword"),
    ("package_name", "json", "stdlib-clash"),
    ("package_name", "asyncio", "stdlib-clash"),
    ("package_name", "telnetlib", "stdlib-clash"),
    ("package_name", "distutils", "stdlib-clash"),
    ("package_name", "tomllib", "stdlib-clash"),
    ("package_name", "google", "dependency-clash"),
    ("package_name", "grpc_tools", "dependency-clash"),
    ("package_name", "hatch_build", "dependency-clash"),
    ("package_name", "tests", "dependency-clash"),
    ("package_name", "com1", "windows-reserved"),
    # runner_name: name() and class-name prefix
    ("runner_name", "", "required"),
    ("runner_name", "helloWorld", "pascal-format"),
    ("runner_name", "Hello_World", "pascal-format"),
    ("runner_name", "Hello World", "pascal-format"),
    ("runner_name", "Ünïcode", "pascal-format"),
    ("runner_name", "Hello\n", "pascal-format"),
    ("runner_name", "A" * 41, "too-long"),
    ("runner_name", "COMMAND", "builtin-runner"),
    ("runner_name", "LLM", "builtin-runner"),
    ("runner_name", "MultiMethodPlugin", "framework-name"),
    # methods
    ("methods", "", "methods-empty"),
    ("methods", " , ", "methods-empty"),
    ("methods", ",".join(f"m{i}" for i in range(33)), "methods-count"),
    ("methods", "run,,other", "method-empty"),
    ("methods", "run,", "method-empty"),
    ("methods", "run___fast", "function-separator"),
    ("methods", "Run", "method-format"),
    ("methods", "summarize-text", "method-format"),
    ("methods", "a__b", "method-format"),
    ("methods", "_run", "method-format"),
    ("methods", "3d", "method-format"),
    ("methods", "run fast", "method-format"),
    ("methods", "run\tfast", "method-format"),
    ("methods", "m" * 31, "too-long"),
    ("methods", "import", "python-keyword"),
    ("methods", "case", "soft-keyword"),
    ("methods", "load", "contract-method"),
    ("methods", "cancel", "contract-method"),
    ("methods", "run_stream", "contract-method"),
    ("methods", "all", "mcp-tool-name"),
    ("methods", "system", "mcp-tool-name"),
    ("methods", "run,run", "duplicate-method"),
    ("methods", "run, run", "duplicate-method"),
    ("methods", "step_1,step1", "message-collision"),
    # author_email
    ("author_email", "", "email"),
    ("author_email", "ada", "email"),
    ("author_email", "ada@localhost", "email"),
    ("author_email", "ada@@example.com", "email"),
    ("author_email", "ada lovelace@example.com", "email"),
    ("author_email", 'ada"@example.com', "email"),
    ("author_email", "ada@example.com\n", "email"),
    ("author_email", "ada\x01@example.com", "email"),
    ("author_email", "ädä@example.com", "email"),
    ("author_email", "ada@-example.com", "email"),
    ("author_email", "<ada@example.com>", "email"),
    ("author_email", "a" * 250 + "@example.com", "email"),
    # choices (given through the API, which skips cookiecutter's own choice check)
    ("streaming_mode", "bidi", "choice"),
    ("license", "GPL-3.0", "choice"),
    ("python_min", "3.9", "choice"),
    # feed methods: each one of methods, and a streaming mode that streams
    ("feed_methods", "summarize", "feed-method-unknown"),
    ("feed_methods", "run,run", "duplicate-method"),
    ("feed_methods", "run,", "method-empty"),
    # not text at all
    ("description", 42, "text"),
    ("methods", ["run"], "text"),
    ("plugin_name", None, "text"),
]


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    REFUSED,
    ids=[f"{v}-{c}-{i}" for i, (v, _, c) in enumerate(REFUSED)],
)
def test_each_rule_refuses(variable: str, value: object, code: str) -> None:
    changes: dict[str, object] = {variable: value}
    if variable == "plugin_slug":
        # keep the names derived from the slug valid, so only the slug is refused
        changes.update(package_name="hello_world", runner_name="HelloWorld")
    problems = problems_with(**changes)
    assert [(p.variable, p.code) for p in problems][:1] == [(variable, code)], problems
    problem = problems[0]
    line = str(problem)
    assert "\n" not in line and "\r" not in line
    assert line.startswith(f"{variable} = ")
    assert f"[{code}]" in line
    assert f"Valid example: {variable}=" in line
    # the example offered passes the rule it is offered for
    assert [
        p for p in problems_with(**{**changes, variable: problem.example}) if p.variable == variable
    ] == []


ACCEPTED: list[tuple[str, str]] = [
    ("plugin_name", "Ünïcödé Plügin"),
    ("plugin_name", "日本語 ツール"),
    ("plugin_name", "Party 🎉 \"quoted\" 'single' \\ # $ {x} %"),
    ("plugin_name", "a" * 200),
    ("description", 'He said "hi" -- it\'s C:\\path; 100% #1 $HOME `cmd`'),
    ("description", "Family emoji 👨\u200d👩\u200d👧 with joiners"),
    ("author_name", "Zoë O'Brien-Łukasiewicz"),
    ("plugin_slug", "a"),
    ("plugin_slug", "a" * 40),
    ("plugin_slug", "con-tools"),
    ("plugin_slug", "x2-y3"),
    ("package_name", "a" * 40),
    ("package_name", "json_tools"),
    ("package_name", "class_plugin"),
    ("runner_name", "A" * 40),
    ("runner_name", "Command2"),
    ("runner_name", "Llm"),
    ("methods", "m" * 30),
    ("methods", "run, summarize_text ,step9,step10"),
    ("methods", "summarize_text"),
    ("methods", "x1,x2"),
    ("methods", ",".join(f"m{i}" for i in range(32))),
    ("methods", "settings,name_it,loader,run_now"),
    ("feed_methods", ""),
    ("feed_methods", "run"),
    ("feed_methods", " run "),
    ("author_email", "o'brien+plugins@mail.example.co.uk"),
    ("author_email", "a.b-c_d@x-y.example"),
]


@pytest.mark.parametrize(("variable", "value"), ACCEPTED)
def test_accepted_values(variable: str, value: str) -> None:
    changes = {variable: value}
    if variable == "plugin_slug":
        changes.update(package_name="hello_world", runner_name="HelloWorld")
    assert problems_with(**changes) == []


def test_a_feed_method_needs_a_streaming_mode_that_streams() -> None:
    problems = problems_with(feed_methods="run", streaming_mode="non_streaming")
    assert [(p.variable, p.code, p.example) for p in problems] == [
        ("feed_methods", "feed-needs-stream", "")
    ]
    assert "streaming_mode" in problems[0].rule
    assert problems_with(feed_methods="", streaming_mode="non_streaming") == []
    assert problems_with(feed_methods="run", streaming_mode="streaming") == []


def test_an_unknown_feed_method_is_offered_the_listed_ones() -> None:
    (problem,) = problems_with(methods="run, count_words", feed_methods="count_words, summarize")
    assert (problem.code, problem.example) == ("feed-method-unknown", "count_words")
    assert "'summarize'" in problem.rule and "run, count_words" in problem.rule


def test_a_name_derived_from_plugin_name_says_so() -> None:
    # What cookiecutter derives from an emoji-only name: an empty slug, package and runner name.
    problems = problems_with(plugin_name="🎉🎉", plugin_slug="", package_name="", runner_name="")
    assert [(p.variable, p.code) for p in problems] == [("plugin_slug", "required")]
    assert "derived from plugin_name '🎉🎉'" in str(problems[0])


def test_a_name_derived_from_the_slug_says_so() -> None:
    problems = problems_with(plugin_slug="json", package_name="json", runner_name="Json")
    assert [(p.variable, p.code) for p in problems] == [("package_name", "stdlib-clash")]
    assert "derived from plugin_slug 'json'" in str(problems[0])
    assert problems[0].example == "json_plugin"


def test_a_given_name_is_not_called_derived() -> None:
    (problem,) = problems_with(package_name="json")
    assert "derived" not in str(problem)


def test_several_problems_are_all_reported_in_variable_order() -> None:
    problems = problems_with(
        author_email="nope", methods="load,run", plugin_name="a\nb", license="GPL"
    )
    assert [(p.variable, p.code) for p in problems] == [
        ("plugin_name", "one-line"),
        ("methods", "contract-method"),
        ("author_email", "email"),
        ("license", "choice"),
    ]


def test_long_values_are_shortened_in_the_message() -> None:
    (problem,) = problems_with(description="x" * 500)
    assert len(str(problem)) < 300
    assert "xxx..." in str(problem)


def test_soft_keywords_of_newer_pythons_are_refused_on_any_python() -> None:
    # Soft keywords of 3.10 (match, case, _) and 3.12 (type), whatever Python runs the generator.
    for word in ("match", "case", "type"):
        assert codes(package_name=word) == [("package_name", "soft-keyword")]
        assert codes(methods=f"run,{word}") == [("methods", "soft-keyword")]
    assert codes(package_name="_") != []
    for word in keyword.kwlist:
        if re.match(r"^[a-z]+$", word):
            assert codes(package_name=word) == [("package_name", "python-keyword")]


def test_the_standard_library_of_every_supported_python_is_covered() -> None:
    # Present on this Python, added in 3.11 (tomllib), removed in 3.12 or 3.13 (the rest).
    for name in ("json", "tomllib", "asyncore", "imp", "cgi", "pipes", "uu", "telnetlib"):
        assert codes(package_name=name) == [("package_name", "stdlib-clash")]


def test_message_names_cannot_collide_across_roles() -> None:
    # <Runner>Settings, <Method>Args and <Method>Result end differently, so only two methods
    # with the same PascalCase stem can collide; that case is refused above.
    for method in ("settings", "x_settings", "args", "result", "hello_world_settings"):
        assert problems_with(methods=f"run,{method}") == []


@given(st.from_regex(validation.SLUG_RE, fullmatch=True).filter(lambda s: len(s) <= 40))
def test_every_accepted_slug_is_a_normalised_project_name(slug: str) -> None:
    assert validation.is_project_name(slug)
    assert validation.normalize_project_name(slug) == slug


@given(
    st.text(min_size=1, max_size=30),
    st.sampled_from(sorted(validation.LINE_BREAKS)),
    st.text(max_size=30),
)
def test_any_line_break_in_free_text_is_refused(before: str, line_break: str, after: str) -> None:
    value = f"x{before}{line_break}{after}x"
    assert ("description", "one-line") in codes(description=value) or (
        "description",
        "control-character",
    ) in codes(description=value)


@given(
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200
    ).filter(
        lambda t: t == t.strip() and not any(c in validation.BIDI_CONTROLS for c in t) and t.strip()
    )
)
def test_printable_one_line_text_is_accepted(text: str) -> None:
    assert problems_with(description=text, author_name=text) == []


def test_main_prints_one_line_per_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main({**VALID, "package_name": "class", "methods": "load"}) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: package_name = 'class': is a Python keyword [python-keyword]")
    assert err[1].startswith("error: methods = 'load': method 'load' is the name of a method")
    assert err[2].startswith("Nothing was generated.")
    assert main(VALID) == 0
    assert capsys.readouterr().err == ""


def test_the_folder_name_check_refuses_before_anything_exists() -> None:
    environment = Environment(extensions=[GeneratorExtension])
    folder = environment.from_string("{{cookiecutter.plugin_slug}}")
    assert folder.render(cookiecutter=VALID) == "hello-world"
    with pytest.raises(Exception, match=r"plugin_slug = 'a/b'.*\[slug-format\]") as refused:
        folder.render(cookiecutter={**VALID, "plugin_slug": "a/b"})
    # cookiecutter's own "hook failed" error when cookiecutter is there, else AnswersRefused
    assert type(refused.value).__name__ in ("FailedHookException", AnswersRefused.__name__)
    # other templates are not affected, and a context without answers passes through
    assert (
        environment.from_string("{{ cookiecutter.plugin_slug }}!").render(
            cookiecutter={"plugin_slug": "a/b"}
        )
        == "a/b!"
    )


# End to end, through the cookiecutter command. -------------------------------------------


SKIP = {"JWP_TEMPLATE_SKIP_CHECKS": "1"}
E2E_REFUSALS = [
    ({"package_name": "class"}, "package_name = 'class': is a Python keyword"),
    ({"methods": "run,summary___v2"}, "method 'summary___v2' contains '___'"),
    ({"description": "first line\nsecond line"}, "description = 'first line\\nsecond line'"),
    ({"plugin_slug": "nested/folder"}, "plugin_slug = 'nested/folder'"),
    ({"plugin_name": "🎉"}, "derived from plugin_name '🎉'"),
    ({"author_email": "not an address"}, "author_email = 'not an address'"),
]


@pytest.mark.parametrize(("answers", "expected"), E2E_REFUSALS, ids=lambda v: str(v)[:30])
def test_refused_through_the_command_line(
    tmp_path: Path, answers: dict[str, str], expected: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = render_cli(out, answers)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert expected in output
    assert "Nothing was generated." in output
    assert "Traceback" not in output
    assert list(out.iterdir()) == []
    assert list(tmp_path.iterdir()) == [out]


def test_choices_are_read_from_cookiecutter_json(tmp_path: Path) -> None:
    """The rules offer what cookiecutter offers: change the questions and the rules follow."""
    questions = json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8"))
    assert {key: tuple(value) for key, value in CHOICES.items()} == validation.CHOICES
    questions["license"] = [*questions["license"], "GPL-3.0-only"]
    edited = tmp_path / "cookiecutter.json"
    edited.write_text(json.dumps(questions), "utf-8")
    assert validation.read_choices(edited)["license"][-1] == "GPL-3.0-only"


def test_a_refusal_names_the_saved_answers_and_the_command_that_brings_them_back(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    """A real refusal after all the answers: follow what it prints, with the answer fixed."""
    replay = cookiecutter_config.parent / "replay" / f"{TEMPLATE.name}.json"
    answers = {"plugin_name": "Text Tools", "methods": "run,count_words", "package_name": "class"}
    out = tmp_path / "out"
    refused = render_cli(out, answers, env=SKIP)
    assert refused.returncode != 0
    assert f"Your answers are saved in {replay}: correct them there and run" in refused.stdout
    lines = refused.stdout.splitlines()
    replay_command = shlex.split(
        lines[lines.index(next(line for line in lines if "Your answers" in line)) + 1]
    )
    ask_again = shlex.split(lines[-1])
    assert ask_again[:2] == ["cookiecutter", "--output-dir"]
    assert "plugin_name=Text Tools" in ask_again and "package_name=class" in ask_again
    assert not out.exists() or list(out.iterdir()) == []

    saved = json.loads(replay.read_text("utf-8"))
    saved["cookiecutter"]["package_name"] = "text_tools"
    replay.write_text(json.dumps(saved), "utf-8")
    again = subprocess.run(
        [sys.executable, "-m", *replay_command],
        env={**os.environ, **SKIP},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 0, again.stderr
    assert (
        out / "text-tools" / "src" / "text_tools" / "protos" / "count_words_args.proto"
    ).is_file()

    fixed = [part.replace("package_name=class", "package_name=texttools") for part in ask_again]
    shutil.rmtree(out / "text-tools")
    asked = subprocess.run(
        [sys.executable, "-m", fixed[0], "--no-input", *fixed[1:]],
        env={**os.environ, **SKIP},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert asked.returncode == 0, asked.stderr
    assert (
        out / "text-tools" / "src" / "texttools" / "protos" / "count_words_args.proto"
    ).is_file()


def test_text_that_looks_like_jinja_comes_back_as_typed() -> None:
    assert as_typed("{{ 6 * 7 }} is the answer") == "{% raw %}{{ 6 * 7 }} is the answer{% endraw %}"
    assert as_typed("plain") == "plain"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("streaming_mode", "stream"), ("license", "GPL"), ("python_min", "3.9")],
)
def test_a_choice_cookiecutter_does_not_offer_is_its_own_traceback(
    tmp_path: Path, variable: str, value: str
) -> None:
    """Documented in README.md: cookiecutter refuses the value while it reads cookiecutter.json,
    before any of the template's code runs, with a ValueError and its traceback. If this starts
    failing, cookiecutter changed: make the refusal one line and update the README."""
    out = tmp_path / "out"
    result = render_cli(out, {variable: value}, env=SKIP)
    assert result.returncode != 0
    choices = list(CHOICES[variable])
    assert (
        f"ValueError: {value} provided for choice variable {variable}, "
        f"but the choices are {choices}." in result.stderr
    )
    assert "Traceback" in result.stderr
    assert not out.exists()
