"""The gRPC harness against the real server: its protos compile and its refusals come back."""

from __future__ import annotations

import grpc
import pytest

from tests import jobworkerp_grpc
from tests.jobworkerp_server import JobWorkerP

pytestmark = pytest.mark.real_server


def test_the_server_protos_compile_into_messages_and_stubs() -> None:
    api = jobworkerp_grpc.api()
    request = api.job.ClientStreamRequest(
        feed_data=api.job_data.FeedDataTransport(data=b"x", is_final=True)
    )
    assert request.WhichOneof("request") == "feed_data"
    assert hasattr(api.job_grpc.JobServiceStub, "__init__")
    assert jobworkerp_grpc.api() is api  # compiled once per process


def test_a_job_of_an_unknown_worker_is_refused_on_both_calls(jobworkerp: JobWorkerP) -> None:
    plain = jobworkerp_grpc.enqueue(jobworkerp.address, "no-such-worker", b"", None)
    assert plain.code is not None and plain.code != grpc.StatusCode.OK
    assert plain.job_id is None
    fed = jobworkerp_grpc.enqueue_with_feed(
        jobworkerp.address, "no-such-worker", b"", None, [b"a", b"b"]
    )
    assert fed.code is not None and fed.code != grpc.StatusCode.OK, fed
    assert fed.chunks == []
    print(f"Enqueue: {plain.code} {plain.details!r}; with a feed: {fed.code} {fed.details!r}")
