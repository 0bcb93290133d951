"""The generated plugin's local host and conformance suite, tested against plugins that keep the
rules and plugins that break them on purpose.

One default render is imported in this process (its protos compiled by the post-generation
hook); the misbehaving plugins subclass its runner and break one rule each. For every one of
them the host must turn the failure into a result (nothing escapes), and the conformance suite
must fail with a message that starts with the broken rule's id.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import imported_render, render

RELEASE = threading.Event()  # lets the deliberately blocked plugin threads finish at the end


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    project = render(tmp_path_factory.mktemp("host"))
    names = [
        "",
        "runner",
        "framework.devtools.host",
        "framework.devtools.conformance",
        "framework.runtime.guard",
        "protos.run_args_pb2",
    ]
    try:
        with imported_render(project, "hello_world", names) as modules:
            run_args = modules["protos.run_args_pb2"].RunArgs
            yield SimpleNamespace(
                root=modules[""],
                runner=modules["runner"],
                host=modules["framework.devtools.host"],
                conformance=modules["framework.devtools.conformance"],
                guard=modules["framework.runtime.guard"],
                args=lambda name: run_args(name=name).SerializeToString(),
            )
    finally:
        RELEASE.set()


def job(pkg: SimpleNamespace, **values: Any) -> Any:
    return pkg.host.Job(**values)


def streaming(pkg: SimpleNamespace, kind: str) -> Any:
    return getattr(pkg.host.StreamingType, kind)


# Misbehaving plugins: each breaks one rule. -----------------------------------------------


def misbehaving(pkg: SimpleNamespace) -> dict[str, type]:
    base: type = pkg.runner.HelloWorldRunner
    plugin_error = pkg.root.PluginError

    class RaisesInConstructor(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            raise RuntimeError("constructor broke")

    class RaisesInLoad(base):  # type: ignore[misc,valid-type]
        def load(self, settings: bytes) -> None:
            raise RuntimeError("load broke")

    class RaisesInRun(base):  # type: ignore[misc,valid-type]
        def run(self, *args: Any) -> Any:
            raise ValueError("run broke")

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("__str__ fails too")

    class RaisesUnprintable(base):  # type: ignore[misc,valid-type]
        def run(self, *args: Any) -> Any:
            raise Unprintable()

    class RaisesInStream(base):  # type: ignore[misc,valid-type]
        def receive_stream(self) -> bytes | None:
            raise OSError("stream broke")

    class WrongTypes(base):  # type: ignore[misc,valid-type]
        def run(self, *args: Any) -> Any:
            return "not bytes"

        def receive_stream(self) -> Any:
            return 42

    class BlocksPastTimeout(base):  # type: ignore[misc,valid-type]
        def run(self, *args: Any) -> Any:
            RELEASE.wait(30)
            return super().run(*args)

        def receive_stream(self) -> bytes | None:
            RELEASE.wait(30)
            return None

    class EndlessStream(base):  # type: ignore[misc,valid-type]
        def receive_stream(self) -> bytes | None:
            return super().receive_stream() or b""

    class IgnoresCancel(base):  # type: ignore[misc,valid-type]
        def cancel(self) -> bool:
            return True

        def is_canceled(self) -> bool:
            return False

    class KeepsCancelFlag(base):  # type: ignore[misc,valid-type]
        def _start_job(self) -> None:
            self._chunks = None

    class SilentDefault(base):  # type: ignore[misc,valid-type]
        def run(self, args: bytes, metadata: dict[str, str], using: str | None) -> Any:
            return super().run(args, metadata, None)

    class DropsMetadata(base):  # type: ignore[misc,valid-type]
        def run(self, *args: Any) -> Any:
            return super().run(*args)[0], {}

    class LenientArgs(base):  # type: ignore[misc,valid-type]
        def run(self, args: bytes, metadata: dict[str, str], using: str | None) -> Any:
            try:
                return super().run(args, metadata, using)
            except plugin_error:
                return super().run(b"", metadata, using)

    result_type = importlib.import_module("hello_world.protos.run_result_pb2").RunResult

    class LastChunkIsAPiece(base):  # type: ignore[misc,valid-type]
        """Streams pieces only, as a stream written for V1's collect_stream() alone would."""

        def receive_stream(self) -> bytes | None:
            chunk = super().receive_stream()
            if chunk is None:
                return None
            piece = result_type.FromString(chunk)
            piece.ClearField("message")
            return bytes(piece.SerializeToString())

    return {
        cls.__name__: cls
        for cls in [
            LastChunkIsAPiece,
            RaisesInConstructor,
            RaisesInLoad,
            RaisesInRun,
            RaisesUnprintable,
            RaisesInStream,
            WrongTypes,
            BlocksPastTimeout,
            EndlessStream,
            IgnoresCancel,
            KeepsCancelFlag,
            SilentDefault,
            DropsMetadata,
            LenientArgs,
        ]
    }


def factory(pkg: SimpleNamespace, cls: type, *, guard: bool) -> Callable[[], Any]:
    if guard:
        return lambda: pkg.guard.guarded(cls, "HelloWorld")
    return cls


# (plugin, guarded by the template's guard?, rule the conformance suite must report)
BROKEN_RULES = [
    ("RaisesInConstructor", True, "constructor"),
    ("RaisesInConstructor", False, "constructor"),
    ("RaisesInLoad", True, "load"),
    ("RaisesInRun", True, "jobs"),
    ("RaisesInRun", False, "errors"),
    ("RaisesInStream", True, "jobs"),
    ("WrongTypes", True, "jobs"),
    ("WrongTypes", False, "jobs"),
    ("BlocksPastTimeout", True, "jobs"),
    ("BlocksPastTimeout", True, "timeout"),
    ("EndlessStream", True, "jobs"),
    ("IgnoresCancel", True, "cancel-stream"),
    ("IgnoresCancel", True, "cancel-flag"),
    ("KeepsCancelFlag", True, "pool"),
    ("SilentDefault", True, "unknown-using"),
    ("DropsMetadata", True, "metadata"),
    ("LenientArgs", True, "bad-args"),
    ("LastChunkIsAPiece", True, "last-chunk"),
]


@pytest.mark.parametrize(
    ("plugin", "guard", "rule"),
    BROKEN_RULES,
    ids=[f"{p}-{'guarded' if g else 'raw'}-{r}" for p, g, r in BROKEN_RULES],
)
def test_conformance_names_the_broken_rule(
    pkg: SimpleNamespace, plugin: str, guard: bool, rule: str
) -> None:
    cls = misbehaving(pkg)[plugin]
    subject = pkg.conformance.Subject(
        factory(pkg, cls, guard=guard),
        runner_class=cls,
        timeout_ms=1000,
        max_chunks=50,
        overrun_timeout_ms=100,
    )
    with pytest.raises(pkg.conformance.ConformanceError) as caught:
        pkg.conformance.RULES_BY_ID[rule].check(subject)
    message = str(caught.value)
    assert message.startswith(f"[{rule}] "), message
    assert "Broken: " in message


def test_the_generated_plugin_keeps_every_rule(pkg: SimpleNamespace) -> None:
    subject = pkg.conformance.Subject(pkg.root.load_multi_method_plugin)
    assert [str(error) for error in pkg.conformance.check_all(subject)] == []


def test_every_rule_is_broken_by_some_misbehaving_plugin_or_checked_here(
    pkg: SimpleNamespace,
) -> None:
    covered = {rule for _, _, rule in BROKEN_RULES}
    # Checked by the host tests below or by tests of their own plugins.
    covered |= {"schemas", "proto-texts", "using-none", "output-type", "collect", "client-stream"}
    # Broken by the feed plugins of tests/test_feed_rules.py.
    covered |= {"feed", "feed-refused", "feed-cancel"}
    assert covered == set(pkg.conformance.RULES_BY_ID)


# What the host does with each misbehaving plugin: a result, never an exception. -----------


@pytest.mark.parametrize(
    ("plugin", "guard", "kind", "status", "needle"),
    [
        ("RaisesInConstructor", False, "NONE", "FATAL_ERROR", "constructor broke"),
        ("RaisesInConstructor", True, "NONE", "FATAL_ERROR", "constructor broke"),
        ("RaisesInLoad", False, "NONE", "FATAL_ERROR", "load broke"),
        ("RaisesInRun", False, "NONE", "OTHER_ERROR", "plugin runner panicked: ValueError"),
        ("RaisesInRun", True, "NONE", "OTHER_ERROR", "ValueError in run(): run broke"),
        ("RaisesUnprintable", False, "NONE", "OTHER_ERROR", "Unprintable in run()"),
        ("WrongTypes", False, "NONE", "OTHER_ERROR", "run() returned str"),
        ("WrongTypes", True, "NONE", "OTHER_ERROR", "run() returned str"),
        ("BlocksPastTimeout", False, "NONE", "ERROR_AND_RETRY", "timeout error"),
    ],
)
def test_failures_become_results(
    pkg: SimpleNamespace, plugin: str, guard: bool, kind: str, status: str, needle: str
) -> None:
    host = pkg.host.Host(factory(pkg, misbehaving(pkg)[plugin], guard=guard), use_static=True)
    result = host.run(
        job(pkg, streaming_type=streaming(pkg, kind), timeout_ms=500, metadata={"trace": "1"})
    )
    assert result.status.name == status
    assert needle in result.output.decode()
    assert result.error is not None and needle in result.error
    if status == "ERROR_AND_RETRY":
        assert result.timed_out and result.metadata == {}
    else:
        assert result.metadata == {"trace": "1"}


@pytest.mark.parametrize(
    ("plugin", "guard", "end", "needle"),
    [
        ("RaisesInStream", False, "ERROR", "OSError"),
        ("RaisesInStream", True, "ERROR", "stream broke"),
        ("WrongTypes", False, "ERROR", "receive_stream() returned int"),
        ("BlocksPastTimeout", False, "IDLE_TIMEOUT", "stream idle timeout"),
        ("EndlessStream", True, "LIMIT", "exceeded 20 chunks"),
    ],
)
def test_a_broken_stream_ends_and_the_job_keeps_its_status(
    pkg: SimpleNamespace, plugin: str, guard: bool, end: str, needle: str
) -> None:
    host = pkg.host.Host(factory(pkg, misbehaving(pkg)[plugin], guard=guard))
    result = host.run(
        job(
            pkg,
            streaming_type=streaming(pkg, "RESPONSE"),
            timeout_ms=500,
            max_chunks=20,
            metadata={"trace": "1"},
        )
    )
    if end == "ERROR":
        # These fail at the first receive_stream(): before any chunk, the job fails, as
        # JobWorkerP fails a V2 stream (the native bridge's) that errs before its first chunk.
        assert result.status.name == "OTHER_ERROR" and result.stream_end is None
        assert needle in (result.error or "") and result.metadata == {"trace": "1"}
        return
    # As in JobWorkerP the status is fixed when the stream is handed off.
    assert result.status.name == "SUCCESS"
    assert result.stream_end.name == end
    assert not result.ok and needle in (result.error or "")
    assert result.trailer["trace"] == "1"
    if end == "IDLE_TIMEOUT":
        assert result.timed_out
        assert "stream idle timeout" in result.trailer[pkg.host.RUN_STREAM_ERROR_KEY]


def test_a_constructor_over_the_time_limit_is_a_fatal_error(pkg: SimpleNamespace) -> None:
    def slow() -> Any:
        RELEASE.wait(30)
        return pkg.root.load_multi_method_plugin()

    host = pkg.host.Host(slow, constructor_timeout=0.2)
    with pytest.raises(pkg.host.HostError, match=r"longer than 0\.2 s"):
        host.describe()
    started = time.perf_counter()
    result = host.run(job(pkg))
    assert result.status.name == "FATAL_ERROR"
    assert "constructor took longer than 0.2 s" in result.error
    assert time.perf_counter() - started < 5


# The host's rules, on plugins that record what the host did. ------------------------------


class Recorder:
    """Counts and remembers the calls of every instance of a plugin class."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[int, str, Any]] = []
        self.instances = 0

    def add(self, instance: int, event: str, value: Any = None) -> None:
        with self.lock:
            self.events.append((instance, event, value))

    def count(self, event: str) -> int:
        return sum(1 for _, name, _ in self.events if name == event)


def recording(pkg: SimpleNamespace, recorder: Recorder, base: type | None = None) -> type:
    parent: type = base or pkg.runner.HelloWorldRunner

    class Recording(parent):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            with recorder.lock:
                recorder.instances += 1
                self.number = recorder.instances
            recorder.add(self.number, "init")

        def load(self, settings: bytes) -> None:
            recorder.add(self.number, "load", settings)
            super().load(settings)

        def run(self, args: bytes, metadata: dict[str, str], using: str | None) -> Any:
            recorder.add(self.number, "run", using)
            return super().run(args, metadata, using)

        def begin_stream(self, args: bytes, metadata: dict[str, str], using: str | None) -> None:
            recorder.add(self.number, "begin_stream", using)
            super().begin_stream(args, metadata, using)

        def cancel(self) -> bool:
            recorder.add(self.number, "cancel", threading.current_thread().name)
            return bool(super().cancel())

        def collect_stream(self, chunks: Any, using: str | None) -> Any:
            recorder.add(self.number, "collect_stream", using)
            return super().collect_stream(chunks, using)

    return Recording


def test_use_static_false_builds_and_loads_an_instance_per_job(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder), settings=b"")
    for _ in range(3):
        assert host.run(job(pkg)).ok
    job_instances = {n for n, event, _ in recorder.events if event == "run"}
    assert len(job_instances) == 3
    assert recorder.count("load") == 3 and recorder.count("cancel") == 0
    # The schemas were read once, from a fresh instance, and kept for the enqueue guard of every
    # job (JobWorkerP's runner record); each job still built and loaded its own instance.
    assert host.stats.schema_reads == 1 and host.stats.constructed == 4


def test_a_pool_loads_once_and_cancels_between_jobs(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder), use_static=True)
    results = [host.run(job(pkg, args=pkg.args("Ada"))) for _ in range(5)]
    assert {r.output for r in results} == {results[0].output}
    assert len({n for n, event, _ in recorder.events if event == "run"}) == 1
    assert recorder.count("load") == 1
    assert recorder.count("cancel") == 4
    events = [event for _, event, _ in recorder.events if event in ("run", "cancel")]
    assert events == ["run", "cancel", "run", "cancel", "run", "cancel", "run", "cancel", "run"]
    assert host.stats.recycled == 4 and host.stats.detached == 0


def test_a_pool_of_two_serves_concurrent_jobs(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder), use_static=True, pool_size=2)
    running = [host.submit(job(pkg)) for _ in range(6)]
    assert all(r.result(10).ok for r in running)
    assert recorder.count("load") <= 2


def test_using_none_is_passed_on_as_none(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder))
    assert host.run(job(pkg)).ok
    assert host.run(job(pkg, streaming_type=streaming(pkg, "RESPONSE"))).ok
    assert [v for _, e, v in recorder.events if e in ("run", "begin_stream")] == [None, None]


def test_an_unknown_method_is_an_error_before_the_plugin_runs(pkg: SimpleNamespace) -> None:
    class TwoMethods(pkg.runner.HelloWorldRunner):  # type: ignore[misc,name-defined]
        def method_proto_map(self) -> Any:
            table = dict(super().method_proto_map())
            return {**table, "other": table["run"]}

    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder, TwoMethods))
    result = host.run(job(pkg, using="nope"))
    assert result.status.name == "OTHER_ERROR"
    assert result.error == "Unknown method 'nope' for plugin HelloWorld"
    assert recorder.count("run") == 0


def test_a_legacy_shaped_plugin_gets_any_method_name_with_a_warning(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder))
    result = host.run(job(pkg, using="nope"))
    assert [v for _, e, v in recorder.events if e == "run"] == ["nope"]
    assert "legacy-shaped" in result.warnings[0]
    # The plugin itself refuses the name: the host passed it on.
    assert result.status.name == "OTHER_ERROR" and "Unknown method 'nope'" in result.error


def with_output_type(pkg: SimpleNamespace, kind: str) -> type:
    output_type = getattr(pkg.root.StreamingOutputType, kind)

    class Typed(pkg.runner.HelloWorldRunner):  # type: ignore[misc,name-defined]
        def method_proto_map(self) -> Any:
            import dataclasses

            return {
                name: dataclasses.replace(schema, output_type=output_type)
                for name, schema in super().method_proto_map().items()
            }

    return Typed


@pytest.mark.parametrize(
    ("kind", "request_type", "refusal"),
    [
        ("NON_STREAMING", "RESPONSE", "runner does not support streaming"),
        ("NON_STREAMING", "INTERNAL", "runner does not support streaming"),
        ("STREAMING", "NONE", "runner does not support non-streaming"),
    ],
)
def test_the_enqueue_guard_follows_the_output_type(
    pkg: SimpleNamespace, kind: str, request_type: str, refusal: str
) -> None:
    host = pkg.host.Host(with_output_type(pkg, kind))
    with pytest.raises(pkg.host.EnqueueRejected, match=refusal):
        host.run(job(pkg, streaming_type=streaming(pkg, request_type)))


def test_the_streaming_type_not_the_output_type_picks_the_entry_point(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder))  # BOTH: either request is let through
    host.run(job(pkg))
    host.run(job(pkg, streaming_type=streaming(pkg, "RESPONSE")))
    host.run(job(pkg, streaming_type=streaming(pkg, "INTERNAL")))
    assert [e for _, e, _ in recorder.events if e in ("run", "begin_stream", "collect_stream")] == [
        "run",
        "begin_stream",
        "begin_stream",
        "collect_stream",
    ]


def test_internal_streaming_collects_on_a_fresh_never_loaded_instance(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder), use_static=True)
    result = host.run(
        job(
            pkg,
            args=pkg.args("Ada Lovelace"),
            streaming_type=streaming(pkg, "INTERNAL"),
            metadata={"m": "1"},
        )
    )
    assert result.ok and len(result.chunks) == 3
    (collector,) = [n for n, e, _ in recorder.events if e == "collect_stream"]
    streamer = next(n for n, e, _ in recorder.events if e == "begin_stream")
    assert collector != streamer
    assert not [e for n, e, _ in recorder.events if n == collector and e == "load"]
    ran = host.run(job(pkg, args=pkg.args("Ada Lovelace")))
    assert result.output == ran.output
    assert result.metadata == {}  # the collector's metadata is ignored, as the workflow does


def test_metadata_goes_in_and_comes_out(pkg: SimpleNamespace) -> None:
    host = pkg.host.Host(pkg.root.load_multi_method_plugin)
    ran = host.run(job(pkg, metadata={"trace": "7"}))
    assert ran.metadata == {"trace": "7"}
    streamed = host.run(
        job(pkg, metadata={"trace": "7"}, streaming_type=streaming(pkg, "RESPONSE"))
    )
    assert streamed.metadata == {} and streamed.trailer == {"trace": "7"}


def test_the_stream_loop_checks_is_canceled_after_every_chunk(pkg: SimpleNamespace) -> None:
    host = pkg.host.Host(pkg.root.load_multi_method_plugin, use_static=True)

    def cancel_at_second(running: Any, _: bytes) -> None:
        if running.chunk_count == 2:
            thread = threading.Thread(target=running.cancel_plugin)
            thread.start()
            thread.join()

    result = host.run(
        job(pkg, args=pkg.args("a b c d e f"), streaming_type=streaming(pkg, "RESPONSE")),
        cancel_at_second,
    )
    assert result.stream_end.name == "CANCELED" and len(result.chunks) == 2
    assert result.status.name == "SUCCESS"


def test_a_job_cancelled_before_it_starts_is_cancelled(pkg: SimpleNamespace) -> None:
    recorder = Recorder()
    host = pkg.host.Host(recording(pkg, recorder), use_static=True, pool_size=1)
    blocker = host.submit(job(pkg))
    blocker.result(10)
    gate = threading.Event()

    class Slow(pkg.runner.HelloWorldRunner):  # type: ignore[misc,name-defined]
        def run(self, *args: Any) -> Any:
            gate.wait(10)
            return super().run(*args)

    slow_host = pkg.host.Host(Slow, use_static=True, pool_size=1)
    first = slow_host.submit(job(pkg))
    waiting = slow_host.submit(job(pkg))
    time.sleep(0.1)
    waiting.cancel()
    gate.set()
    assert first.result(10).ok
    cancelled = waiting.result(10)
    assert cancelled.status.name == "CANCELLED"
    assert cancelled.error == "Job was cancelled before execution"


def test_cancelling_a_running_job_stops_waiting_for_it(pkg: SimpleNamespace) -> None:
    host = pkg.host.Host(misbehaving(pkg)["BlocksPastTimeout"], use_static=True)
    running = host.submit(job(pkg))
    time.sleep(0.1)
    started = time.perf_counter()
    running.cancel()
    result = running.result(5)
    assert time.perf_counter() - started < 1
    assert result.status.name == "CANCELLED"
    assert host.stats.detached == 1  # the instance is still inside run()


def test_a_timeout_drops_the_pooled_instance_and_the_pool_serves_the_next_job(
    pkg: SimpleNamespace,
) -> None:
    gate = threading.Event()
    calls = []

    class OnceSlow(pkg.runner.HelloWorldRunner):  # type: ignore[misc,name-defined]
        def run(self, *args: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                gate.wait(10)
            return super().run(*args)

    host = pkg.host.Host(OnceSlow, use_static=True)
    try:
        timed_out = host.run(job(pkg, timeout_ms=100))
        assert timed_out.status.name == "ERROR_AND_RETRY" and timed_out.timed_out
        assert timed_out.error.startswith("timeout error: run() exceeded the job timeout of 100 ms")
        assert host.run(job(pkg, timeout_ms=1000)).ok
        assert host.stats.detached == 1 and host.stats.loaded == 2
    finally:
        gate.set()
