"""The native bridge (``native/``): rendered, built against a venv with the plugin, tested.

Each render gets a venv with the plugin installed (editable, as its README says), a
``Cargo.lock`` of the vendored ABI (see ``tests/native_support.py``), one ``cargo test`` run
(which builds the library and runs the crate's V2 test host against it and against the Python
runner), and ``cargo clippy -- -D warnings`` and ``cargo fmt --check``. The fault render
appends the robustness tests' faults to its runner and runs the crate's fault and soak tests.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.jobworkerp_server import JobWorkerP
from tests.native_support import (
    VENDOR,
    Bridge,
    cargo,
    cargo_run,
    prepare_bridge,
)
from tests.plugin_faults import ANSWERS as FAULT_ANSWERS
from tests.plugin_faults import FAULTS
from tests.support import TEMPLATE

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)

# Faults the robustness tests' set lacks, for the crate's fault tests (tests/faults.rs): a worker
# that ends itself (os._exit, abort, a segfault, a fork whose child keeps the channel open, an
# exit after writing to stderr), a changed PATH and closed stdout and stderr, a runaway loop,
# CPU-bound work, a listing of the worker's open descriptors; and every run answer carries the
# worker's pid in its metadata.
EXTRA_FAULTS = """

_fault_without_process_faults = fault


def fault(what):
    if what == "raise:os._exit":
        _os._exit(7)
    if what == "raise:os.abort":
        _os.abort()
    if what == "raise:segfault":
        import ctypes

        ctypes.string_at(0)
    if what == "raise:fork":
        child = _os.fork()
        if child == 0:
            _time.sleep(30)
            _os._exit(0)
        _os.write(2, f"forked {child}\\n".encode())
        _os._exit(9)
    if what == "raise:stderr":
        import sys

        print("first line", file=sys.stderr)
        print("second \\x1b[31mline", file=sys.stderr, flush=True)
        _os._exit(5)
    if what == "raise:fds":
        found = []
        for name in _os.listdir("/proc/self/fd"):
            try:
                found.append(f"{name}={_os.readlink('/proc/self/fd/' + name)}")
            except OSError:  # the listing's own descriptor, closed by now
                pass
        raise PluginError(" ".join(sorted(found)))
    if what == "hostile-env":
        _os.environ["PATH"] = "/nowhere"
        _os.close(1)
        _os.close(2)
        return
    if what == "loop":
        while True:
            pass
    if what.startswith("spin:"):
        end = _time.perf_counter() + int(what[5:]) / 1000
        while _time.perf_counter() < end:
            pass
        return
    _fault_without_process_faults(what)


_run_without_pid = RobustPluginRunner.run


def _run_with_pid(self, args, metadata, using):
    answer = _run_without_pid(self, args, metadata, using)
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[1], dict):
        return answer[0], {**answer[1], "pid": str(_os.getpid())}
    return answer


RobustPluginRunner.run = _run_with_pid
"""


def prepare(out: Path, *, faults: bool = False, **answers: str) -> Bridge:
    def add_faults(runner: Path) -> None:
        runner.write_text(runner.read_text("utf-8") + FAULTS + EXTRA_FAULTS, "utf-8")

    return prepare_bridge(out, add_faults if faults else None, **answers)


@pytest.fixture(scope="session")
def default_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    yield prepare(tmp_path_factory.mktemp("bridge-default"))


def _load_frames() -> ModuleType:
    """The framework's frame codec, loaded by path (it needs only the standard library)."""
    path = next(TEMPLATE.glob("*/src/*/framework/adapters/bridge_frames.py"))
    spec = importlib.util.spec_from_file_location("_bridge_frames_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def _protobuf_frames() -> tuple[Any, Any]:
    """``Request`` and ``Reply`` built by protobuf itself from the proto in the codec's docstring."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="frames_under_test.proto", package="frames_under_test", syntax="proto3"
    )
    for name, last in (("Request", "using"), ("Reply", "message")):
        message = file.message_type.add(name=name)
        entry = message.nested_type.add(name="MetadataEntry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
        message.field.add(name="kind", number=1, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
        message.field.add(
            name="payload", number=2, type=field.TYPE_BYTES, label=field.LABEL_OPTIONAL
        )
        message.field.add(
            name="metadata",
            number=3,
            type=field.TYPE_MESSAGE,
            label=field.LABEL_REPEATED,
            type_name=f".frames_under_test.{name}.MetadataEntry",
        )
        text = message.field.add(
            name=last, number=4, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL
        )
        if last == "using":  # proto3 `optional`: a synthetic oneof of its own
            message.oneof_decl.add(name="_using")
            text.oneof_index = 0
            text.proto3_optional = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return tuple(  # type: ignore[return-value]
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"frames_under_test.{name}"))
        for name in ("Request", "Reply")
    )


def test_the_frame_codec_agrees_with_protobuf() -> None:
    """The worker's hand-written codec reads and writes what protobuf does for the same proto.

    (The Rust side's prost messages meet the codec in every crate test that runs a job.)
    """
    frames = _load_frames()
    request_type, reply_type = _protobuf_frames()
    samples: list[dict[str, Any]] = [
        {"kind": 0, "payload": b"", "metadata": {}, "using": None},
        {"kind": 1, "payload": b"\x00\xff" * 200, "metadata": {"k": "v", "": "", "é": "日本"}},
        {"kind": 2, "payload": b"x", "metadata": {"a": ""}, "using": ""},
        {"kind": 1, "payload": b"args", "metadata": {}, "using": "count_words"},
    ]
    for sample in samples:
        ours = frames.Request(**sample)
        parsed = request_type.FromString(frames.encode_request(ours))
        assert (parsed.kind, parsed.payload, dict(parsed.metadata)) == (
            ours.kind,
            ours.payload,
            ours.metadata,
        )
        assert (parsed.using if parsed.HasField("using") else None) == ours.using
        theirs = request_type(kind=ours.kind, payload=ours.payload, metadata=ours.metadata)
        if ours.using is not None:
            theirs.using = ours.using
        assert frames.decode_request(theirs.SerializeToString()) == ours
    for kind in range(5):
        reply = frames.Reply(kind, b"\x01" * kind, {"pid": str(kind)}, "é message" * kind)
        parsed = reply_type.FromString(frames.encode_reply(reply))
        assert (parsed.kind, parsed.payload, dict(parsed.metadata), parsed.message) == (
            reply.kind,
            reply.payload,
            reply.metadata,
            reply.message,
        )
        theirs = reply_type(
            kind=reply.kind, payload=reply.payload, metadata=reply.metadata, message=reply.message
        )
        assert frames.decode_reply(theirs.SerializeToString()) == reply
    # Unknown fields are skipped, as protobuf skips them; broken bytes are an error.
    extended = frames.encode_reply(frames.Reply(1, b"r")) + bytes([5 << 3 | 0, 42, 6 << 3 | 5])
    assert frames.decode_reply(extended + b"abcd") == frames.Reply(1, b"r")
    with pytest.raises(frames.FrameError):
        frames.decode_reply(b"\x12\x05ab")


def test_default_render_bridge_passes_its_tests_and_lints(default_bridge: Bridge) -> None:
    default_bridge.test("--", "--test-threads=2")
    default_bridge.cargo("clippy", "--all-targets", "--", "-D", "warnings")
    # cargo fmt resolves nothing, so it takes no patch (and refuses --config).
    cargo_run(["fmt", "--check"], default_bridge.native, None)


# Full lane: the default render already drives every path; this one adds methods.
@pytest.mark.full
def test_several_methods_non_streaming(tmp_path: Path) -> None:
    bridge = prepare(
        tmp_path,
        plugin_name="Text Tools",
        methods="run, summarize_text, count_words",
        streaming_mode="non_streaming",
    )
    bridge.test("--", "--test-threads=2")


@pytest.mark.full
@pytest.mark.parametrize("mode", ["non_streaming", "streaming", "both"])
def test_several_methods_each_streaming_mode(tmp_path: Path, mode: str) -> None:
    """The full lane: one render per streaming mode, so that ``-m full`` alone covers them all."""
    bridge = prepare(
        tmp_path, plugin_name="Mode Tools", methods="run, count_words", streaming_mode=mode
    )
    bridge.test("--", "--test-threads=2")


def fault_bridge(out: Path) -> Bridge:
    return prepare(
        out,
        faults=True,
        plugin_slug="bridge-faults",
        package_name="bridge_faults",
        **FAULT_ANSWERS,
    )


def test_faults_and_a_thousand_job_soak(tmp_path: Path) -> None:
    bridge = fault_bridge(tmp_path)
    bridge.test("--test", "faults", "--", "--test-threads=2", env={"JWP_BRIDGE_FAULTS": "1"})


@pytest.mark.full
def test_ten_thousand_job_soak(tmp_path: Path) -> None:
    bridge = fault_bridge(tmp_path)
    bridge.test(
        "--test",
        "faults",
        "--",
        "--ignored",
        "--test-threads=1",
        env={"JWP_BRIDGE_FAULTS": "1"},
    )


def test_default_bridge_on_a_real_server(
    jobworkerp: JobWorkerP, default_bridge: Bridge, tmp_path: Path
) -> None:
    """The library registered with ``runner create -r PLUGIN`` answers typed results and streams."""
    server = jobworkerp
    default_bridge.cargo("build")
    found = register(server, default_bridge, tmp_path, "HelloWorldBridge", "hw-bridge")
    assert "BOTH" in found, found
    plain = server.client(
        "job", "enqueue", "-w", "hw-bridge", "-a", '{"name": "Ada"}', "--using", "run"
    )
    assert "SUCCESS" in plain.stdout and "Hi, Ada!" in plain.stdout, plain.stdout
    # The host in a box gives the same verdicts for the same job.
    local = local_run(default_bridge, "--args", '{"name": "Ada"}', "--using", "run")
    assert local["status"] == "SUCCESS" and local["result"] == {"message": "Hi, Ada!"}
    streamed = server.client(
        "job",
        "enqueue-for-stream",
        "-w",
        "hw-bridge",
        "-a",
        '{"name": "Ada Lovelace"}',
        "--using",
        "run",
    )
    assert "3 results received" in streamed.stdout, streamed.stdout
    assert "Hi, Ada Lovelace!" in streamed.stdout
    local = local_run(
        default_bridge, "--args", '{"name": "Ada Lovelace"}', "--using", "run", "--stream"
    )
    assert local["status"] == "SUCCESS" and len(local["chunks"]) == 3
    assert local["chunks"][-1]["message"] == "Hi, Ada Lovelace!"
    unknown = server.client(
        "job",
        "enqueue",
        "-w",
        "hw-bridge",
        "-a",
        '{"name": "Ada"}',
        "--using",
        "nope",
        check=False,
    )
    assert "not found" in unknown.stdout + unknown.stderr
    refused = subprocess.run(
        [*local_command(default_bridge), "--args", "{}", "--using", "nope"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert refused.returncode == 2 and "unknown method 'nope'" in refused.stderr
    after = server.client(
        "job", "enqueue", "-w", "hw-bridge", "-a", '{"name": "again"}', "--using", "run"
    )
    assert "Hi, again!" in after.stdout, after.stdout


def local_command(bridge: Bridge) -> list[str]:
    """The plugin's CLI (the host in a box) with the worker's settings."""
    python = str(bridge.venv / "bin" / "python")
    return [python, "-m", bridge.package, "run", "--settings", '{"greeting": "Hi"}']


def local_run(bridge: Bridge, *arguments: str) -> dict[str, Any]:
    """One job through the host in a box; its ``--json`` record of that job."""
    done = subprocess.run(
        [*local_command(bridge), *arguments, "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    job: dict[str, Any] = json.loads(done.stdout)["jobs"][0]
    return job


def register(server: JobWorkerP, bridge: Bridge, folder: Path, runner: str, worker: str) -> str:
    """Register the built library as ``runner`` and create a static worker; returns the runner.

    The library is copied into a folder of the test's, not into ``PLUGINS_RUNNER_DIR``: a server
    restarted by another test would register it again there under its own ``name()``, which the
    session's MCP_SERVER runner of the same name would then meet.
    """
    library = folder / f"lib{bridge.package}.so"
    shutil.copy(bridge.library, library)
    server.client(
        "runner",
        "create",
        "-n",
        runner,
        "-d",
        "bridge",
        "-r",
        "PLUGIN",
        "--definition",
        str(library),
    )
    found = server.client("runner", "find-by-name", "-n", runner).stdout
    runner_id = re.search(r'"id": (\d+)', found)
    assert runner_id, found
    server.client(
        "worker",
        "create",
        "-n",
        worker,
        "-d",
        "d",
        "-r",
        runner_id.group(1),
        "-s",
        '{"greeting": "Hi"}',
        "--use-static",
    )
    return found


def test_fault_bridge_timeout_on_a_real_server(jobworkerp: JobWorkerP, tmp_path: Path) -> None:
    server = jobworkerp
    """A job over its time limit gets the timeout status; the next job on the worker answers."""
    bridge = fault_bridge(tmp_path)
    bridge.cargo("build")
    register(server, bridge, tmp_path, "RobustPluginBridge", "robust-bridge")
    slow = '{"name": "x|run|sleep:3000"}'
    late = server.client(
        "job",
        "enqueue",
        "-w",
        "robust-bridge",
        "-a",
        slow,
        "--using",
        "run",
        "-t",
        "500",
        check=False,
    )
    text = late.stdout + late.stderr
    assert "ERROR_AND_RETRY" in text or "MAX_RETRY" in text, text
    started = time.monotonic()
    after = server.client(
        "job", "enqueue", "-w", "robust-bridge", "-a", '{"name": "next"}', "--using", "run"
    )
    assert "Hi, next!" in after.stdout, after.stdout
    assert time.monotonic() - started < 2.5, "the next job waited for the overrunning one"
    bad = server.client(
        "job",
        "enqueue",
        "-w",
        "robust-bridge",
        "-a",
        '{"name": "x|run|raise:ValueError"}',
        "--using",
        "run",
        check=False,
    )
    assert "OTHER_ERROR" in bad.stdout + bad.stderr, bad.stdout + bad.stderr
