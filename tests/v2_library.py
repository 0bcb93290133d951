"""Real-server scenarios for any V2 plugin library (``.so``): the bridge's and the Rust flavor's.

``register()`` copies a built library into a test folder and registers it with ``runner create
-r PLUGIN`` under a given runner name; ``static_worker()`` creates a ``use_static`` worker with
settings on it (results stored, so that a failed job's error text and a stream's status can be
read back). ``Worker`` runs jobs through ``jobworkerp-client`` and turns what it prints into an
``Outcome``: the job's status, its result fields or its stream's chunks, and the error text.
``scenarios()`` runs the named scenarios every plugin of the template answers the same way.

What the client decides itself: it encodes the args JSON against the method's args proto, so
args of the wrong type or with unknown fields never reach the server, nor does a method the
runner lacks (``Method 'nope' not found``); ``job enqueue`` without ``--using`` picks the only
method of a one-method runner and refuses on a runner with several. ``function call -w WORKER``
sends a job with no method at all, which the plugin maps to its default method. Such a refusal
is an ``Outcome`` with no status and the client's message as its error. The server's own
encoding of ``function call`` args refuses the same values.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.jobworkerp_server import JobWorkerP

# Output types of a method, as ``runner find-by-name --format json`` does not print them:
# the scenario's caller says which methods stream.
RUN = "run"
STREAM = "stream"

# A job's args name that the slow edit of a plugin's work function sleeps on (3 s).
SLOW_NAME = "slow:3s"
TIMEOUT_MS = 500
# The job after an overrun must not wait for it: the sleep is 3 s.
QUICK_SECONDS = 2.5
# How long a stored result may take to appear after the client has the job's answer.
STORED_WAIT_SECONDS = 10


@dataclass(frozen=True)
class Outcome:
    """One job as the client and the stored result tell it; ``seconds`` is not compared."""

    status: str | None  # a ResultStatus name; None when the client refused to send the job
    result: dict[str, str] | None = None  # a plain job's result fields, as printed
    chunks: list[dict[str, Any]] | None = None  # a stream's chunks, in order
    error: str | None = None  # the stored error text, or the client's refusal
    seconds: float = field(default=0.0, compare=False)

    def normal(self) -> dict[str, Any]:
        """The outcome without its time: what two plugins answering alike share."""
        found = asdict(self)
        del found["seconds"]
        return found


def register(server: JobWorkerP, library: Path, folder: Path, runner: str) -> str:
    """Register a copy of ``library`` as ``runner``; returns the runner's id.

    The copy is in a folder of the test's, not in ``PLUGINS_RUNNER_DIR``: a server restarted by
    another test would register it there again under its own ``name()``, which another runner
    of the session (the MCP one of the same plugin) may already have.
    """
    copy = folder / f"{runner}-{library.name}"
    shutil.copy(library, copy)
    server.client(
        "runner", "create", "-n", runner, "-d", "test", "-r", "PLUGIN", "--definition", str(copy)
    )
    return runner_id(server, runner)


def runner_id(server: JobWorkerP, runner: str) -> str:
    found = server.client("runner", "find-by-name", "-n", runner, "--format", "json").stdout
    return str(json.loads(found)["id"])


def runner_record(server: JobWorkerP, runner: str) -> str:
    """The runner as ``find-by-name`` prints it (card format: it names the output types)."""
    return server.client("runner", "find-by-name", "-n", runner).stdout


def static_worker(
    server: JobWorkerP, runner: str, worker: str, settings: Mapping[str, Any]
) -> Worker:
    """A ``use_static`` worker of ``runner`` (an id) with ``settings``, its results stored."""
    server.client(
        "worker", "create", "-n", worker, "-d", "test", "-r", runner,
        "-s", json.dumps(settings), "--use-static", "--store-success", "--store-failure",
    )  # fmt: skip
    return Worker(server, worker)


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The client's own error: it panics on the first one with ``Err` value: <message>``."""
    found = re.search(r"Err` value: (.*)", done.stderr + done.stdout)
    message = found.group(1).strip() if found else (done.stderr + done.stdout).strip()
    # The methods it lists come in the order of a hash map: not part of the verdict.
    return re.sub(r"\. Available: \[.*\]$", "", message)


def job_id_of_stream(stdout: str) -> str:
    """The job id from a stream's ``x-job-id-bin`` header: a ``JobId`` message (field 1)."""
    found = re.search(r'x-job-id-bin: b"((?:[^"\\]|\\.)*)"', stdout)
    assert found, stdout
    data: bytes = ast.literal_eval(f'b"{found.group(1)}"')
    assert data[:1] == b"\x08", data
    value, shift = 0, 0
    for byte in data[1:]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return str(value)


def json_values(text: str) -> list[Any]:
    """The JSON values printed one after another (``--format json`` of a stream)."""
    decoder = json.JSONDecoder()
    values, index = [], 0
    text = text.strip()
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        values.append(value)
        while index < len(text) and text[index].isspace():
            index += 1
    return values


@dataclass(frozen=True)
class Worker:
    server: JobWorkerP
    name: str

    def _client(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        done = self.server.client(*args, check=False)
        return done, time.monotonic() - started

    def _stored(self, *args: str) -> dict[str, Any]:
        """The stored result ``job-result ARGS`` finds, waited for a little: the server answers
        a job before its result is written, so a busy machine may not have it yet (``find``
        then says "not found", ``list-by-job-id`` prints ``[]``)."""
        deadline = time.monotonic() + STORED_WAIT_SECONDS
        while True:
            printed = self.server.client("job-result", *args, "--format", "json").stdout
            missing = printed.startswith("job result not found") or printed.strip() == "[]"
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        found = json_values(printed)
        if len(found) == 1 and isinstance(found[0], list):
            found = found[0]  # a list of one result
        assert len(found) == 1, found
        record: dict[str, Any] = found[0]
        return record

    def _options(self, args: Any, using: str | None, timeout_ms: int | None) -> list[str]:
        options = ["-w", self.name, "-a", args if isinstance(args, str) else json.dumps(args)]
        if using is not None:
            options += ["--using", using]
        if timeout_ms is not None:
            options += ["-t", str(timeout_ms)]
        return options

    def run(self, args: Any, using: str | None, timeout_ms: int | None = None) -> Outcome:
        """``job enqueue``: the printed status and fields; a failure's stored error text."""
        done, seconds = self._client("job", "enqueue", *self._options(args, using, timeout_ms))
        status = re.search(r"\| Status: (\w+)", done.stdout)
        if done.returncode != 0 or status is None:
            return Outcome(None, error=refusal(done), seconds=seconds)
        if status.group(1) != "SUCCESS":
            result_id = re.search(r"Result ID: (\d+)", done.stdout)
            assert result_id, done.stdout
            stored = self._stored("find", "-i", result_id.group(1))
            return Outcome(status.group(1), error=stored["output"], seconds=seconds)
        printed = done.stdout[status.end() :]
        fields = dict(re.findall(r"^(\w+): (.*)$", printed, re.MULTILINE))
        return Outcome("SUCCESS", result=fields, seconds=seconds)

    def stream(self, args: Any, using: str | None, timeout_ms: int | None = None) -> Outcome:
        """``job enqueue-for-stream``: the chunks printed; the status of the stored result."""
        options = self._options(args, using, timeout_ms)
        done, seconds = self._client("job", "enqueue-for-stream", *options, "--format", "json")
        if done.returncode != 0 or "x-job-id-bin" not in done.stdout:
            return Outcome(None, error=refusal(done), seconds=seconds)
        job_id = job_id_of_stream(done.stdout)
        chunks = json_values(done.stdout.split("\n", 2)[2])
        stored = self._stored("list-by-job-id", "-j", job_id)
        error = None if stored["status"] == "SUCCESS" else stored["output"]
        return Outcome(stored["status"], chunks=chunks, error=error, seconds=seconds)

    def call(self, args: Any, method: str | None = None) -> Outcome:
        """``function call -w WORKER[___METHOD]``: no method at all when ``method`` is None."""
        name = self.name if method is None else f"{self.name}___{method}"
        done, seconds = self._client("function", "call", "-w", name, "-a", json.dumps(args))
        output = re.search(r"\[output\] (.*)", done.stdout)
        status = re.search(r"\[status\] (\d+)", done.stdout)
        if done.returncode != 0 or output is None or status is None:
            return Outcome(None, error=refusal(done), seconds=seconds)
        names = ["SUCCESS", "ERROR_AND_RETRY", "FATAL_ERROR", "ABORT", "MAX_RETRY", "OTHER_ERROR"]
        code = int(status.group(1))
        if code != 0:
            return Outcome(names[code], error=output.group(1), seconds=seconds)
        return Outcome("SUCCESS", result=json.loads(output.group(1)), seconds=seconds)


def scenarios(
    worker: Worker,
    methods: Mapping[str, Sequence[str]],
    *,
    default: str = "run",
    slow: bool = True,
) -> dict[str, Outcome]:
    """The named scenarios on ``worker``, in this order (the timeout's pair comes last).

    ``methods`` maps each method to what its output type allows (``RUN``, ``STREAM``);
    ``default`` is the method the plugin runs when a job names none. With ``slow``, the plugin
    carries the slow edit: a job named ``SLOW_NAME`` sleeps 3 s in the default method.
    """
    found: dict[str, Outcome] = {}
    ada, lovelace = {"name": "Ada"}, {"name": "Ada Lovelace"}
    found["run"] = worker.run(ada, "run")
    found["no using (client)"] = worker.run(ada, None)
    found["no using (function call)"] = worker.call(ada)
    if STREAM in methods[default]:
        found["stream"] = worker.stream(lovelace, default)
    for method, kinds in methods.items():
        if RUN in kinds:
            found[f"plain {method}"] = worker.run(lovelace, method)
        if STREAM in kinds:
            found[f"streamed {method}"] = worker.stream(lovelace, method)
    found["unknown method"] = worker.run(ada, "nope")
    found["unknown method, streamed"] = worker.stream(ada, "nope")
    found["unknown method (function call)"] = worker.call(ada, "nope")
    found["args of the wrong type"] = worker.run({"name": 5}, default)
    found["unknown args field"] = worker.run({"nam": "Ada"}, default)
    found["args not JSON"] = worker.run("{name", default)
    if slow and RUN in methods[default]:
        found["timeout"] = worker.run({"name": SLOW_NAME}, default, TIMEOUT_MS)
        found["after the timeout"] = worker.run({"name": "next"}, default)
    if slow and STREAM in methods[default]:
        # A stream's time limit is the longest gap between chunks (fact sheet 3.6).
        found["timeout, streamed"] = worker.stream({"name": SLOW_NAME}, default, TIMEOUT_MS)
        found["after the streamed timeout"] = worker.stream({"name": "next"}, default)
    return found


def normal(outcomes: Mapping[str, Outcome]) -> dict[str, dict[str, Any]]:
    return {name: outcome.normal() for name, outcome in outcomes.items()}
