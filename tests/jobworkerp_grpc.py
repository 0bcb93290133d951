"""JobWorkerP's gRPC API from Python, for what ``jobworkerp-client`` has no command for.

The client streams of a feed method (``JobService.EnqueueWithClientStream``) have no client
command, so the tests speak gRPC: the server's own protos (``../shared/jobworkerp/proto``) are
compiled with grpcio-tools into a temporary folder once per test process and imported from
there. ``enqueue_with_feed`` sends a job and its feed and gathers what the server streams back;
``enqueue`` sends a plain job (a feed method's refusal). Both return what happened, refusals
included, rather than raise: the tests compare the server's answers.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc

from tests.jobworkerp_server import SHARED

PROTO_ROOT = SHARED / "proto"
# The modules the tests use, by their import names under the compiled folder.
MODULES = {
    "common": "jobworkerp.data.common_pb2",
    "job_data": "jobworkerp.data.job_pb2",
    "worker": "jobworkerp.data.worker_pb2",
    "job": "jobworkerp.service.job_pb2",
    "job_grpc": "jobworkerp.service.job_pb2_grpc",
    "runner_grpc": "jobworkerp.service.runner_pb2_grpc",
    "runner": "jobworkerp.service.runner_pb2",
    "worker_service": "jobworkerp.service.worker_pb2",
    "worker_grpc": "jobworkerp.service.worker_pb2_grpc",
}
# The response header that carries the job's id (an encoded ``JobId``).
JOB_ID_HEADER = "x-job-id-bin"
# A job that hangs must not hang the test run.
DEFAULT_DEADLINE_SECONDS = 120.0


class Api:
    """The compiled modules: ``api.job`` (service messages), ``api.common``, ``api.job_grpc``..."""

    def __init__(self, modules: dict[str, ModuleType]) -> None:
        self.modules = modules

    def __getattr__(self, name: str) -> Any:
        try:
            return self.modules[name]
        except KeyError:
            raise AttributeError(name) from None


def compile_protos(target: Path) -> None:
    """Compile every proto of the server into ``target`` (messages and gRPC stubs)."""
    from grpc_tools import protoc

    include = Path(protoc.__file__).parent / "_proto"
    sources = sorted(str(path.relative_to(PROTO_ROOT)) for path in PROTO_ROOT.rglob("*.proto"))
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={target}",
            f"--grpc_python_out={target}",
            *sources,
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc could not compile the server's protos in {PROTO_ROOT}")


@functools.cache
def compiled_folder() -> Path:
    """The folder the server's protos are compiled into, once per process (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="jobworkerp-grpc-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    compile_protos(folder)
    return folder


@functools.cache
def api() -> Api:
    """The server's protos as modules of this process."""
    sys.path.insert(0, str(compiled_folder()))
    return Api({key: importlib.import_module(name) for key, name in MODULES.items()})


def message_class(proto_file: Path, message: str) -> Any:
    """A message class of a plugin's proto file, in a descriptor pool of its own.

    The file is compiled alone (as JobWorkerP compiles it), so a test can encode args and feed
    messages of any flavor's plugin without importing the plugin or touching the default pool.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "set.pb"
        code = protoc.main(
            [
                "protoc",
                f"-I{proto_file.parent}",
                f"--descriptor_set_out={out}",
                proto_file.name,
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc could not compile {proto_file}")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    package = files.file[0].package
    name = f"{package}.{message}" if package else message
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def target_of(address: str) -> str:
    """A gRPC target from the server's address (``http://127.0.0.1:9000`` -> ``127.0.0.1:9000``)."""
    return address.split("://", 1)[-1].rstrip("/")


def job_request(worker: str, args: bytes, using: str | None, timeout_ms: int | None) -> Any:
    request = api().job.JobRequest(worker_name=worker, args=args)
    if using is not None:
        request.using = using
    if timeout_ms is not None:
        request.timeout = timeout_ms
    return request


def job_id_from(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key == JOB_ID_HEADER and isinstance(value, bytes):
            return str(api().job_data.JobId.FromString(value).value)
    return None


@dataclass
class FeedOutcome:
    """What the server answered to one job: its id, the chunks, the trailer, or its refusal."""

    job_id: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    # Seconds since the first feed chunk was sent, for each chunk received (a stream's pace).
    arrivals: list[float] = field(default_factory=list)
    trailer: dict[str, str] | None = None
    code: grpc.StatusCode | None = None  # None: the call ended without an error
    details: str = ""
    # How many feed chunks the request iterator handed to gRPC before the call ended.
    sent: int = 0
    # Seconds since the first feed chunk was sent, for each chunk handed to gRPC.
    sent_at: list[float] = field(default_factory=list)


class Feed:
    """The request stream of one call: the job, then each chunk (a pause before each)."""

    def __init__(
        self,
        request: Any,
        chunks: Iterable[bytes],
        pause: float,
        final_empty: bool,
        send_final: bool = True,
        start_pause: float = 0.0,
    ) -> None:
        self.request = request
        self.start_pause = start_pause
        self.chunks = list(chunks)
        self.pause = pause
        self.final_empty = final_empty
        self.send_final = send_final
        self.sent = 0
        self.sent_at: list[float] = []
        self.started = 0.0
        self.stop = threading.Event()

    def __iter__(self) -> Iterator[Any]:
        job = api().job
        transport = api().job_data.FeedDataTransport
        yield job.ClientStreamRequest(job_request=self.request)
        if self.start_pause and self.stop.wait(self.start_pause):
            return
        self.started = time.monotonic()
        for index, chunk in enumerate(self.chunks):
            if self.pause and self.stop.wait(self.pause):
                return
            last = index == len(self.chunks) - 1 and self.send_final and not self.final_empty
            self.sent_at.append(time.monotonic() - self.started)
            yield job.ClientStreamRequest(feed_data=transport(data=chunk, is_final=last))
            self.sent += 1
        if self.send_final and (self.final_empty or not self.chunks):
            yield job.ClientStreamRequest(feed_data=transport(data=b"", is_final=True))


def enqueue_with_feed(
    address: str,
    worker: str,
    args: bytes,
    using: str | None,
    chunks: Iterable[bytes],
    pause: float = 0.0,
    *,
    timeout_ms: int | None = None,
    final_empty: bool = False,
    send_final: bool = True,
    start_pause: float = 0.0,
    deadline: float = DEFAULT_DEADLINE_SECONDS,
    on_chunk: Any = None,
) -> FeedOutcome:
    """Send a job of ``worker`` with ``chunks`` as its feed; gather the streamed results.

    ``pause`` seconds pass before each chunk; the last chunk carries ``is_final`` (or, with
    ``final_empty``, an empty chunk after them does; without ``send_final`` none does and the
    request stream just ends). ``start_pause`` seconds pass after the job request, before the
    first chunk (``pause`` then paces the chunks; the arrivals count from the first one).
    ``on_chunk(outcome)`` runs after each result chunk arrives (a test cancels the job from
    there).
    """
    outcome = FeedOutcome()
    request = job_request(worker, args, using, timeout_ms)
    feed = Feed(request, chunks, pause, final_empty, send_final, start_pause)
    with grpc.insecure_channel(target_of(address)) as channel:
        stub = api().job_grpc.JobServiceStub(channel)
        call = stub.EnqueueWithClientStream(iter(feed), timeout=deadline)
        try:
            outcome.job_id = job_id_from(call.initial_metadata())
            for item in call:
                kind = item.WhichOneof("item")
                if kind == "data":
                    outcome.chunks.append(item.data)
                    outcome.arrivals.append(time.monotonic() - (feed.started or time.monotonic()))
                    if on_chunk is not None:
                        on_chunk(outcome)
                elif kind == "end":
                    outcome.trailer = dict(item.end.metadata)
                elif kind == "final_collected":
                    outcome.chunks.append(item.final_collected)
        except grpc.RpcError as error:
            outcome.code = error.code()
            outcome.details = error.details() or ""
        finally:
            feed.stop.set()
        outcome.job_id = outcome.job_id or job_id_from(call.initial_metadata())
    outcome.sent = feed.sent
    outcome.sent_at = feed.sent_at[: feed.sent]
    return outcome


@dataclass
class PlainOutcome:
    """A plain ``Enqueue``: the job id and its result, or the server's refusal."""

    job_id: str | None = None
    result: Any = None  # a ``JobResult`` for a DIRECT worker
    code: grpc.StatusCode | None = None
    details: str = ""


def enqueue(
    address: str,
    worker: str,
    args: bytes,
    using: str | None,
    *,
    deadline: float = DEFAULT_DEADLINE_SECONDS,
) -> PlainOutcome:
    """``JobService.Enqueue`` of one job."""
    outcome = PlainOutcome()
    with grpc.insecure_channel(target_of(address)) as channel:
        stub = api().job_grpc.JobServiceStub(channel)
        try:
            response = stub.Enqueue(job_request(worker, args, using, None), timeout=deadline)
        except grpc.RpcError as error:
            outcome.code = error.code()
            outcome.details = error.details() or ""
            return outcome
    outcome.job_id = str(response.id.value)
    outcome.result = response.result if response.HasField("result") else None
    return outcome


def delete_job(address: str, job_id: str) -> bool:
    """``JobService.Delete``: cancel a running job; whether the server said it succeeded."""
    with grpc.insecure_channel(target_of(address)) as channel:
        stub = api().job_grpc.JobServiceStub(channel)
        response = stub.Delete(api().job_data.JobId(value=int(job_id)), timeout=30)
    return bool(response.is_success)


def load_worker(address: str, worker: str) -> bool:
    """``WorkerService.Load``: a ``use_static`` worker's pool is built and loaded now."""
    with grpc.insecure_channel(target_of(address)) as channel:
        stub = api().worker_grpc.WorkerServiceStub(channel)
        request = api().worker_service.LoadWorkerRequest(name=worker)
        return bool(stub.Load(request, timeout=120).is_success)


def method_schemas(address: str, runner: str) -> dict[str, Any]:
    """The runner's ``MethodSchema`` per method, as the server stores them (``FindByName``)."""
    with grpc.insecure_channel(target_of(address)) as channel:
        stub = api().runner_grpc.RunnerServiceStub(channel)
        found = stub.FindByName(api().runner.RunnerNameRequest(name=runner), timeout=30)
    if not found.HasField("data"):
        raise LookupError(f"no runner named {runner!r}")
    return dict(found.data.data.method_proto_map.schemas)


def result_status_name(status: int) -> str:
    """A ``ResultStatus`` number's name (``SUCCESS``, ``CANCELLED``...)."""
    return str(api().common.ResultStatus.Name(status))


# A client for many plain jobs (the bridge's soak) ------------------------------------------------


@dataclass(frozen=True)
class Stored:
    status: str  # a ResultStatus name
    output: bytes  # the result's protobuf on success, a UTF-8 message on failure
    end_time: int  # ms since the epoch


class JobClient:
    """One channel to a server for thousands of jobs: ``jobworkerp-client`` costs a process
    start per call, which would be most of a 10,000-job soak's time."""

    def __init__(self, address: str) -> None:
        modules = api()
        self.job_id_type = modules.job_data.JobId
        self.job = modules.job
        self.result: Any = importlib.import_module("jobworkerp.service.job_result_pb2")
        results: Any = importlib.import_module("jobworkerp.service.job_result_pb2_grpc")
        self.channel = grpc.insecure_channel(
            target_of(address), options=[("grpc.max_receive_message_length", 256 << 20)]
        )
        self.jobs = modules.job_grpc.JobServiceStub(self.channel)
        self.results = results.JobResultServiceStub(self.channel)

    def enqueue(self, worker: str, args: bytes, using: str, timeout_ms: int | None = None) -> int:
        request = self.job.JobRequest(worker_name=worker, args=args, using=using)
        if timeout_ms is not None:
            request.timeout = timeout_ms
        return int(self.jobs.Enqueue(request, timeout=60).id.value)

    def delete(self, job_id: int) -> None:
        self.jobs.Delete(self.job_id_type(value=job_id), timeout=60)

    def results_of(self, job_id: int) -> list[Stored]:
        request = self.result.FindListByJobIdRequest(job_id=self.job_id_type(value=job_id))
        return [
            Stored(
                result_status_name(found.data.status),
                bytes(found.data.output.items),
                int(found.data.end_time),
            )
            for found in self.results.FindListByJobId(request, timeout=60)
        ]

    def close(self) -> None:
        self.channel.close()


def string_field(number: int, text: str) -> bytes:
    """One protobuf string field: how a plugin's ``name`` args are sent without its module."""
    data = text.encode("utf-8")
    return bytes([number << 3 | 2]) + varint(len(data)) + data


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def first_string(data: bytes) -> str:
    """Field 1 of a message whose field 1 is a string (``RunResult.message``), else ''."""
    if data[:1] != b"\x0a":
        return ""
    length, shift, index = 0, 0, 1
    while index < len(data):
        byte = data[index]
        index += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return data[index : index + length].decode("utf-8", "replace")
