"""Property-based tests of the whole generator: any answer set is refused cleanly or works.

Hypothesis draws answer sets, every variable from a valid-looking or a hostile alphabet (or left
to its default), and each set goes through the ``cookiecutter`` command with the hooks. The
outcome is compared with a prediction made in-process by cookiecutter's own context machinery
(``generate_context`` + ``prompt_for_config``, which evaluates the answers as cookiecutter does)
and ``jwp_generator.validation.check_answers``:

* cookiecutter refuses a choice it does not offer: non-zero exit, the message names the variable;
* cookiecutter cannot evaluate an answer as Jinja: non-zero exit; an undefined name is reported
  with the variable, a syntax error only with Jinja's message (cookiecutter's own wording);
* the rules refuse: non-zero exit, every predicted ``error:`` line (variable, value, rule,
  example) printed, no traceback;
* otherwise: exit 0, the protos compiled and the smoke test passed (the post-generation hook
  runs both), ``pyproject.toml`` parses and carries the description.

Whatever the outcome, a refused set leaves the output folder empty. The counts (examples tried,
outcomes, refusals per rule) are printed at the end of the module (``pytest -n 0 -s``) and written
to ``generator_fuzz_report.json`` in pytest's base temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from jwp_generator.naming import split_methods
from jwp_generator.validation import (
    CONTRACT_METHOD_NAMES,
    MCP_RESERVED_TOOL_NAMES,
    PASCAL_RE,
    SLUG_RE,
    SNAKE_RE,
    check_answers,
)
from tests.support import CHOICES, SKIP_VARIABLE, TEMPLATE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The default lane runs a small sample; the full lane keeps the large run.
DEFAULT_EXAMPLES = 8
FULL_EXAMPLES = 500

# Pieces that break naive templating, quoting or parsing somewhere.
HOSTILE_FRAGMENTS = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\n",
    "\n",
    "\r\n",
    "\t",
    "\x1b",
    "\x7f",
    "\u2028",
    "\u202e",
    "#",
    "$",
    "$(id)",
    "`",
    "{",
    "}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{% raw %}{{ x }}{% endraw %}",
    "<",
    ">",
    "&",
    "*",
    "_",
    "[",
    "]",
    "/",
    "..",
    ":",
    ";",
    ",",
    "=",
    " ",
    "___",
    "-",
    ".",
    "con",
    "é",
    "日本",
    "🎉",
    "\u200d",
    "\u00a0",
    "class",
    "json",
    "run",
    "load",
]
# Characters a command-line argument can carry: no NUL, no lone surrogates.
ANY_CHAR = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
HOSTILE_TEXT = st.lists(
    st.one_of(st.sampled_from(HOSTILE_FRAGMENTS), st.text(ANY_CHAR, max_size=4)), max_size=8
).map("".join)
PRINTABLE = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf"), blacklist_characters="{}"
)
GOOD_TEXT = st.text(PRINTABLE, min_size=1, max_size=80).map(str.strip).filter(bool)
GOOD_NAME = (
    st.text(
        st.sampled_from(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -éüßΩж日本🎉'\""
        ),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(lambda text: any(char.isalpha() for char in text))
)
SNAKE_METHOD = st.from_regex(SNAKE_RE, fullmatch=True).filter(lambda name: len(name) <= 30)
RESERVED_METHOD = st.sampled_from(
    sorted(CONTRACT_METHOD_NAMES | MCP_RESERVED_TOOL_NAMES | {"match", "if", "a___b", "x__y"})
)
GOOD_METHOD = st.one_of(st.just("run"), SNAKE_METHOD, SNAKE_METHOD, SNAKE_METHOD, RESERVED_METHOD)
GOOD_METHODS = st.tuples(
    st.lists(GOOD_METHOD, min_size=1, max_size=4), st.sampled_from([",", ", ", " , "])
).map(lambda parts: parts[1].join(parts[0]))
GOOD = {
    "plugin_name": GOOD_NAME,
    "plugin_slug": st.from_regex(SLUG_RE, fullmatch=True).filter(lambda s: len(s) <= 40),
    "package_name": st.from_regex(SNAKE_RE, fullmatch=True).filter(lambda s: len(s) <= 40),
    "runner_name": st.from_regex(PASCAL_RE, fullmatch=True).filter(lambda s: len(s) <= 40),
    "description": GOOD_TEXT,
    "methods": GOOD_METHODS,
    "author_name": GOOD_TEXT,
    "author_email": st.from_regex(
        r"[a-z][a-z0-9.+'-]{0,10}[a-z]@[a-z]{1,8}\.[a-z]{2,4}", fullmatch=True
    ),
    **{name: st.sampled_from(choices) for name, choices in CHOICES.items()},
}
# Derived names are left to their defaults more often: that is how the template is used.
OMIT_PERCENT = {"plugin_slug": 70, "package_name": 75, "runner_name": 75}


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, str]:
    hostile_percent = draw(st.sampled_from([0, 0, 5, 15, 40]))
    answers: dict[str, str] = {}
    for variable, good in GOOD.items():
        if draw(st.integers(0, 99)) < OMIT_PERCENT.get(variable, 30):
            continue
        if draw(st.integers(0, 99)) < hostile_percent:
            answers[variable] = draw(HOSTILE_TEXT)
        else:
            answers[variable] = draw(good)
    return answers


# Counting ------------------------------------------------------------------------------------

STATS: dict[str, Counter[str]] = {"outcomes": Counter(), "rules": Counter()}


@pytest.fixture(scope="module", autouse=True)
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    outcomes, rules = STATS["outcomes"], STATS["rules"]
    summary = {
        "examples": sum(outcomes.values()),
        "outcomes": dict(outcomes.most_common()),
        "refused_per_rule": dict(rules.most_common()),
    }
    path = tmp_path_factory.getbasetemp() / "generator_fuzz_report.json"
    path.write_text(json.dumps(summary, indent=2), "utf-8")
    print(f"\ngenerator fuzz: {json.dumps(summary)}\nreport: {path}")


# One answer set through the command line -----------------------------------------------------


def predict(answers: dict[str, str]) -> tuple[str, Any]:
    """What cookiecutter and the rules should do: (outcome, detail)."""
    try:
        context = generate_context(
            context_file=str(TEMPLATE / "cookiecutter.json"),
            default_context={},
            extra_context=answers,
        )
    except ValueError as error:
        return "choice-refused", str(error)
    try:
        effective = dict(prompt_for_config(context, no_input=True))
    except Exception as error:  # what cookiecutter raises while evaluating an answer
        return "jinja-refused", error
    problems = check_answers(effective)
    if problems:
        return "rules-refused", problems
    return "rendered", effective


def run_cookiecutter(answers: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """The command line on ``answers``; a Rust render skips its cargo checks.

    The crate's build and tests are test_rust_flavor.py's: here the names, the files and the
    refusals are what varies.
    """
    config = workdir / "config.yaml"
    config.write_text(
        f'cookiecutters_dir: "{workdir / "cache"}"\nreplay_dir: "{workdir / "replay"}"\n', "utf-8"
    )
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--config-file", str(config)]
    command += ["-o", str(workdir / "out"), str(TEMPLATE)]
    command += [f"{key}={value}" for key, value in answers.items()]
    env = dict(os.environ)
    if answers.get("language") == "rust":
        env[SKIP_VARIABLE] = "1"
    return subprocess.run(
        command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, env=env
    )


def check_answer_set(answers: dict[str, str]) -> None:
    outcome, detail = predict(answers)
    with tempfile.TemporaryDirectory(prefix="jwp-fuzz-") as folder:
        workdir = Path(folder)
        result = run_cookiecutter(answers, workdir)
        output = result.stdout + result.stderr
        out = workdir / "out"
        made = sorted(path.name for path in out.iterdir()) if out.exists() else []
        context = f"answers={answers!r}\n{output}"

        STATS["outcomes"][outcome] += 1
        if outcome != "rendered":
            assert result.returncode != 0, context
            assert made == [], context
        if outcome == "choice-refused":
            variable = str(detail).split("choice variable ")[1].split(",")[0]
            assert f"provided for choice variable {variable}" in output, context
            STATS["rules"]["choice (cookiecutter)"] += 1
        elif outcome == "jinja-refused":
            kind = type(detail).__name__
            STATS["rules"][f"jinja: {kind} (cookiecutter)"] += 1
            if kind == "UndefinedVariableInTemplate":
                assert "Unable to render variable" in output, context
            else:
                assert kind in output, context
        elif outcome == "rules-refused":
            assert "Traceback" not in output, context
            for problem in detail:
                assert f"error: {problem}" in output, context
            for code in {problem.code for problem in detail}:
                STATS["rules"][code] += 1
        else:
            effective = detail
            assert result.returncode == 0, context
            assert made == [effective["plugin_slug"]], context
            project = out / effective["plugin_slug"]
            if effective["language"] == "rust":
                check_rust_project(project, effective, context)
                return
            assert "Protos compiled. smoke test passed" in result.stdout, context
            protos = project / "src" / effective["package_name"] / "protos"
            for method in split_methods(effective["methods"]):
                assert (protos / f"{method}_args_pb2.py").is_file(), context
                assert (protos / f"{method}_result_pb2.py").is_file(), context
            pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
            assert pyproject["project"]["description"] == effective["description"]
            assert pyproject["project"]["name"] == effective["plugin_slug"]


def check_rust_project(project: Path, effective: dict[str, str], context: str) -> None:
    protos = project / "protos"
    for method in split_methods(effective["methods"]):
        assert (protos / f"{method}_args.proto").is_file(), context
        assert (protos / f"{method}_result.proto").is_file(), context
    assert not (project / "pyproject.toml").exists(), context
    manifest = tomllib.loads((project / "Cargo.toml").read_text("utf-8"))
    assert manifest["package"]["name"] == effective["plugin_slug"], context
    assert manifest["lib"]["name"] == effective["package_name"], context
    assert manifest["package"]["description"] == effective["description"], context
    runner = (project / "src" / "runner.rs").read_text("utf-8")
    assert f"pub struct {effective['runner_name']}Runner {{" in runner, context


COMMON = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


@settings(COMMON, max_examples=DEFAULT_EXAMPLES)
@given(answer_sets())
def test_answer_sets_are_refused_cleanly_or_render_a_working_project(
    answers: dict[str, str],
) -> None:
    check_answer_set(answers)


@pytest.mark.full
@settings(COMMON, max_examples=FULL_EXAMPLES)
@given(answer_sets())
def test_many_answer_sets_are_refused_cleanly_or_render_a_working_project(
    answers: dict[str, str],
) -> None:
    check_answer_set(answers)
