"""A generated plugin run the way JobWorkerP's PYTHON_COMMAND runner runs a job.

For each streaming mode: the plugin's wheel goes into a fresh virtual environment holding
nothing else (the runner installs only the listed packages); the job's script and input data
come from the generated ``deploy/python_command/jobworkerp-client.sh`` (its dry run prints the
job args it would enqueue); the script is written to ``script.py``, the data to ``input.bin``,
and ``python -u script.py input.bin`` runs from another directory, as the runner does it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy_support import (
    METHODS,
    MODE_PARAMS,
    PACKAGE,
    Built,
    built_plugin,
    dry_run,
    greeting_bytes,
    option,
)
from tests.support import Venv

DEPLOY = Path("deploy") / "python_command"


@dataclass(frozen=True)
class Deployed:
    built: Built
    venv: Venv
    script: str
    example_input: str


@dataclass(frozen=True)
class Ran:
    code: int
    envelope: dict[str, Any]
    stderr: str


@pytest.fixture(scope="module", params=MODE_PARAMS)
def deployed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    built = built_plugin(request.param, tmp_path_factory)
    venv = Venv(tmp_path_factory.mktemp("python-command") / "venv")
    venv.install(built.wheel)
    # The job's method and args come from the plugin itself, as on the user's machine.
    commands = dry_run(
        built.project / DEPLOY / "jobworkerp-client.sh", RUNNER_ID="6", PYTHON=str(venv.python)
    )
    job_args = json.loads(option(commands[-1], "-a"))
    return Deployed(built, venv, job_args["script_content"], job_args["data_body"])


def run_job(deployed: Deployed, tmp_path: Path, data_body: str | None) -> Ran:
    """What the PYTHON_COMMAND runner does with one job's script and input data."""
    runner_tmp = tmp_path / "runner-tmp"
    worker_cwd = tmp_path / "worker-cwd"
    runner_tmp.mkdir()
    worker_cwd.mkdir()
    script = runner_tmp / "script.py"
    script.write_text(deployed.script, "utf-8")
    command = [str(deployed.venv.python), "-u", str(script)]
    if data_body is not None:
        (runner_tmp / "input.bin").write_text(data_body, "utf-8")
        command.append(str(runner_tmp / "input.bin"))
    done = subprocess.run(
        command,
        cwd=worker_cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line:\n{done.stdout}\n{done.stderr}"
    return Ran(done.returncode, json.loads(lines[0]), done.stderr)


def succeeded(
    deployed: Deployed, ran: Ran, using: str, message: str, metadata: dict[str, str]
) -> None:
    assert ran.stderr == ""
    assert ran.code == 0
    assert ran.envelope == {
        "status": "SUCCESS",
        "using": using,
        "result": deployed.built.result_json(message),
        "result_base64": base64.b64encode(greeting_bytes(message)).decode("ascii"),
        "metadata": metadata,
        "error": None,
    }


def test_the_job_environment_holds_only_the_plugin_and_protobuf(deployed: Deployed) -> None:
    listed = deployed.venv.run(
        "-c",
        "import importlib.metadata as m; print(sorted(d.metadata['Name'] for d in m.distributions()))",
    )
    assert listed.stdout.strip() == str(sorted(["hello-world", "protobuf"]))


def test_the_shipped_script_and_input_run_the_default_method(
    deployed: Deployed, tmp_path: Path
) -> None:
    assert deployed.script.splitlines()[1].startswith(f"from {PACKAGE}.framework.adapters")
    ran = run_job(deployed, tmp_path, deployed.example_input)
    source = {"source": "deploy/python_command/input.json"}
    succeeded(deployed, ran, "run", "Hello, Sample Text!", source)


@pytest.mark.parametrize("method", [*METHODS, None])
def test_each_method_answers_with_settings_and_metadata(
    deployed: Deployed, tmp_path: Path, method: str | None
) -> None:
    envelope: dict[str, Any] = {
        "args": {"name": "Grace"},
        "settings": {"greeting": "Hi"},
        "metadata": {"trace": "t-1"},
    }
    if method is not None:
        envelope["using"] = method
    ran = run_job(deployed, tmp_path, json.dumps(envelope))
    succeeded(deployed, ran, method or "run", "Hi, Grace!", {"trace": "t-1"})


def test_every_kind_of_args_field_is_read_from_json(deployed: Deployed, tmp_path: Path) -> None:
    args = {
        "name": "Ada",
        "count": "9007199254740993",
        "tags": ["a", "b"],
        "labels": {"k": "v"},
        "options": {"depth": 2, "children": [{"depth": 1}]},
        "level": "LEVEL_HIGH",
        "loud": True,
        "weight": 0.5,
        "blob": base64.b64encode(b"\x00\xff").decode("ascii"),
    }
    ran = run_job(deployed, tmp_path, json.dumps({"using": "run", "args": args}))
    succeeded(deployed, ran, "run", "Hello, Ada!", {})


def test_args_and_settings_may_come_as_base64_protobuf(deployed: Deployed, tmp_path: Path) -> None:
    envelope = {
        "using": "summarize_text",
        "args_base64": base64.b64encode(b"\x0a\x03Bob").decode("ascii"),  # name = "Bob"
        "settings_base64": base64.b64encode(b"\x0a\x02Yo").decode("ascii"),  # greeting = "Yo"
    }
    ran = run_job(deployed, tmp_path, json.dumps(envelope))
    succeeded(deployed, ran, "summarize_text", "Yo, Bob!", {})


def test_what_the_plugin_prints_goes_to_stderr(deployed: Deployed, tmp_path: Path) -> None:
    ran = run_job(deployed, tmp_path, json.dumps({"settings": {"greeting": "Noisy"}}))
    assert ran.code == 0
    assert ran.envelope["result"] == deployed.built.result_json("Noisy, world!")
    assert ran.stderr == "noise from load()\n"


GARBAGE = base64.b64encode(b"\xff\xff\xff\xff").decode("ascii")
FAILURES = {
    "unknown-method": ({"using": "nope"}, "OTHER_ERROR", "Unknown method 'nope'"),
    "args-of-wrong-type": ({"args": {"name": 5}}, "OTHER_ERROR", "args are not a valid RunArgs"),
    "unknown-args-field": ({"args": {"nam": "x"}}, "OTHER_ERROR", '"nam"'),
    "args-bytes-that-do-not-decode": (
        {"using": "summarize_text", "args_base64": GARBAGE},
        "OTHER_ERROR",
        "args are not a valid SummarizeTextArgs",
    ),
    "settings-that-do-not-decode": (
        {"settings_base64": GARBAGE},
        "FATAL_ERROR",
        "error in loading runner",
    ),
    "args-twice": ({"args": {}, "args_base64": ""}, "OTHER_ERROR", "not both"),
    "unknown-envelope-key": ({"arg": {"name": "x"}}, "OTHER_ERROR", "unknown envelope keys"),
    "negative-timeout": ({"timeout_ms": -1}, "OTHER_ERROR", "'timeout_ms'"),
    "not-json": ("{not json", "OTHER_ERROR", "cannot read the envelope"),
    "no-input-file": (None, "OTHER_ERROR", "no input file"),
}


@pytest.mark.parametrize("case", FAILURES, ids=list(FAILURES))
def test_a_failed_job_says_so_on_stdout_stderr_and_in_the_exit_code(
    deployed: Deployed, tmp_path: Path, case: str
) -> None:
    envelope, status, fragment = FAILURES[case]
    body = envelope if envelope is None or isinstance(envelope, str) else json.dumps(envelope)
    ran = run_job(deployed, tmp_path, body)
    assert ran.code == 1
    assert ran.envelope["status"] == status
    assert fragment in ran.envelope["error"]
    assert ran.envelope["result"] is None and ran.envelope["result_base64"] is None
    assert ran.stderr == f"{status}: {ran.envelope['error']}\n"
    # A known method keeps its name even when its args are refused; anything else is null.
    known = {"args-of-wrong-type": "run", "unknown-args-field": "run", "args-twice": "run"}
    known["args-bytes-that-do-not-decode"] = "summarize_text"
    known["settings-that-do-not-decode"] = "run"
    known["unknown-envelope-key"] = "run"
    known["negative-timeout"] = "run"
    assert ran.envelope["using"] == known.get(case)
