"""Feed methods (client streams) through the native bridge, on the real JobWorkerP server.

One render with a feed method (``count_words``) is built and registered; its jobs are sent with
``JobService.EnqueueWithClientStream`` through ``tests/jobworkerp_grpc.py`` (the CLI has no
command for it), args and feed messages encoded from the plugin's own proto files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests import jobworkerp_grpc
from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, Bridge, cargo, prepare_bridge
from tests.test_native_bridge import register
from tests.v2_library import Worker

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(
        cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
    ),
]

ANSWERS = {
    "plugin_name": "Text Kit",
    "methods": "run, count_words",
    "feed_methods": "count_words",
    "streaming_mode": "both",
}
METHOD = "count_words"
WORKER = "text-kit-feed"
TEXTS = ["one two", "three", "four five six"]
# Long enough that a result arriving before the next piece is sent cannot be chance.
PAUSE_SECONDS = 0.4
THROUGHPUT_CHUNKS = 2000


@dataclass
class Fed:
    """The registered bridge and the message classes of its feed method."""

    server: JobWorkerP
    bridge: Bridge
    runner_id: str
    args: Any
    feed: Any
    result: Any

    def encoded_args(self, name: str = "Ada") -> bytes:
        data: bytes = self.args(name=name).SerializeToString()
        return data

    def pieces(self, texts: list[str]) -> list[bytes]:
        return [self.feed(text=text).SerializeToString() for text in texts]

    def decoded(self, chunks: list[bytes]) -> list[tuple[str, str]]:
        """(delta, message) of each result chunk."""
        found = [self.result.FromString(chunk) for chunk in chunks]
        return [(chunk.delta, chunk.message) for chunk in found]

    def send(self, worker: str, texts: list[str], **options: Any) -> jobworkerp_grpc.FeedOutcome:
        return jobworkerp_grpc.enqueue_with_feed(
            self.server.address, worker, self.encoded_args(), METHOD, self.pieces(texts), **options
        )


@pytest.fixture(scope="module")
def fed(jobworkerp: JobWorkerP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    out = tmp_path_factory.mktemp("bridge-feed")
    bridge = prepare_bridge(out, None, **ANSWERS)
    bridge.cargo("build")
    record = register(jobworkerp, bridge, out, "TextKitFeedBridge", WORKER)
    assert "count_words" in record, record
    found = jobworkerp.client(
        "runner", "find-by-name", "-n", "TextKitFeedBridge", "--format", "json"
    )
    protos = bridge.project / "src" / bridge.package / "protos"
    yield Fed(
        jobworkerp,
        bridge,
        str(json.loads(found.stdout)["id"]),
        jobworkerp_grpc.message_class(protos / f"{METHOD}_args.proto", "CountWordsArgs"),
        jobworkerp_grpc.message_class(protos / f"{METHOD}_feed.proto", "CountWordsFeed"),
        jobworkerp_grpc.message_class(protos / f"{METHOD}_result.proto", "CountWordsResult"),
    )


def test_the_schema_declares_the_feed(fed: Fed) -> None:
    schemas = jobworkerp_grpc.method_schemas(fed.server.address, "TextKitFeedBridge")
    feed_proto = fed.bridge.project / "src" / fed.bridge.package / "protos" / f"{METHOD}_feed.proto"
    assert schemas[METHOD].require_client_stream
    assert schemas[METHOD].client_stream_data_proto == feed_proto.read_text("utf-8")
    assert not schemas["run"].require_client_stream
    assert not schemas["run"].HasField("client_stream_data_proto")


def test_fed_pieces_arrive_in_order_and_results_stream_back(fed: Fed) -> None:
    outcome = fed.send(WORKER, TEXTS, pause=PAUSE_SECONDS)
    assert outcome.code is None, outcome.details
    assert outcome.job_id is not None
    assert fed.decoded(outcome.chunks) == [
        ("2 words", ""),
        ("3 words", ""),
        ("6 words", ""),
        ("", "Hi, Ada! 6 words."),
    ]
    # Results come back while the client still feeds: the first before the last piece is sent.
    assert outcome.arrivals[0] < outcome.sent_at[-1], (outcome.arrivals, outcome.sent_at)
    print(f"pieces sent at {outcome.sent_at}, results at {outcome.arrivals} (seconds)")


def test_an_empty_final_piece_only_ends_the_input(fed: Fed) -> None:
    outcome = fed.send(WORKER, TEXTS, final_empty=True)
    assert outcome.code is None, outcome.details
    assert fed.decoded(outcome.chunks)[-1] == ("", "Hi, Ada! 6 words.")
    assert len(outcome.chunks) == len(TEXTS) + 1


def test_a_request_stream_that_ends_without_is_final_ends_the_input(fed: Fed) -> None:
    """The server drops the feed's sink when the client's stream ends: the bridge's other end."""
    outcome = fed.send(WORKER, TEXTS, pause=0.1, send_final=False, deadline=30)
    assert outcome.code is None, outcome.details
    assert fed.decoded(outcome.chunks)[-1] == ("", "Hi, Ada! 6 words.")


def test_a_worker_without_use_static_gets_no_feed_and_says_so(fed: Fed) -> None:
    """The server takes the call but sets a feed up for use_static workers only."""
    worker = "text-kit-feed-plain"
    fed.server.client(
        "worker", "create", "-n", worker, "-d", "d", "-r", fed.runner_id, "-s", "{}",
        "--store-failure",
    )  # fmt: skip
    outcome = fed.send(worker, TEXTS)
    assert outcome.chunks == []
    if outcome.trailer is not None:
        error = outcome.trailer.get("jobworkerp.plugin.run_stream_error", "")
    else:
        # The server answers either way: an End trailer with the plugin's error, or a failed
        # call ("Job execution error") whose stored result carries it.
        assert outcome.code is not None and outcome.job_id, outcome
        stored = Worker(fed.server, worker)._stored("list-by-job-id", "-j", outcome.job_id)
        assert stored["status"] != "SUCCESS", stored
        error = str(stored["output"])
    assert "takes a feed, and this job has none" in error, outcome
    assert "use_static" in error
    print(f"worker without use_static: call ended {outcome.code}, End trailer error: {error!r}")


def test_a_feed_method_is_refused_through_plain_calls(fed: Fed) -> None:
    plain = jobworkerp_grpc.enqueue(fed.server.address, WORKER, fed.encoded_args(), METHOD)
    assert plain.code == grpc.StatusCode.INVALID_ARGUMENT, plain
    assert plain.job_id is None
    streamed = fed.server.client(
        "job", "enqueue-for-stream", "-w", WORKER, "-a", '{"name": "Ada"}', "--using", METHOD,
        check=False,
    )  # fmt: skip
    assert streamed.returncode != 0
    assert "use EnqueueWithClientStream" in streamed.stderr + streamed.stdout
    print(f"Enqueue: {plain.details!r}; EnqueueForStream: requires client streaming input")


def test_a_method_without_a_feed_refuses_a_client_stream(fed: Fed) -> None:
    outcome = jobworkerp_grpc.enqueue_with_feed(
        fed.server.address, WORKER, fed.encoded_args(), "run", fed.pieces(TEXTS)
    )
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert "client streaming" in outcome.details


def test_cancel_during_a_feed_ends_the_job_and_the_worker_serves_the_next(fed: Fed) -> None:
    deleted: list[bool] = []

    def cancel_at_second_result(outcome: jobworkerp_grpc.FeedOutcome) -> None:
        if len(outcome.chunks) == 2 and outcome.job_id is not None:
            deleted.append(jobworkerp_grpc.delete_job(fed.server.address, outcome.job_id))

    many = ["a b"] * 40
    started = time.monotonic()
    outcome = fed.send(WORKER, many, pause=0.25, on_chunk=cancel_at_second_result)
    seconds = time.monotonic() - started
    assert deleted == [True]
    assert len(outcome.chunks) == 2, fed.decoded(outcome.chunks)
    assert outcome.sent < len(many), "the call should end before the feed does"
    print(f"cancel mid-feed: stream ended after {len(outcome.chunks)} results, {seconds:.2f} s")
    after = fed.send(WORKER, TEXTS)
    assert after.code is None, after.details
    assert fed.decoded(after.chunks)[-1] == ("", "Hi, Ada! 6 words.")


def test_two_feeds_at_once_on_a_pool_of_two(fed: Fed) -> None:
    """The server's default channel runs two jobs at once: two instances, two feeds."""
    outcomes: dict[int, tuple[float, float, jobworkerp_grpc.FeedOutcome]] = {}

    def one(index: int) -> None:
        started = time.monotonic()
        outcome = fed.send(WORKER, TEXTS * 2, pause=0.2)
        outcomes[index] = (started, time.monotonic(), outcome)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == [0, 1]
    for _, _, outcome in outcomes.values():
        assert outcome.code is None, outcome.details
        assert fed.decoded(outcome.chunks)[-1] == ("", "Hi, Ada! 12 words.")
    (start_a, end_a, _), (start_b, end_b, _) = outcomes.values()
    overlap = min(end_a, end_b) - max(start_a, start_b)
    print(f"two feeds at once: {end_a - start_a:.2f} s and {end_b - start_b:.2f} s, "
          f"overlapping {overlap:.2f} s")  # fmt: skip
    assert overlap > 0


def test_feed_throughput(fed: Fed) -> None:
    """One run, printed: pieces per second through the server and the bridge, results back."""
    started = time.monotonic()
    outcome = fed.send(WORKER, ["w"] * THROUGHPUT_CHUNKS)
    seconds = time.monotonic() - started
    assert outcome.code is None, outcome.details
    assert len(outcome.chunks) == THROUGHPUT_CHUNKS + 1
    assert fed.decoded(outcome.chunks)[-1] == ("", f"Hi, Ada! {THROUGHPUT_CHUNKS} words.")
    print(
        f"feed throughput: {THROUGHPUT_CHUNKS} pieces in {seconds:.2f} s = "
        f"{THROUGHPUT_CHUNKS / seconds:.0f} pieces/s (a result streamed back for each; "
        "debug build of the bridge)"
    )


def test_protos_match_the_answers(fed: Fed) -> None:
    protos = fed.bridge.project / "src" / fed.bridge.package / "protos"
    assert sorted(path.name for path in Path(protos).glob("*.proto")) == [
        "count_words_args.proto",
        "count_words_feed.proto",
        "count_words_result.proto",
        "run_args.proto",
        "run_result.proto",
        "settings.proto",
    ]


def test_the_readme_client_snippet_feeds_the_method(fed: Fed) -> None:
    """The generated README's Python client, run as printed against a worker named as it says."""
    readme = (fed.bridge.project / "README.md").read_text("utf-8")
    found = re.search(r"## Feed methods.*?```python\n(.*?)```", readme, re.DOTALL)
    assert found, "the README has no feed client snippet"
    snippet = found.group(1)
    worker = re.search(r'worker_name="([^"]+)"', snippet)
    assert worker is not None
    fed.server.client(
        "worker", "create", "-n", worker.group(1), "-d", "d", "-r", fed.runner_id,
        "-s", '{"greeting": "Hi"}', "--use-static",
    )  # fmt: skip
    # As the README says: a cold worker loses a feed sent whole before its first load.
    assert jobworkerp_grpc.load_worker(fed.server.address, worker.group(1))
    script = snippet.replace(
        '"localhost:9000"', repr(jobworkerp_grpc.target_of(fed.server.address))
    )
    path = os.pathsep.join(
        [str(jobworkerp_grpc.compiled_folder()), str(fed.bridge.project / "src")]
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert 'delta: "2 words"' in done.stdout and 'delta: "3 words"' in done.stdout, done.stdout
    assert 'message: "Hi, Ada! 3 words."' in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("end {"), done.stdout


def test_the_fed_render_s_crate_passes_its_own_tests_and_lints(fed: Fed) -> None:
    """The bridge's crate tests take the method table as it is, a feed method included."""
    fed.bridge.test("--", "--test-threads=2")
    fed.bridge.cargo("clippy", "--all-targets", "--", "-D", "warnings")
