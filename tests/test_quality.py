"""Generated plugins are clean under the tools their users run: ruff and mypy --strict.

Every rendered project must pass ``ruff check``, ``ruff format --check`` and ``mypy`` (the
generated ``pyproject.toml`` sets ``strict = true`` and ``files = ["src", "tests"]``) exactly as
they come out of the template. The post-generation hook has compiled the protos in place, so the
``_pb2.pyi`` stubs that protoc's ``--pyi_out`` writes are there for mypy; protobuf and
types-protobuf come from the environment running the tests (requirements/test.txt).

The stubs come from protoc itself rather than mypy-protobuf: the same protoc (grpcio-tools)
writes the modules and their stubs in one call, so the build needs no protoc plugin and no
dependency beyond grpcio-tools, and these stubs are enough for mypy --strict.

The default lane renders a covering set (every value of every choice, every method-list shape);
the full lane renders every combination.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from tests.support import CHOICES, render, run

# Method lists: the default method alone, several methods, no ``run`` method at all, and names
# whose digits must sort the way ruff's import sorter sorts them (step9 before step10).
METHOD_LISTS = ["run", "run,summarize_text", "summarize_text", "step9,step10"]

# Each streaming mode, license, python_min and method list appears at least once.
COVERING = [
    {"streaming_mode": "both", "license": "MIT", "python_min": "3.10", "methods": "run"},
    {
        "streaming_mode": "non_streaming",
        "license": "Apache-2.0",
        "python_min": "3.11",
        "methods": "run,summarize_text",
    },
    {
        "streaming_mode": "streaming",
        "license": "BSD-3-Clause",
        "python_min": "3.12",
        "methods": "summarize_text",
    },
    {
        "streaming_mode": "both",
        "license": "Proprietary",
        "python_min": "3.13",
        "methods": "step9,step10",
    },
]


def every_combination() -> list[dict[str, str]]:
    """streaming_mode x license x python_min x METHOD_LISTS."""
    keys = ["streaming_mode", "license", "python_min"]
    return [
        {**dict(zip(keys, values, strict=True)), "methods": methods}
        for *values, methods in itertools.product(*(CHOICES[key] for key in keys), METHOD_LISTS)
    ]


def case_id(answers: dict[str, str]) -> str:
    return "-".join(answers[key] for key in ("streaming_mode", "license", "python_min", "methods"))


def mypy(project: Path) -> None:
    """mypy as the project configures it: strict, on src/ and tests/."""
    # The cache is the session's (MYPY_CACHE_DIR, tests/conftest.py): the stubs are shared.
    result = run([sys.executable, "-m", "mypy"], cwd=project)
    assert "Success: no issues found" in result.stdout


def check_quality(project: Path) -> None:
    """ruff check, ruff format --check and mypy --strict, each from the project's folder."""
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=project)
    run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=project)
    mypy(project)


def check_combination(tmp_path: Path, answers: dict[str, str]) -> None:
    project = render(tmp_path, **answers)
    package = answers.get("package_name", "hello_world")
    stubs = sorted(path.name for path in (project / "src" / package / "protos").glob("*_pb2.pyi"))
    methods = [name.strip() for name in answers["methods"].split(",")]
    expected = ["settings", *(f"{m}_{role}" for m in methods for role in ("args", "result"))]
    expected += [f"{m.strip()}_feed" for m in answers.get("feed_methods", "").split(",") if m]
    assert stubs == sorted(f"{stem}_pb2.pyi" for stem in expected)
    check_quality(project)


def test_configuration_is_strict(tmp_path: Path) -> None:
    """mypy's strictness and ruff's rule set come from the generated pyproject.toml."""
    project = render(tmp_path)
    text = (project / "pyproject.toml").read_text("utf-8")
    assert "[tool.mypy]\nstrict = true\n" in text
    assert 'files = ["src", "tests"]' in text
    assert 'select = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF"]' in text


# The default lane's mypy bite is tests/test_method_table.py's mistyped table row.
@pytest.mark.full
def test_mypy_finds_a_type_error(tmp_path: Path) -> None:
    """The check is real: a type error in the user's file makes mypy fail."""
    project = render(tmp_path)
    runner = project / "src" / "hello_world" / "runner.py"
    runner.write_text(runner.read_text("utf-8") + "\n\nWRONG: int = METHODS.name\n", "utf-8")
    with pytest.raises(AssertionError, match="Incompatible types in assignment"):
        mypy(project)


# The first case in the default lane; the rest, like every combination, in the full lane.
COVERING_LANES = [COVERING[0], *(pytest.param(a, marks=pytest.mark.full) for a in COVERING[1:])]


@pytest.mark.parametrize("answers", COVERING_LANES, ids=case_id)
def test_covering_set_is_lint_clean_and_typed(tmp_path: Path, answers: dict[str, str]) -> None:
    check_combination(tmp_path, answers)


@pytest.mark.full
@pytest.mark.parametrize("answers", every_combination(), ids=case_id)
def test_every_combination_is_lint_clean_and_typed(tmp_path: Path, answers: dict[str, str]) -> None:
    check_combination(tmp_path, answers)


# Feed methods: one beside a method without a feed (default lane), and the default method fed
# as the only method (full lane).
FEED_LANES = [
    {"streaming_mode": "both", "methods": "run,summarize_text", "feed_methods": "summarize_text"},
    pytest.param(
        {"streaming_mode": "streaming", "methods": "run", "feed_methods": "run"},
        marks=pytest.mark.full,
    ),
]


@pytest.mark.parametrize("answers", FEED_LANES, ids=lambda a: f"feed-{a['feed_methods']}")
def test_renders_with_feed_methods_are_lint_clean_and_typed(
    tmp_path: Path, answers: dict[str, str]
) -> None:
    check_combination(tmp_path, answers)
