"""The real server's gRPC API from Python, for tests that send thousands of jobs.

``jobworkerp-client`` costs a process start per call; a soak of 10,000 jobs would spend most of
its time there. ``Api(server, folder)`` compiles the server's own protos
(``../shared/jobworkerp/proto``) with grpcio-tools into ``folder`` and talks to the server over
one channel: ``enqueue()`` queues a job and returns its id, ``results()`` lists a job's stored
results as ``Stored`` records (status name, output bytes, end time).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_tools import protoc

from tests.jobworkerp_server import SHARED, JobWorkerP

PROTOS = SHARED / "proto"


@dataclass(frozen=True)
class Stored:
    status: str  # a ResultStatus name
    output: bytes  # the result's protobuf on success, a UTF-8 message on failure
    end_time: int  # ms since the epoch


def compile_protos(folder: Path) -> None:
    if (folder / "jobworkerp" / "service" / "job_pb2_grpc.py").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(path.relative_to(PROTOS)) for path in PROTOS.rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    options = [f"-I{PROTOS}", f"-I{include}", f"--python_out={folder}"]
    code = protoc.main(["protoc", *options, f"--grpc_python_out={folder}", *sources])
    if code != 0:
        raise RuntimeError(f"protoc failed on the server's protos ({code})")


class Api:
    def __init__(self, server: JobWorkerP, folder: Path) -> None:
        compile_protos(folder)
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        self.job: Any = importlib.import_module("jobworkerp.service.job_pb2")
        self.result: Any = importlib.import_module("jobworkerp.service.job_result_pb2")
        self.data: Any = importlib.import_module("jobworkerp.data.common_pb2")
        jobs: Any = importlib.import_module("jobworkerp.service.job_pb2_grpc")
        results: Any = importlib.import_module("jobworkerp.service.job_result_pb2_grpc")
        self.channel = grpc.insecure_channel(
            server.address.removeprefix("http://"),
            options=[("grpc.max_receive_message_length", 256 << 20)],
        )
        self.jobs = jobs.JobServiceStub(self.channel)
        self.results = results.JobResultServiceStub(self.channel)
        self.status_names = dict(
            (number, name)
            for name, number in self.data.ResultStatus.items()  # SUCCESS, OTHER_ERROR ...
        )

    def enqueue(self, worker: str, args: bytes, using: str, timeout_ms: int | None = None) -> int:
        request = self.job.JobRequest(worker_name=worker, args=args, using=using)
        if timeout_ms is not None:
            request.timeout = timeout_ms
        return int(self.jobs.Enqueue(request, timeout=60).id.value)

    def delete(self, job_id: int) -> None:
        job_id_type = importlib.import_module("jobworkerp.data.job_pb2").JobId
        self.jobs.Delete(job_id_type(value=job_id), timeout=60)

    def results_of(self, job_id: int) -> list[Stored]:
        job_id_type = importlib.import_module("jobworkerp.data.job_pb2").JobId
        request = self.result.FindListByJobIdRequest(job_id=job_id_type(value=job_id))
        return [
            Stored(
                self.status_names.get(found.data.status, str(found.data.status)),
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
