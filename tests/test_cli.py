"""``python -m <package>`` on freshly generated plugins, for each streaming mode.

The CLI runs as a user runs it, in a child process: ``describe``, ``run --args``, ``--stream``,
``--static --repeat 100``, the JSON output, and the one-line reason and exit status of a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_support import MODE_PARAMS
from tests.support import Venv, build_wheel, render


@pytest.fixture(scope="module", params=MODE_PARAMS)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp(request.param), streaming_mode=request.param)


@pytest.fixture(scope="module")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("default"))


def cli(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hello_world", *arguments],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def mode(project: Path) -> str:
    return project.parent.name.rstrip("0123456789")


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_describe(project: Path) -> None:
    readable = cli(project, "describe")
    assert readable.returncode == 0, readable.stderr
    kind = mode(project).upper()
    assert f"method run ({kind})" in readable.stdout
    data = json.loads(cli(project, "describe", "--json").stdout)
    assert data["name"] == "HelloWorld" and data["description"]
    # settings.proto's comment above the field is its description.
    (greeting,) = data["settings_schema"]["properties"].items()
    assert greeting[0] == "greeting" and greeting[1]["type"] == "string"
    assert greeting[1]["description"].startswith("Put in front of every answer")
    method = data["methods"]["run"]
    assert method["output_type"] == kind
    assert method["args_schema"]["title"] == "RunArgs"
    assert "message" in method["result_schema"]["properties"]


def test_run_with_json_args(project: Path) -> None:
    result = cli(
        project,
        "run",
        "--args",
        '{"name": "Ada"}',
        "--settings",
        '{"greeting": "Hi"}',
        "--metadata",
        "trace=7",
    )
    if mode(project) == "streaming":
        assert result.returncode == 2
        assert "runner does not support non-streaming" in one_line_error(result)
        assert "--stream" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert 'result:   {"message": "Hi, Ada!"}' in result.stdout
    assert 'metadata: {"trace": "7"}' in result.stdout


@pytest.mark.parametrize("stream", ["response", "internal"])
def test_run_a_stream(project: Path, stream: str) -> None:
    result = cli(project, "run", "--args", '{"name": "Ada Lovelace"}', "--stream", stream, "--json")
    if mode(project) == "non_streaming":
        assert result.returncode == 2
        assert "runner does not support streaming" in one_line_error(result)
        return
    assert result.returncode == 0, result.stderr
    (job,) = json.loads(result.stdout)["jobs"]
    assert job["status"] == "SUCCESS" and job["stream_end"] == "END"
    assert [chunk["delta"] for chunk in job["chunks"]] == ["Hello, ", "Ada ", "Lovelace!"]
    if stream == "internal":
        assert job["result"] == {"message": "Hello, Ada Lovelace!"}
    readable = cli(project, "run", "--args", '{"name": "Ada"}', "--stream", stream)
    assert '  chunk 1: {"delta": "Hello, "}' in readable.stdout


def test_a_pooled_instance_serves_a_hundred_jobs(project: Path) -> None:
    stream = [] if mode(project) == "non_streaming" else ["--stream"]
    result = cli(
        project,
        "run",
        "--static",
        "--repeat",
        "100",
        "--args",
        '{"name": "Ada"}',
        *stream,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["jobs"]) == 100 and data["identical"] is True
    assert {job["status"] for job in data["jobs"]} == {"SUCCESS"}
    assert data["host"]["load_calls"] == 1
    assert data["host"]["cancel_between_jobs"] == 99
    # one schema read for the worker, kept for the enqueue guard of all 100 jobs
    assert data["host"]["schema_reads"] == 1
    assert data["host"]["constructor_calls"] == 2
    readable = cli(project, "run", "--static", "--repeat", "100", *stream)
    assert "100 jobs: 100 succeeded, 0 failed; all outcomes identical" in readable.stdout
    assert "load() 1, cancel() between jobs 99" in readable.stdout


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--args", "{not json"], "args are not valid JSON"),
        (["--args", '{"nme": "Ada"}'], "args are not a valid RunArgs"),
        (["--using", "nope"], "unknown method 'nope'"),
        (["--metadata", "novalue"], "neither KEY=VALUE nor a JSON object"),
        (["--args", "@/no/such/file.json"], "cannot read args from /no/such/file.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    default_project: Path, arguments: list[str], reason: str
) -> None:
    project = default_project
    result = cli(project, "run", *arguments)
    assert result.returncode == 2
    assert reason in one_line_error(result)


def test_args_from_a_file(default_project: Path, tmp_path: Path) -> None:
    project = default_project
    (tmp_path / "args.json").write_text('{"name": "File"}')
    result = cli(project, "run", "--args", f"@{tmp_path / 'args.json'}", "--json")
    assert json.loads(result.stdout)["jobs"][0]["result"] == {"message": "Hello, File!"}


def test_a_proto_edited_after_the_build_is_named_as_a_stale_build(default_project: Path) -> None:
    project = default_project
    settings = project / "src" / "hello_world" / "protos" / "settings.proto"
    original = settings.read_text()
    settings.write_text(original.replace("string greeting = 1;", "int32 greeting = 1;"))
    try:
        result = cli(project, "run", "--settings", '{"greeting": 5}')
        entry = subprocess.run(
            [
                sys.executable,
                "-c",
                "import hello_world as h; print(h.load_multi_method_plugin().method_proto_map())",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(project / "src")},
        )
    finally:
        settings.write_text(original)
    assert result.returncode == 2, result.stdout
    line = one_line_error(result)
    assert "the compiled protos are out of date (settings.proto)" in line
    assert "reinstall with `pip install -e '.[dev]'`" in line
    assert "the compiled protos are out of date" in entry.stderr  # the entry point says it too


def test_check_settings_says_yes_or_no_in_one_line(default_project: Path) -> None:
    accepted = cli(default_project, "check-settings", "--settings", '{"greeting": "Hi"}')
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip() == "settings accepted: load() of HelloWorld succeeded"
    refused = cli(default_project, "check-settings", "--settings", '{"greting": "Hi"}')
    assert refused.returncode == 2
    assert "settings are not a valid HelloWorldSettings" in one_line_error(refused)


def test_the_wheel_alone_runs_every_command(tmp_path: Path) -> None:
    """protobuf is the only dependency: no grpcio-tools, no protoc, no dev extra."""
    project = render(tmp_path / "out")
    wheel = build_wheel(project, tmp_path / "dist")
    venv = Venv(tmp_path / "venv")
    venv.install(wheel)
    for arguments in (
        ["run", "--args", '{"name": "Ada"}'],
        ["run", "--args", "{}"],
        ["run", "--args", '{"name": "Ada"}', "--stream"],
        ["run", "--static", "--repeat", "100"],
        ["describe", "--json"],
        ["smoke"],
    ):
        result = subprocess.run(
            [venv.python, "-m", "hello_world", *arguments],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 0, (arguments, result.stderr)
        if arguments[0] == "describe":
            assert json.loads(result.stdout)["framework_version"] == "3.0.0"
    # Without the mcp extra, the hint names the local forms too, not only an index.
    mcp = subprocess.run(
        [venv.python, "-m", "hello_world", "mcp"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert mcp.returncode == 1
    assert "pip install -e '.[mcp]'" in mcp.stderr and "'<wheel file>[mcp]'" in mcp.stderr
    conformance = subprocess.run(
        [venv.python, "-c", "import hello_world.framework.devtools.conformance"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert conformance.stderr.strip().splitlines()[-1] == (
        "ImportError: the conformance checks need grpcio-tools (protoc), in the dev extra: "
        "pip install -e '.[dev]'"
    )


def test_a_stream_failing_before_or_after_its_first_chunk(
    default_project: Path, tmp_path: Path
) -> None:
    """Before its first chunk, a failing stream fails the job (OTHER_ERROR), as on JobWorkerP
    (tests/test_stream_errors.py compares with the real server); after it, the job stays
    SUCCESS and the line says the stream ended early, never "error: SUCCESS"."""
    project = tmp_path / "project"
    shutil.copytree(default_project, project)
    runner = project / "src" / "hello_world" / "runner.py"
    text = runner.read_text("utf-8")
    first, later = (
        "    pieces = words(greeting(runner.settings, args.name))\n",
        "        yield RunResult(delta=piece)\n",
    )
    assert text.count(first) == text.count(later) == 1, "runner.py changed: update this test"
    before = '    if args.name == "nobody":\n        raise ValueError("nobody to greet")\n'
    after = '        if args.name == "late failure":\n            raise ValueError("failed late")\n'
    runner.write_text(text.replace(first, before + first).replace(later, later + after), "utf-8")
    for how in ([], ["internal"]):
        failed = cli(project, "run", "--args", '{"name": "nobody"}', "--stream", *how)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        line = one_line_error(failed)
        assert line == "error: OTHER_ERROR: ValueError in receive_stream(): nobody to greet", line
        report = json.loads(
            cli(project, "run", "--args", '{"name": "nobody"}', "--stream", *how, "--json").stdout
        )
        (job,) = report["jobs"]
        assert (job["status"], job["chunks"]) == ("OTHER_ERROR", [])
    late = cli(project, "run", "--args", '{"name": "late failure"}', "--stream")
    assert late.returncode == 1, late.stdout + late.stderr
    line = one_line_error(late)
    assert line.startswith("error: the stream ended early after 1 chunk: ValueError"), line
    assert "failed late" in line and "SUCCESS" in line
