"""A generated plugin deployed on a real JobWorkerP server, as its README tells a user to do it.

The plugin (methods ``run`` and ``summarize_text``, streaming mode ``both``, the rich args of
``deploy_support``) is rendered and built once per session. Each deploy path is followed with
only the values the generated files say to set: ``PLUGIN_PACKAGE`` for PYTHON_COMMAND (script
and manifest), the ``command`` of ``runner-definition.toml`` / ``mcp-settings.toml`` for
MCP_SERVER. What the user sees (the client's printed status and result) is compared with what
the same job gives locally, the way the host-in-a-box tests run the adapters; where they
differ, the real server is right and the assertion says what it does.

A failing MCP call cannot come from args of the wrong type or unknown fields: the client
encodes the args JSON against the args proto JobWorkerP generated from the tool's schema and
refuses them itself (it exits 101). It comes from a map field, which that proto holds as a
string: JSON text that does not parse is the plugin's error (``isError``).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy_support import PACKAGE, Built, built_plugin
from tests.jobworkerp_server import CLIENT, JobWorkerP
from tests.support import Venv

pytestmark = pytest.mark.real_server

GARBAGE = base64.b64encode(b"\xff\xff\xff\xff").decode("ascii")
DEPLOY_PC = Path("deploy") / "python_command"
DEPLOY_MCP = Path("deploy") / "mcp"


@dataclass(frozen=True)
class Plugin:
    built: Built
    venv: Venv  # the wheel with its mcp extra: the MCP server's Python, and the local runs


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Plugin:
    built = built_plugin("both", tmp_path_factory)
    venv = Venv(tmp_path_factory.mktemp("real-server-venv") / "venv")
    venv.install(f"{built.wheel}[mcp]")
    return Plugin(built, venv)


@dataclass(frozen=True)
class Printed:
    """A ``job enqueue`` as the client prints it."""

    code: int
    status: str | None
    fields: dict[str, str]
    text: str


def printed(done: subprocess.CompletedProcess[str]) -> Printed:
    status = re.search(r"\| Status: (\w+)", done.stdout)
    fields = dict(re.findall(r"^(\w+): (.*)$", done.stdout, re.MULTILINE))
    return Printed(done.returncode, status and status.group(1), fields, done.stdout + done.stderr)


def enqueue(server: JobWorkerP, worker: str, args: Any, using: str | None = None) -> Printed:
    command = ["job", "enqueue", "-w", worker, "-a", json.dumps(args)]
    if using is not None:
        command += ["--using", using]
    return printed(server.client(*command, check=False))


# PYTHON_COMMAND ------------------------------------------------------------------------


def local_envelope(plugin: Plugin, tmp_path: Path, data_body: str) -> tuple[int, dict[str, Any]]:
    """The same job through the adapter, run locally as the PYTHON_COMMAND runner runs it."""
    script = (plugin.built.project / DEPLOY_PC / "script.py").read_text("utf-8")
    (tmp_path / "script.py").write_text(script, "utf-8")
    (tmp_path / "input.bin").write_text(data_body, "utf-8")
    done = subprocess.run(
        [str(plugin.venv.python), "-u", str(tmp_path / "script.py"), str(tmp_path / "input.bin")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def python_command_worker(plugin: Plugin, jobworkerp: JobWorkerP) -> str:
    """The worker of ``manifest.yaml``, applied with PLUGIN_PACKAGE set as its comment says."""
    manifest = plugin.built.project / DEPLOY_PC / "manifest.yaml"
    env = {"PLUGIN_PACKAGE": str(plugin.built.wheel), "WORKER": "pc-manifest"}
    done = subprocess.run(
        [str(CLIENT), "-a", jobworkerp.address, "manifest", "apply", str(manifest)],
        cwd=jobworkerp.scratch,
        env={**jobworkerp.client_env(), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pc-manifest" in done.stdout
    return "pc-manifest"


def test_the_python_command_script_runs_twice_and_leaves_no_logs(
    plugin: Plugin, jobworkerp: JobWorkerP
) -> None:
    script = plugin.built.project / DEPLOY_PC / "jobworkerp-client.sh"
    # PYTHON: the user's environment, where the plugin is installed (it derives the job's args).
    env = {"PLUGIN_PACKAGE": str(plugin.built.wheel), "PYTHON": str(plugin.venv.python)}
    for attempt in range(2):
        done = jobworkerp.run_script(script, env)
        assert done.returncode == 0, done.stdout + done.stderr + jobworkerp.log_tail()
        job = printed(done)
        assert job.status == "SUCCESS"
        envelope = json.loads(job.fields["output"])
        assert envelope["status"] == "SUCCESS"
        # The args derived from the rich args message (every field set, the name too).
        assert envelope["result"] == {"message": "Hello, Sample Text!", "delta": ""}
        assert ("replaced the worker" in done.stdout) == (attempt == 1)
    assert list(plugin.built.project.rglob("*.log")) == []
    # The script looked the runner up by name, as the README says to do it by hand.
    found = jobworkerp.client("runner", "find-by-name", "-n", "PYTHON_COMMAND", "--format", "json")
    worker = jobworkerp.client(
        "worker", "find-by-name", "-n", "hello-world-python-command", "--format", "json"
    )
    assert json.loads(worker.stdout)["runner_id"] == json.loads(found.stdout)["id"]
    assert json.loads(worker.stdout)["use_static"] == "true"


def test_the_manifest_refuses_to_apply_unedited(plugin: Plugin, jobworkerp: JobWorkerP) -> None:
    manifest = plugin.built.project / DEPLOY_PC / "manifest.yaml"
    done = jobworkerp.client("manifest", "apply", str(manifest), check=False)
    assert done.returncode != 0
    assert "'PLUGIN_PACKAGE' is referenced in YAML without a default" in done.stderr


CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    # case: (envelope, the envelope's status, what the result or error holds)
    "run": ({"using": "run", "args": {"name": "Ada"}}, "SUCCESS", "Hello, Ada!"),
    "summarize_text": (
        {"using": "summarize_text", "args": {"name": "Bo"}, "settings": {"greeting": "Hi"}},
        "SUCCESS",
        "Hi, Bo!",
    ),
    "no-using": ({"args": {"name": "Cy"}, "metadata": {"k": "v"}}, "SUCCESS", "Hello, Cy!"),
    "unknown-method": ({"using": "nope"}, "OTHER_ERROR", "Unknown method 'nope'"),
    "bad-args": ({"args": {"name": 5}}, "OTHER_ERROR", "args are not a valid RunArgs"),
    "plugin-failure": ({"settings_base64": GARBAGE}, "FATAL_ERROR", "error in loading runner"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_python_command_jobs_match_the_local_adapter(
    plugin: Plugin,
    jobworkerp: JobWorkerP,
    python_command_worker: str,
    tmp_path: Path,
    case: str,
) -> None:
    envelope, status, fragment = CASES[case]
    script = (plugin.built.project / DEPLOY_PC / "script.py").read_text("utf-8")
    body = json.dumps(envelope)
    job = enqueue(jobworkerp, python_command_worker, {"script_content": script, "data_body": body})
    # PYTHON_COMMAND reports the script's failure as SUCCESS: only the envelope tells.
    assert job.status == "SUCCESS", job.text
    real = json.loads(job.fields["output"])
    code, local = local_envelope(plugin, tmp_path, body)
    assert real == local
    assert real["status"] == status
    if status == "SUCCESS":
        assert "exit_code" not in job.fields  # 0, a default, is not printed
        assert real["result"]["message"] == fragment
        assert real["metadata"] == envelope.get("metadata", {})
    else:
        assert job.fields["exit_code"] == str(code) == "1"
        assert fragment in real["error"]
        assert job.fields["output_stderr"] == f"{status}: {real['error']}"


def test_a_python_version_uv_cannot_provide_shows_only_in_the_server_log(
    plugin: Plugin, jobworkerp: JobWorkerP
) -> None:
    settings = {"python_version": "2.7", "packages": {"list": [str(plugin.built.wheel)]}}
    jobworkerp.client(
        "worker", "create", "-n", "pc-py27", "-d", "x", "-r", "6", "-s", json.dumps(settings)
    )
    job = enqueue(jobworkerp, "pc-py27", {"script_content": "print(1)"})
    assert job.status == "FATAL_ERROR", job.text
    assert "DecodeError" in job.text  # all the client says
    assert "Failed to create venv" in jobworkerp.log_text()


# MCP_SERVER ----------------------------------------------------------------------------


def edited_definition(plugin: Plugin, folder: Path) -> Path:
    """The deploy/mcp folder with ``command`` edited, as the files tell the user to do."""
    target = folder / "mcp"
    target.mkdir(parents=True)
    for source in (plugin.built.project / DEPLOY_MCP).iterdir():
        text = source.read_text("utf-8")
        if source.suffix == ".toml":
            text = re.sub(
                r'^command = ".*"$',
                f'command = "{plugin.venv.python}"',
                text,
                count=1,
                flags=re.MULTILINE,
            )
        (target / source.name).write_text(text, "utf-8")
    return target


def mcp_text(job: Printed) -> dict[str, Any]:
    match = re.search(r"text: text: (.*)$", job.text, re.MULTILINE)
    assert match, job.text
    loaded: dict[str, Any] = json.loads(match.group(1))
    return loaded


@pytest.fixture(scope="module")
def mcp_worker(
    plugin: Plugin, jobworkerp: JobWorkerP, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The MCP script run twice: the runner is created once, the worker replaced."""
    folder = edited_definition(plugin, tmp_path_factory.mktemp("mcp-deploy"))
    for attempt in range(2):
        # PYTHON: the user's environment, where the plugin is installed (it derives the args:
        # every field of the rich args message, map fields as JSON text).
        done = jobworkerp.run_script(
            folder / "jobworkerp-client.sh", {"PYTHON": str(plugin.venv.python)}
        )
        assert done.returncode == 0, done.stdout + done.stderr + jobworkerp.log_tail()
        job = printed(done)
        assert job.status == "SUCCESS", job.text
        assert mcp_text(job) == {"message": "Hello, Sample Text!", "delta": ""}
        assert ("replaced the worker" in done.stdout) == (attempt == 1)
    assert list(folder.rglob("*.log")) == []
    worker = jobworkerp.client(
        "worker", "find-by-name", "-n", "hello-world-mcp", "--format", "json"
    )
    assert json.loads(worker.stdout)["use_static"] == "true"
    return "hello-world-mcp"


@pytest.mark.parametrize("method", ["run", "summarize_text"])
def test_every_method_is_a_tool(jobworkerp: JobWorkerP, mcp_worker: str, method: str) -> None:
    job = enqueue(jobworkerp, mcp_worker, {"name": "Ada"}, using=method)
    assert job.status == "SUCCESS", job.text
    assert mcp_text(job) == {"message": "Hello, Ada!", "delta": ""}
    assert "is_error" not in job.fields


def test_a_stream_request_gets_the_whole_result_as_one_chunk(
    jobworkerp: JobWorkerP, mcp_worker: str
) -> None:
    done = jobworkerp.client(
        "job", "enqueue-for-stream", "-w", mcp_worker, "--using", "run", "-a", '{"name": "Ada"}'
    )
    assert "(1 results received)" in done.stdout
    assert '"text": "{"message": "Hello, Ada!", "delta": ""}"' in done.stdout


def test_the_client_refuses_what_the_generated_args_proto_does_not_hold(
    jobworkerp: JobWorkerP, mcp_worker: str
) -> None:
    # The host in a box gives these to the plugin, which answers isError; the real client
    # never sends them.
    for args, using, reason in [
        ({"name": 5}, "run", "expected a string"),
        ({"nam": "x"}, "summarize_text", "unrecognized field name 'nam'"),
        ({"name": "Ada"}, None, "'using' required"),
    ]:
        job = enqueue(jobworkerp, mcp_worker, args, using=using)
        assert job.code != 0 and job.status is None
        assert reason in job.text


def test_a_plugin_error_is_a_successful_job_with_is_error(
    jobworkerp: JobWorkerP, mcp_worker: str
) -> None:
    job = enqueue(jobworkerp, mcp_worker, {"labels": "{not json"}, using="run")
    assert job.status == "SUCCESS", job.text
    assert job.fields.get("is_error") == "true", job.text
    assert "labels" in job.text


@pytest.fixture(scope="module")
def config_server(plugin: Plugin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobWorkerP]:
    """A second server whose MCP_CONFIG holds the edited mcp-settings.toml, with settings."""
    folder = edited_definition(plugin, tmp_path_factory.mktemp("mcp-config"))
    text = (folder / "mcp-settings.toml").read_text("utf-8")
    text = text.replace(
        f'args = ["-m", "{PACKAGE}", "mcp"]',
        f'args = ["-m", "{PACKAGE}", "mcp", "--settings", \'{{"greeting": "Hi"}}\']',
    )
    assert "--settings" in text
    server = JobWorkerP(tmp_path_factory.mktemp("jobworkerp-mcp-config"))
    try:
        server.mcp_config.write_text(text, "utf-8")
        server.restart()
        yield server
    finally:
        server.stop()


def test_the_mcp_config_entry_is_a_runner_with_settings(
    plugin: Plugin, config_server: JobWorkerP, tmp_path: Path
) -> None:
    folder = edited_definition(plugin, tmp_path)
    chosen = {"USING": "summarize_text", "ARGS": '{"name": "Ada"}'}
    done = config_server.run_script(folder / "jobworkerp-client.sh", chosen)
    assert done.returncode == 0, done.stdout + done.stderr + config_server.log_tail()
    assert mcp_text(printed(done)) == {"message": "Hi, Ada!", "delta": ""}
    # The script found the runner of MCP_CONFIG and created none.
    listed = config_server.client("runner", "list").stdout
    assert listed.count("HelloWorld") == 1


def test_ci_installs_what_the_real_server_needs() -> None:
    """``.ci/run`` on a fresh machine: protoc when it is missing; uv comes with the test set."""
    from tests.support import TEMPLATE

    ci = (TEMPLATE / ".ci" / "run").read_text("utf-8")
    assert "if ! command -v protoc" in ci
    assert "apt-get install -y -q protobuf-compiler" in ci
    assert 'CI="${CI:-true}"' in ci
    requirements = (TEMPLATE / "requirements" / "test.txt").read_text("utf-8").splitlines()
    assert any(line.startswith("uv>=") for line in requirements)


def test_bad_mcp_settings_fail_runner_create_with_the_reason_only_in_the_log(
    plugin: Plugin, jobworkerp: JobWorkerP, tmp_path: Path
) -> None:
    folder = edited_definition(plugin, tmp_path)
    definition = folder / "runner-definition.toml"
    text = definition.read_text("utf-8").replace(
        f'args = ["-m", "{PACKAGE}", "mcp"]',
        f'args = ["-m", "{PACKAGE}", "mcp", "--settings", \'{{"bogus": 1}}\']',
    )
    definition.write_text(text, "utf-8")
    done = jobworkerp.client(
        "runner", "create", "-n", "BadSettings", "-d", "x", "-r", "MCP_SERVER",
        "--definition", f"@{definition}", check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Internal server error" in done.stdout + done.stderr
    assert "bogus" not in done.stdout + done.stderr
    assert "bogus" in jobworkerp.log_text()


def check_settings(plugin: Plugin, settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(plugin.venv.python), "-m", PACKAGE, "check-settings", "--settings", settings],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_check_settings_says_before_registering_what_runner_create_hides(plugin: Plugin) -> None:
    """The local check the deploy files recommend (the plugin CLI's ``check-settings``)."""
    good = check_settings(plugin, '{"greeting": "Hello"}')
    assert good.returncode == 0, good.stderr
    assert len(good.stdout.splitlines()) == 1
    bad = check_settings(plugin, '{"bogus": 1}')
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "bogus" in bad.stderr


def quick_benchmark_rows(script: str) -> set[str]:
    """The first cells of the table ``benchmarks/<script> --quick`` prints (it must succeed)."""
    from tests.support import TEMPLATE

    done = subprocess.run(
        [sys.executable, str(TEMPLATE / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {line.split("|")[1].strip() for line in done.stdout.splitlines() if "|" in line}


@pytest.mark.full
def test_the_real_server_benchmark_prints_every_row() -> None:
    """``benchmarks/real_server.py --quick`` (tiny counts; no time is asserted)."""
    assert {
        "COMMAND true (baseline)",
        "PYTHON_COMMAND (use_static)",
        "MCP_SERVER (use_static)",
        "MCP_SERVER (no use_static)",
    } <= quick_benchmark_rows("real_server.py")


@pytest.mark.full
def test_the_feed_benchmark_prints_both_flavors() -> None:
    """``benchmarks/feed.py --quick``: one small fed job a flavor; no time is asserted."""
    assert {"Rust flavor", "bridge"} <= quick_benchmark_rows("feed.py")
