"""The method table on real renders: a mistyped function fails mypy at its row, adding a method
takes its protos, one row and its functions, and the derived sample args make broken streams and
collects fail the generated conformance tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import render, run

PACKAGE = "hello_world"


def runner_file(project: Path) -> Path:
    return project / "src" / PACKAGE / "runner.py"


def mypy_output(project: Path) -> tuple[int, str]:
    child = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(project / ".mypy_cache"), "src"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return child.returncode, child.stdout


def generated_tests(project: Path) -> tuple[int, str]:

    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_conformance.py",
            "tests/test_runner.py",
            "-k",
            "not installed_entry_point",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
    )
    return child.returncode, child.stdout


def test_a_mistyped_function_fails_mypy_at_its_table_row(tmp_path: Path) -> None:
    project = render(tmp_path, methods="run,summarize_text")
    text = runner_file(project).read_text("utf-8")
    # answer_summarize_text's result type is wrong for its row.
    broken = text.replace(
        '    args: SummarizeTextArgs,\n) -> SummarizeTextResult:\n    """A placeholder answer',
        '    args: SummarizeTextArgs,\n) -> RunResult:\n    """A placeholder answer',
    ).replace("    return SummarizeTextResult(message=args.name)", "    return RunResult()", 1)
    assert broken != text
    runner_file(project).write_text(broken, "utf-8")
    code, output = mypy_output(project)
    assert code == 1, output
    row = next(
        number
        for number, line in enumerate(broken.splitlines(), 1)
        if line.strip() == "answer=answer_summarize_text,"
    )
    assert f'runner.py:{row}: error: Argument "answer" to "Method"' in output, output


def test_adding_a_method_is_protos_one_row_and_its_functions(tmp_path: Path) -> None:
    project = render(tmp_path, streaming_mode="non_streaming")
    protos = project / "src" / PACKAGE / "protos"
    (protos / "count_words_args.proto").write_text(
        'syntax = "proto3";\npackage hello_world;\n\n'
        "message CountWordsArgs {\n  string text = 1;\n}\n",
        "utf-8",
    )
    (protos / "count_words_result.proto").write_text(
        'syntax = "proto3";\npackage hello_world;\n\n'
        "message CountWordsResult {\n  int32 count = 1;\n}\n",
        "utf-8",
    )
    text = runner_file(project).read_text("utf-8")
    text = text.replace(
        "from .protos.run_args_pb2 import RunArgs\n",
        "from .protos.count_words_args_pb2 import CountWordsArgs\n"
        "from .protos.count_words_result_pb2 import CountWordsResult\n"
        "from .protos.run_args_pb2 import RunArgs\n",
    )
    text = text.replace(
        "\n\nMETHODS = MethodTable(",
        "\n\ndef answer_count_words(\n    runner: HelloWorldRunner,\n    args: CountWordsArgs,\n"
        ") -> CountWordsResult:\n    return CountWordsResult(count=len(args.text.split()))\n"
        "\n\nMETHODS = MethodTable(",
    )
    text = text.replace(
        "            answer=answer_run,\n        ),\n",
        "            answer=answer_run,\n        ),\n"
        '        Method(\n            "count_words",\n            CountWordsArgs,\n'
        "            CountWordsResult,\n            StreamingOutputType.NON_STREAMING,\n"
        '            "count_words: the number of words in the text.",\n'
        "            answer=answer_count_words,\n        ),\n",
    )
    runner_file(project).write_text(text, "utf-8")
    # What the build hook does on reinstall: compile the protos.
    run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; sys.path.insert(0, 'src/hello_world/framework/devtools');"
            " import protoc; protoc.compile_package(Path('src'), 'hello_world')",
        ],
        cwd=project,
    )
    code, output = generated_tests(project)
    assert code == 0, output
    code, output = mypy_output(project)
    assert code == 0, output
    counted = run(
        [
            sys.executable,
            "-m",
            PACKAGE,
            "run",
            "--using",
            "count_words",
            "--args",
            '{"text": "one two three"}',
            "--json",
        ],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": ""},
    )
    assert '"count": 3' in counted.stdout


@pytest.mark.parametrize(
    ("broken", "replacement"),
    [
        # Every chunk wrong: the stream ignores the name (empty args would not show it).
        (
            "    pieces = words(greeting(runner.settings, args.name))",
            "    pieces = words(greeting(runner.settings, ''))",
        ),
        # collect_stream() loses the last chunk.
        pytest.param(
            '    return RunResult(message="".join(chunk.delta for chunk in chunks))',
            '    return RunResult(message="".join(chunk.delta for chunk in chunks[:-1]))',
            marks=pytest.mark.full,  # the stream case stands for both in the default lane
        ),
    ],
    ids=["stream", "collect"],
)
def test_a_broken_stream_or_collect_fails_the_generated_conformance_tests(
    tmp_path: Path, broken: str, replacement: str
) -> None:
    project = render(tmp_path)
    text = runner_file(project).read_text("utf-8")
    assert text.count(broken) == 1
    runner_file(project).write_text(text.replace(broken, replacement), "utf-8")
    code, output = generated_tests(project)
    assert code == 1, output
    assert "[collect]" in output, output
