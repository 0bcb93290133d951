"""A generated plugin under the generated host: bad input, failing user code, cancellation, timeouts.

One plugin is rendered for the module (``tests/plugin_faults.py`` adds faults on demand to its
``runner.py``) and imported from its ``src`` folder. Every test drives it through the plugin's own
``framework/devtools/host.py`` on a pooled worker (``use_static=True``, one instance), provokes one fault,
checks the job's result, and then runs the next job: it must get its own correct answer. Where
JobWorkerP keeps the instance (errors, bad input) the next job runs on the very same instance;
where JobWorkerP drops it (a call past its time limit, a cancelled call) the pool builds a new
one.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import wrappers_pb2

from tests.plugin_faults import faulty_plugin

PACKAGE = "robust_plugin"
MIB = 1 << 20


class Kit:
    """The plugin's host, job and message types, and the checks every test repeats."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        host = importlib.import_module(f"{PACKAGE}.framework.devtools.host")
        self.Host, self.Job = host.Host, host.Job
        self.Status, self.Streaming, self.End = (
            host.ResultStatus,
            host.StreamingType,
            host.StreamEnd,
        )
        self.runner = importlib.import_module(f"{PACKAGE}.runner")
        self.RunArgs, self.RunResult = self.runner.RunArgs, self.runner.RunResult
        self.EchoArgs, self.EchoResult = self.runner.EchoArgs, self.runner.EchoResult

    def host(self, **options: Any) -> Any:
        return self.Host(
            self.module.load_multi_method_plugin, use_static=True, pool_size=1, **options
        )

    def job(
        self,
        name: str | None = None,
        *,
        raw: bytes | None = None,
        using: str = "run",
        stream: str | None = None,
        timeout_ms: int = 0,
        metadata: dict[str, str] | None = None,
    ) -> Any:
        args = raw if raw is not None else self.RunArgs(name=name or "").SerializeToString()
        streaming = self.Streaming[stream.upper()] if stream else self.Streaming.NONE
        return self.Job(
            args=args,
            using=using,
            streaming_type=streaming,
            timeout_ms=timeout_ms,
            metadata=metadata or {"job": name or "raw"},
        )

    def message(self, output: bytes) -> str:
        return str(self.RunResult.FromString(output).message)

    def deltas(self, chunks: list[bytes]) -> str:
        return "".join(self.RunResult.FromString(chunk).delta for chunk in chunks)

    def serve_next(self, host: Any, label: str) -> str:
        """The next job gets its own answer; returns the id of the instance that served it."""
        name = f"next-{label}"
        result = host.run(self.job(name, using="echo"))
        assert result.status == self.Status.SUCCESS, result.output
        assert self.EchoResult.FromString(result.output).message == f"Hello, {name}!"
        assert result.metadata["job"] == name
        return str(result.metadata["instance"])


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    with faulty_plugin(tmp_path_factory.mktemp("robust"), PACKAGE) as module:
        yield Kit(module)


@pytest.fixture
def pooled(kit: Kit) -> Iterator[Any]:
    with kit.host() as host:
        yield host


# Bytes that are not the args ----------------------------------------------------------------

BAD_ARGS = {
    "garbage": b"\xff\xfe\x00garbage\x80",
    "truncated": b"\x0a\x05abc",
    "huge-length-prefix": b"\x0a\xff\xff\xff\xff\x0f",
    "another-message": b"\x0a\x01x\x12\x01y",  # a RunResult: field 2 is not in RunArgs
    "wrong-wire-type": wrappers_pb2.Int64Value(value=5).SerializeToString(),
    "deeply-nested-groups": b"\x13" * 100_000 + b"\x14" * 100_000,
    "deeply-nested-messages": b"",  # filled in below
}


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        out.append((number & 0x7F) | (0x80 if number > 0x7F else 0))
        number >>= 7
        if not number:
            return bytes(out)


def _nested(depth: int) -> bytes:
    """Field 2 holding field 2 holding ... ``depth`` times: valid wire format, not RunArgs."""
    inner = b""
    for _ in range(depth):
        inner = b"\x12" + _varint(len(inner)) + inner
    return inner


BAD_ARGS["deeply-nested-messages"] = _nested(10_000)


def test_empty_bytes_are_the_default_args(kit: Kit, pooled: Any) -> None:
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job(raw=b""))
    assert result.status == kit.Status.SUCCESS
    assert kit.message(result.output) == "Hello, world!"
    streamed = pooled.run(kit.job(raw=b"", stream="response"))
    assert kit.deltas(streamed.chunks) == "Hello, world!"
    assert kit.serve_next(pooled, "after") == first


@pytest.mark.parametrize("kind", sorted(BAD_ARGS))
@pytest.mark.parametrize("stream", [None, "response", "internal"])
def test_bad_bytes_fail_the_job_and_keep_the_instance(
    kit: Kit, pooled: Any, kind: str, stream: str | None
) -> None:
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job(raw=BAD_ARGS[kind], stream=stream))
    assert result.status == kit.Status.OTHER_ERROR
    assert b"args are not a valid RunArgs" in result.output
    assert result.chunks == []
    assert kit.serve_next(pooled, "after") == first
    assert pooled.stats.detached == 0


@pytest.mark.full
def test_a_64_mib_payload(kit: Kit, pooled: Any) -> None:
    first = kit.serve_next(pooled, "before")
    name = "big|" + "x" * (64 * MIB)
    job = kit.job(name, using="echo")
    assert len(job.args) > 64 * MIB
    result = pooled.run(job)
    assert result.status == kit.Status.SUCCESS
    assert kit.EchoResult.FromString(result.output).message == f"Hello, {name}!"
    streamed = pooled.run(kit.job(name, using="echo", stream="response"))
    assert kit.deltas(streamed.chunks) == f"Hello, {name}!"
    collected = pooled.run(kit.job(name, using="echo", stream="internal"))
    assert kit.EchoResult.FromString(collected.output).message == f"Hello, {name}!"
    del result, streamed, collected
    garbage = pooled.run(kit.job(raw=b"\xff" * (64 * MIB)))
    assert garbage.status == kit.Status.OTHER_ERROR
    assert kit.serve_next(pooled, "after") == first


def test_deeply_nested_json_through_the_command_line(kit: Kit, tmp_path: Path) -> None:
    src = Path(str(kit.module.__file__)).parent.parent
    deep = tmp_path / "deep.json"
    deep.write_text('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}", "utf-8")
    for args in (f"@{deep}", "[" * 50_000 + "]" * 50_000):
        child = subprocess.run(
            [sys.executable, "-m", PACKAGE, "run", "--args", args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(src)},
        )
        assert child.returncode != 0
        assert "nested too deeply" in child.stderr
        assert "Traceback" not in child.stderr


def test_deeply_nested_json_for_a_recursive_message(kit: Kit) -> None:
    codec = importlib.import_module(f"{PACKAGE}.framework.devtools.codec")
    conformance = importlib.import_module(f"{PACKAGE}.framework.devtools.conformance")
    node = conformance.codec('syntax = "proto3";\nmessage Node {\n  Node child = 1;\n}\n')
    shallow: dict[str, Any] = {}
    deep: dict[str, Any] = {}
    for _ in range(3):
        shallow = {"child": shallow}
    for _ in range(100_000):
        deep = {"child": deep}
    assert node.decode(node.encode(shallow, "args")) == shallow
    with pytest.raises(codec.CodecError, match="too deep"):  # protobuf's depth limit
        node.encode(deep, "args")


# User code raising anything ------------------------------------------------------------------

EXCEPTIONS = [
    "SystemExit",
    "KeyboardInterrupt",
    "RecursionError",
    "MemoryError",
    "GeneratorExit",
    "StopIteration",
    "OddBaseError",
    "UnprintableError",
    "ValueError",
    "PluginError",
]


@pytest.mark.parametrize("exception", EXCEPTIONS)
def test_user_code_raising_in_run(kit: Kit, pooled: Any, exception: str) -> None:
    first = kit.serve_next(pooled, "before")
    job = kit.job(f"f|run|raise:{exception}")
    result = pooled.run(job)
    assert result.status == kit.Status.OTHER_ERROR
    if exception == "PluginError":
        assert result.output == b"refused on purpose"
        assert result.metadata == {"kept": "yes"}  # the map the plugin gave its error
    else:
        assert result.output.startswith(f"{exception} in run()".encode())
        assert result.metadata == dict(job.metadata)  # a converted exception: the job's map
    assert kit.serve_next(pooled, "after") == first


@pytest.mark.parametrize("exception", EXCEPTIONS)
def test_user_code_raising_in_begin_stream(kit: Kit, pooled: Any, exception: str) -> None:
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job(f"f|begin|raise:{exception}", stream="response"))
    assert result.status == kit.Status.OTHER_ERROR
    assert result.chunks == []
    expected = "refused on purpose" if exception == "PluginError" else exception
    assert expected.encode() in result.output
    assert kit.serve_next(pooled, "after") == first


@pytest.mark.parametrize("exception", EXCEPTIONS)
def test_user_code_raising_in_receive_stream(kit: Kit, pooled: Any, exception: str) -> None:
    """JobWorkerP logs the error and ends the stream; the job's status was fixed at hand-off."""
    first = kit.serve_next(pooled, "before")
    name = f"f|chunk1|raise:{exception}"
    result = pooled.run(kit.job(name, stream="response"))
    assert result.status == kit.Status.SUCCESS
    assert result.stream_end == kit.End.ERROR
    assert kit.deltas(result.chunks) == "Hello, "  # the one chunk made before the fault
    expected = "refused on purpose" if exception == "PluginError" else exception
    assert expected in " ".join(result.warnings)
    assert kit.serve_next(pooled, "after") == first


@pytest.mark.parametrize("exception", EXCEPTIONS)
def test_user_code_raising_before_the_first_chunk(kit: Kit, pooled: Any, exception: str) -> None:
    """A stream that fails before its first chunk fails the job, as JobWorkerP fails a V2
    stream (the native bridge's) that errs before any chunk; never a successful empty stream."""
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job(f"f|chunk0|raise:{exception}", stream="response"))
    assert result.status == kit.Status.OTHER_ERROR
    assert result.chunks == [] and result.stream_end is None and result.trailer is None
    expected = "refused on purpose" if exception == "PluginError" else exception
    assert expected.encode() in result.output
    assert kit.serve_next(pooled, "after") == first


@pytest.mark.parametrize("exception", EXCEPTIONS)
def test_user_code_raising_in_collect_stream(kit: Kit, pooled: Any, exception: str) -> None:
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job(f"f|collect|raise:{exception}", stream="internal"))
    assert result.status == kit.Status.OTHER_ERROR
    expected = "refused on purpose" if exception == "PluginError" else exception
    assert expected.encode() in result.output
    assert kit.serve_next(pooled, "after") == first


@pytest.mark.parametrize("returned", ["none", "text", "list", "triple", "bad-map"])
def test_run_returning_the_wrong_type(kit: Kit, pooled: Any, returned: str) -> None:
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job(f"f|return|{returned}"))
    assert result.status == kit.Status.OTHER_ERROR
    assert b"run() returned" in result.output
    assert kit.serve_next(pooled, "after") == first


@pytest.mark.parametrize("exception", ["SystemExit", "KeyboardInterrupt", "MemoryError"])
def test_load_raising_fails_the_job_and_a_good_worker_still_serves(
    kit: Kit, exception: str
) -> None:
    settings = kit.runner.Settings(greeting=f"x|load|raise:{exception}").SerializeToString()
    with kit.host(settings=settings) as broken:
        result = broken.run(kit.job("job"))
    assert result.status == kit.Status.FATAL_ERROR
    assert b"error in loading runner" in result.output
    assert exception.encode() in result.output
    with kit.host() as good:
        kit.serve_next(good, "after")


@pytest.mark.parametrize("exception", ["SystemExit", "KeyboardInterrupt", "RecursionError"])
def test_a_constructor_raising(kit: Kit, monkeypatch: pytest.MonkeyPatch, exception: str) -> None:
    with kit.host() as host:
        monkeypatch.setenv("ROBUST_CONSTRUCTOR_FAULT", f"raise:{exception}")
        plugin = kit.module.load_multi_method_plugin()  # never raises
        assert plugin.name() == "RobustPlugin"
        result = host.run(kit.job("job"))
        assert result.status == kit.Status.FATAL_ERROR
        assert exception.encode() in result.output
        monkeypatch.delenv("ROBUST_CONSTRUCTOR_FAULT")
        kit.serve_next(host, "after")


# Cancellation ------------------------------------------------------------------------------


def test_cancel_during_run(kit: Kit, pooled: Any) -> None:
    """A cancelled run() goes on in its thread (V1 cannot see the token); the pool moves on."""
    first = kit.serve_next(pooled, "before")
    kit.runner.STARTED.clear()
    kit.runner.FINISHED.clear()
    running = pooled.submit(kit.job("c|run|wait:1500"))
    assert kit.runner.STARTED.wait(10)
    running.cancel()
    result = running.result(10)
    assert result.status == kit.Status.CANCELLED
    assert b"cancelled during run()" in result.output
    second = kit.serve_next(pooled, "while-the-old-call-runs")
    assert second != first
    assert pooled.stats.detached == 1
    # once the abandoned call is over, its answer reaches no one
    assert kit.runner.FINISHED.wait(10)
    assert kit.serve_next(pooled, "after") == second


def test_cooperative_cancel_during_a_stream_keeps_the_instance(kit: Kit, pooled: Any) -> None:
    """cancel() between two chunks: the plugin stops streaming, and the next job is served."""
    first = kit.serve_next(pooled, "before")

    def cancel_after_first(running: Any, chunk: bytes) -> None:
        assert running.cancel_plugin() is True

    result = pooled.run(kit.job("c a b c d|gap|sleep:10", stream="response"), cancel_after_first)
    assert result.status == kit.Status.SUCCESS
    assert result.stream_end == kit.End.CANCELED
    assert kit.deltas(result.chunks) == "Hello, "
    assert kit.serve_next(pooled, "after") == first
    assert pooled.stats.detached == 0


def test_cancel_during_a_stream_from_another_thread(kit: Kit, pooled: Any) -> None:
    kit.serve_next(pooled, "before")
    second_chunk = threading.Event()

    def on_chunk(running: Any, chunk: bytes) -> None:
        if running.chunk_count == 2:
            second_chunk.set()

    name = "c a b c d e f g|gap|sleep:200"
    running = pooled.submit(kit.job(name, stream="response"), on_chunk)
    assert second_chunk.wait(10)
    running.cancel()
    result = running.result(10)
    # The token stops the stream loop; if no call held the instance, cancel() reached the plugin
    # first and is_canceled() ended the stream. Either way the stream stopped early.
    assert (result.status, result.stream_end) in {
        (kit.Status.CANCELLED, kit.End.TOKEN),
        (kit.Status.SUCCESS, kit.End.CANCELED),
    }
    assert 2 <= len(result.chunks) < 9
    # every chunk it got is a piece of its own answer, in order
    assert f"Hello, {name}!".startswith(kit.deltas(result.chunks))
    kit.serve_next(pooled, "after")


def test_a_job_cancelled_before_it_starts(kit: Kit, pooled: Any) -> None:
    first = kit.serve_next(pooled, "before")
    kit.runner.STARTED.clear()
    busy = pooled.submit(kit.job("b|run|wait:300"))
    assert kit.runner.STARTED.wait(10)
    waiting = pooled.submit(kit.job("queued"))  # the pool of one is busy
    waiting.cancel()
    assert waiting.result(10).status == kit.Status.CANCELLED
    assert busy.result(10).status == kit.Status.SUCCESS
    assert kit.serve_next(pooled, "after") == first


# Timeouts ------------------------------------------------------------------------------------


def test_run_past_its_timeout(kit: Kit, pooled: Any) -> None:
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job("t|run|sleep:2000", timeout_ms=100))
    assert result.status == kit.Status.ERROR_AND_RETRY
    assert result.timed_out
    assert pooled.stats.detached == 1  # JobWorkerP drops a static V1 instance that overran
    second = kit.serve_next(pooled, "after")
    assert second != first


def test_begin_stream_past_its_timeout(kit: Kit, pooled: Any) -> None:
    kit.serve_next(pooled, "before")
    result = pooled.run(kit.job("t|begin|sleep:2000", stream="response", timeout_ms=100))
    assert result.status == kit.Status.ERROR_AND_RETRY
    assert result.chunks == []
    kit.serve_next(pooled, "after")


def test_a_stream_idle_past_its_timeout(kit: Kit, pooled: Any) -> None:
    kit.serve_next(pooled, "before")
    result = pooled.run(kit.job("t a b|gap|sleep:2000", stream="response", timeout_ms=100))
    assert result.stream_end == kit.End.IDLE_TIMEOUT
    assert result.timed_out
    assert "stream idle timeout" in (result.trailer or {}).get(
        "jobworkerp.plugin.run_stream_error", ""
    )
    kit.serve_next(pooled, "after")


def test_a_job_within_its_timeout_is_not_disturbed(kit: Kit, pooled: Any) -> None:
    first = kit.serve_next(pooled, "before")
    result = pooled.run(kit.job("t|run|sleep:10", timeout_ms=10_000))
    assert result.status == kit.Status.SUCCESS
    assert kit.message(result.output) == "Hello, t|run|sleep:10!"
    assert kit.serve_next(pooled, "after") == first


# Faults aimed at the whole process ------------------------------------------------------------

# The kinds of tests/plugin_faults.py that leave the process running the plugin usable. This host
# runs the plugin inside the test process, so the kinds that end it (abort, _exit, segfault, C
# recursion), spin a thread forever (loop) or copy it (fork, fork_exit) run only in the native
# bridge's real-server lane (tests/test_bridge_faults.py), where they hit a worker process.
PROCESS_FAULTS = [
    "environ",
    "close_fds",
    "big:8",
    "burn:50",
]


@pytest.mark.parametrize("what", PROCESS_FAULTS)
def test_process_faults_an_in_process_host_survives(
    kit: Kit, pooled: Any, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """The job gets its own answer and the instance serves the next job; damage is undone."""
    first = kit.serve_next(pooled, "before")
    monkeypatch.setenv("PATH", os.environ["PATH"])  # restored after the test
    saved = os.dup(1), os.dup(2)
    try:
        result = pooled.run(kit.job(f"p|run|{what}"))
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    if what == "environ":
        assert os.environ["PATH"] == "/nonexistent"  # the fault did happen
    assert result.status == kit.Status.SUCCESS, result.output
    message = kit.message(result.output)
    assert message.startswith(f"Hello, p|run|{what}!")
    extra = int(what[4:]) * MIB if what.startswith("big:") else 0
    assert len(message) == len(f"Hello, p|run|{what}!") + extra
    assert kit.serve_next(pooled, "after") == first


# The adapters' own job runner (adapters/jobs.py), without the development host ---------------


def python_command(kit: Kit, tmp_path: Path, envelope: dict[str, Any]) -> tuple[int, Any]:
    """The PYTHON_COMMAND script's run, as the runner starts it: a child process."""
    src = Path(str(kit.module.__file__)).parent.parent
    data = tmp_path / "input.json"
    data.write_text(json.dumps(envelope), "utf-8")
    adapter = f"{PACKAGE}.framework.adapters.python_command"
    script = f"from {PACKAGE} import PLUGIN\nfrom {adapter} import main\nmain(PLUGIN)\n"
    child = subprocess.run(
        [sys.executable, "-c", script, str(data)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(src)},
        timeout=60,
    )
    return child.returncode, json.loads(child.stdout)


def test_the_python_command_adapter_times_a_job_out(kit: Kit, tmp_path: Path) -> None:
    code, envelope = python_command(
        kit, tmp_path, {"args": {"name": "t|run|sleep:5000"}, "timeout_ms": 100}
    )
    assert (code, envelope["status"]) == (1, "ERROR_AND_RETRY")
    assert "timeout" in envelope["error"] and envelope["result"] is None


def test_the_python_command_adapter_reports_what_user_code_raises(kit: Kit, tmp_path: Path) -> None:
    code, envelope = python_command(kit, tmp_path, {"args": {"name": "f|run|raise:ValueError"}})
    assert (code, envelope["status"]) == (1, "OTHER_ERROR"), envelope
    assert envelope["error"].startswith("ValueError in run()")  # the guard converted it
    code, envelope = python_command(kit, tmp_path, {"args": {"name": "after the failure"}})
    assert (code, envelope["status"]) == (0, "SUCCESS"), envelope
