"""Feed (client-stream) methods in the Rust flavor: renders that build, test and lint, and the
library on the real JobWorkerP through ``JobService.EnqueueWithClientStream``.

The real-server tests register the render's library, create a ``use_static`` worker (the only
kind the server sets a feed channel up for) and speak gRPC through ``tests/jobworkerp_grpc.py``.
The plugin's own messages are compiled from the render's ``protos/`` with grpcio-tools, as a
user's client would compile them.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest

from tests import jobworkerp_grpc
from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, cargo
from tests.rust_support import Crate, render_crate
from tests.v2_library import Worker, register, runner_id, static_worker

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)

ANSWERS = {
    "plugin_name": "Feed Counter",
    "methods": "run, count_words",
    "streaming_mode": "both",
    "feed_methods": "count_words",
}
SETTINGS = {"greeting": "Hi"}
TEXTS = ["Hello big", " world", "", "again and again"]
# The server can lose feed items sent at once after the job request, before the worker has
# started the job (the job then waits for input until its timeout): the tests pause first.
START_PAUSE = 0.3
# A fed job that hangs (a lost feed) fails its test after this many seconds, and the server
# ends it after its timeout (else it would hold a pooled instance, and the jobs after it wait).
FEED_DEADLINE = 60.0
JOB_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def feed_crate(tmp_path_factory: pytest.TempPathFactory) -> Crate:
    crate = render_crate(tmp_path_factory.mktemp("rust-feed"), **ANSWERS)
    crate.cargo("build")
    return crate


def passed(printed: str, *names: str) -> None:
    for name in names:
        assert re.search(rf"^test {name} \.\.\. ok$", printed, re.MULTILINE), (name, printed)


def test_a_render_with_a_feed_method_builds_passes_its_tests_and_lints(feed_crate: Crate) -> None:
    printed = feed_crate.output("test")
    passed(
        printed,
        "the_plugin_keeps_the_v2_contract",
        "count_words_counts_the_fed_words_as_they_arrive",
        "run_greets_with_the_settings",
    )
    feed_crate.lint()
    assert "feed_methods" in (feed_crate.project / ".cookiecutter.json").read_text("utf-8")


def test_a_render_whose_only_method_is_fed_builds_passes_its_tests_and_lints(
    tmp_path: Path,
) -> None:
    answers = {"plugin_name": "Feed Only", "methods": "run", "streaming_mode": "streaming"}
    crate = render_crate(tmp_path, **answers, feed_methods="run")
    crate.cargo("build")
    printed = crate.output("test")
    passed(printed, "the_plugin_keeps_the_v2_contract", "run_counts_the_fed_words_as_they_arrive")
    crate.lint()


DELTA_LINE = '        let delta = format!("{words} words");\n'
BROKEN_FEEDS = {
    # A handler that stops reading after the first item.
    "stops-reading": ("        break;\n", "every item reaches the plugin"),
    # A handler that never sees the end of its input: it waits for more after the final item.
    "waits-past-the-end": (
        "        std::future::pending::<()>().await;\n",
        "a fed job did not end",
    ),
}


# The handler that waits past the end fails the suite only at its deadline (some 40 s): full lane.
CASES = [
    pytest.param(case, marks=[pytest.mark.full] if case == "waits-past-the-end" else [])
    for case in BROKEN_FEEDS
]


@pytest.mark.parametrize("case", CASES)
def test_the_contract_suite_catches_a_feed_handler_that_breaks_a_rule(
    tmp_path: Path, case: str
) -> None:
    crate = render_crate(tmp_path, **ANSWERS)
    runner = crate.project / "src" / "runner.rs"
    text = runner.read_text("utf-8")
    assert DELTA_LINE in text
    inserted, broken_rule = BROKEN_FEEDS[case]
    runner.write_text(text.replace(DELTA_LINE, inserted + DELTA_LINE, 1), "utf-8")
    crate.cargo("build")
    with pytest.raises(AssertionError) as failed:
        contract = ("--test", "plugin", "the_plugin_keeps_the_v2_contract")
        crate.cargo("test", *contract, env={"RUST_BACKTRACE": "0"})
    assert broken_rule in str(failed.value), str(failed.value)[-3000:]


# The real server ---------------------------------------------------------------------------


def plugin_messages(crate: Crate, folder: Path) -> dict[str, ModuleType]:
    """The render's messages, compiled from its protos/ (as a user's client compiles them)."""
    from grpc_tools import protoc

    protos = crate.project / "protos"
    files = sorted(path.name for path in protos.glob("count_words_*.proto"))
    code = protoc.main(["protoc", f"-I{protos}", f"--python_out={folder}", *files])
    assert code == 0, files
    sys.path.insert(0, str(folder))
    try:
        return {
            role: importlib.import_module(f"count_words_{role}_pb2")
            for role in ("args", "result", "feed")
        }
    finally:
        sys.path.remove(str(folder))


class Fed:
    """A static worker of the feed library, and the messages to talk to it."""

    def __init__(self, server: JobWorkerP, crate: Crate, folder: Path, name: str) -> None:
        self.server = server
        self.crate = crate
        runner = register(server, crate.library, folder, name)
        self.runner = name
        self.worker = static_worker(server, runner, f"{name.lower()}-static", SETTINGS).name
        # A feed sent before a cold worker has loaded its first instance can be lost.
        assert jobworkerp_grpc.load_worker(server.address, self.worker)
        self.folder = folder
        self.messages = plugin_messages(crate, folder)

    def args(self, name: str) -> bytes:
        return bytes(self.messages["args"].CountWordsArgs(name=name).SerializeToString())

    def feed(self, text: str) -> bytes:
        return bytes(self.messages["feed"].CountWordsFeed(text=text).SerializeToString())

    def result(self, chunk: bytes) -> Any:
        return self.messages["result"].CountWordsResult.FromString(chunk)

    def send(self, texts: list[str], pause: float = 0.0, **options: Any) -> Any:
        return jobworkerp_grpc.enqueue_with_feed(
            self.server.address,
            self.worker,
            self.args("Ada"),
            "count_words",
            [self.feed(text) for text in texts],
            pause,
            **{"deadline": FEED_DEADLINE, "timeout_ms": JOB_TIMEOUT_MS, **options},
        )


@pytest.fixture(scope="module")
def fed(jobworkerp: JobWorkerP, feed_crate: Crate, tmp_path_factory: pytest.TempPathFactory) -> Fed:
    return Fed(jobworkerp, feed_crate, tmp_path_factory.mktemp("feed-server"), "RustFeed")


@pytest.mark.real_server
def test_the_server_reads_the_feed_method_s_schema(fed: Fed) -> None:
    jobworkerp_grpc.api()  # the server's protos, compiled and importable
    service = importlib.import_module("jobworkerp.service.runner_pb2")
    stubs = importlib.import_module("jobworkerp.service.runner_pb2_grpc")
    target = jobworkerp_grpc.target_of(fed.server.address)
    with grpc.insecure_channel(target) as channel:
        found = stubs.RunnerServiceStub(channel).FindByName(
            service.RunnerNameRequest(name=fed.runner), timeout=30
        )
    data = found.data.data
    schemas = data.method_proto_map.schemas
    feed = (fed.crate.project / "protos" / "count_words_feed.proto").read_text("utf-8")
    assert schemas["count_words"].require_client_stream, schemas["count_words"]
    assert schemas["count_words"].client_stream_data_proto == feed
    assert schemas["count_words"].output_type == 1  # STREAMING
    assert not schemas["run"].require_client_stream
    assert not schemas["run"].HasField("client_stream_data_proto")


@pytest.mark.real_server
def test_chunks_fed_with_pauses_come_back_in_order_as_they_arrive(fed: Fed) -> None:
    pause = 0.3
    outcome = fed.send(TEXTS, pause)
    assert outcome.code is None, outcome
    results = [fed.result(chunk) for chunk in outcome.chunks]
    assert [result.delta for result in results] == [
        "2 words",
        "3 words",
        "3 words",
        "6 words",
        "",
    ], outcome
    assert results[-1].message == "Hi, Ada! 6 words.", outcome
    # Each running count came back before the next item was sent, not all at the end.
    for index, arrived in enumerate(outcome.arrivals[:3]):
        assert arrived < pause * (index + 2), (index, outcome.arrivals)
    print(f"arrivals (s, {pause} s between items): {[round(t, 2) for t in outcome.arrivals]}")


@pytest.mark.real_server
def test_the_input_ends_by_an_empty_final_item_too(fed: Fed) -> None:
    outcome = fed.send(["one two", "three"], START_PAUSE, final_empty=True)
    assert outcome.code is None, outcome
    results = [fed.result(chunk) for chunk in outcome.chunks]
    assert results[-1].message == "Hi, Ada! 3 words.", outcome


@pytest.mark.real_server
def test_a_request_stream_that_ends_without_is_final_ends_the_input(fed: Fed) -> None:
    """The server drops the feed's sink when the client's stream ends: the feed's other end."""
    outcome = fed.send(["one two", "three"], START_PAUSE, send_final=False)
    assert outcome.code is None, outcome
    assert fed.result(outcome.chunks[-1]).message == "Hi, Ada! 3 words.", outcome


@pytest.mark.real_server
def test_two_feeds_at_once_on_a_pool_of_two(fed: Fed) -> None:
    """The server's default channel runs two jobs at once: two instances, two feeds."""
    spans: dict[int, tuple[float, float, Any]] = {}

    def one(index: int) -> None:
        started = time.monotonic()
        outcome = fed.send(TEXTS * 2, 0.2)
        spans[index] = (started, time.monotonic(), outcome)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=FEED_DEADLINE * 2)
    assert sorted(spans) == [0, 1], spans
    for _, _, outcome in spans.values():
        assert outcome.code is None, outcome
        assert fed.result(outcome.chunks[-1]).message == "Hi, Ada! 12 words.", outcome
    (start_a, end_a, _), (start_b, end_b, _) = spans.values()
    overlap = min(end_a, end_b) - max(start_a, start_b)
    print(f"two feeds at once: {end_a - start_a:.2f} s and {end_b - start_b:.2f} s, "
          f"overlapping {overlap:.2f} s")  # fmt: skip
    assert overlap > 0


@pytest.mark.real_server
def test_a_cancel_mid_feed_ends_the_job_and_the_worker_runs_the_next(fed: Fed) -> None:
    cancelled = threading.Event()

    def cancel_after_first(outcome: Any) -> None:
        if len(outcome.chunks) == 1 and outcome.job_id and not cancelled.is_set():
            cancelled.set()
            assert jobworkerp_grpc.delete_job(fed.server.address, outcome.job_id)

    started = time.monotonic()
    outcome = fed.send(["one", "two", "three", "four"], 1.0, on_chunk=cancel_after_first)
    seconds = time.monotonic() - started
    assert cancelled.is_set(), outcome
    results = [fed.result(chunk) for chunk in outcome.chunks]
    # Nothing after the cancel: no running count past the first, no whole result.
    assert [result.delta for result in results] == ["1 words"], outcome
    assert seconds < 4, f"the job ran on after its cancel: {seconds:.1f} s, {outcome}"
    print(f"cancel mid-feed: {outcome.code} {outcome.details!r}, trailer {outcome.trailer}")
    after = fed.send(["next job"], START_PAUSE)
    assert after.code is None, after
    assert fed.result(after.chunks[-1]).message == "Hi, Ada! 2 words.", after


def streamed_without_feed(fed: Fed, method: str) -> tuple[grpc.StatusCode | None, str]:
    """``EnqueueForStream`` of ``method``: a streaming job without a feed."""
    request = jobworkerp_grpc.job_request(fed.worker, fed.args("Ada"), method, None)
    target = jobworkerp_grpc.target_of(fed.server.address)
    with grpc.insecure_channel(target) as channel:
        stub = jobworkerp_grpc.api().job_grpc.JobServiceStub(channel)
        try:
            for _ in stub.EnqueueForStream(request, timeout=60):
                pass
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
    return None, ""


@pytest.mark.real_server
def test_a_feed_method_without_a_feed_is_refused_clearly(fed: Fed) -> None:
    plain = jobworkerp_grpc.enqueue(fed.server.address, fed.worker, fed.args("Ada"), "count_words")
    # Plain Enqueue meets the output-type guard first: a feed method only streams.
    assert plain.code == grpc.StatusCode.INVALID_ARGUMENT, plain
    assert "does not support non-streaming" in plain.details, plain
    code, details = streamed_without_feed(fed, "count_words")
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "EnqueueWithClientStream" in details, details
    # And a method without a feed through EnqueueWithClientStream.
    outcome = jobworkerp_grpc.enqueue_with_feed(
        fed.server.address, fed.worker, fed.args("Ada"), "run", [fed.feed("x")]
    )
    assert outcome.code is not None and outcome.code != grpc.StatusCode.OK, outcome
    assert "client stream" in outcome.details, outcome
    print(
        f"Enqueue: {plain.details!r}; EnqueueForStream: {details!r}; fed run: {outcome.details!r}"
    )


@pytest.mark.real_server
def test_feed_throughput(fed: Fed) -> None:
    """Items per second through the server and the plugin, one run: printed, not judged
    (``benchmarks/feed.py`` compares the flavors)."""
    count = 2000
    outcome = fed.send(["a b c"] * count, start_pause=START_PAUSE)
    assert outcome.code is None, outcome.details
    assert len(outcome.chunks) == count + 1
    assert fed.result(outcome.chunks[-1]).message == f"Hi, Ada! {3 * count} words."
    seconds = outcome.arrivals[-1]
    print(f"feed throughput: {count} items in {seconds:.2f} s = {count / seconds:.0f} items/s")


@pytest.mark.real_server
def test_a_feed_job_on_a_worker_without_use_static_says_why(fed: Fed) -> None:
    """The server sets no feed channel up for such a worker: the plugin refuses the job."""
    worker = "rustfeed-unstatic"
    fed.server.client(
        "worker", "create", "-n", worker, "-d", "test", "-r", runner_id(fed.server, fed.runner),
        "-s", '{"greeting": "Hi"}', "--store-success", "--store-failure",
    )  # fmt: skip
    outcome = jobworkerp_grpc.enqueue_with_feed(
        fed.server.address, worker, fed.args("Ada"), "count_words", [fed.feed("one two")]
    )
    assert outcome.code is not None and outcome.job_id, outcome
    assert outcome.chunks == [], outcome
    # The client hears only "Job execution error"; the stored result says why.
    stored = Worker(fed.server, worker)._stored("list-by-job-id", "-j", outcome.job_id)
    print(f"without use_static: {outcome.details!r}; stored: {stored['status']} {stored['output']}")
    assert stored["status"] != "SUCCESS", stored
    assert "takes a client stream" in str(stored["output"]), stored
    assert "use_static" in str(stored["output"]), stored


@pytest.mark.real_server
def test_the_readme_s_python_client_feeds_the_method_on_the_real_server(
    fed: Fed, tmp_path: Path
) -> None:
    """The generated README's snippet, run as written against this server and worker."""
    readme = (fed.crate.project / "README.md").read_text("utf-8")
    section = readme.split("## Feed methods", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, section
    snippet = found.group(1)
    slug = fed.crate.project.name
    for expected in (f'worker_name="{slug}"', '"127.0.0.1:9000"'):
        assert expected in snippet, snippet
    snippet = snippet.replace(f'worker_name="{slug}"', f'worker_name="{fed.worker}"')
    snippet = snippet.replace(
        '"127.0.0.1:9000"', repr(jobworkerp_grpc.target_of(fed.server.address))
    )
    # The modules the README's protoc commands write: the server's and the plugin's.
    server_protos = Path(jobworkerp_grpc.api().job.__file__).parents[2]
    script = tmp_path / "client.py"
    script.write_text(snippet, "utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(server_protos), str(fed.folder)])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 'delta: "2 words"' in done.stdout and 'delta: "3 words"' in done.stdout, done.stdout
    assert 'message: "Hi, Ada! 3 words."' in done.stdout, done.stdout
