"""No plugin code can kill, freeze or damage the server: faults through the bridge, on the real server.

One fault render (``tests/plugin_faults.py``) is built once and registered as a PLUGIN runner.
Each case runs one fault on a ``use_static`` worker while jobs queued on another worker of the
same runner go on (the default channel runs as many jobs at once as there are cores, at least
two here). After each fault:

* the server is the same process (same pid, alive);
* the next job on the same worker gets its own answer;
* the jobs queued on the other worker during the fault all succeed, each with its own answer;
* the failed job's status and stored message say what happened (``SIGABRT``, ``exit status 7``,
  ``ValueError`` ...);
* no process of the plugin is left spinning (CPU above half a core, sampled from ``/proc``).

The last test stops the server and checks that no process the lane saw (the plugin's workers,
the fork faults' children) outlives it, then starts the server again. A table of the outcomes
is printed at the end (``pytest -s``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bridge_lane import (
    GREETING,
    Watch,
    alive,
    build_lane,
    enqueue,
    message_of,
    queued_worker,
    read_proc,
    server_pid,
    wait_result,
    waiting_worker,
)
from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, cargo
from tests.v2_library import Outcome, Worker

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(
        cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
    ),
]

PACKAGE = "fault_lane"
RUNNER = "FaultLane"
BYSTANDERS = 3  # jobs queued on the other worker while each fault runs
MIB = 1 << 20
BIG_MB = 50
TIMEOUT_MS = 1000
# A job that ends a worker, times out or is cancelled must end this soon (grace included).
PROMPT_SECONDS = 5.0
TABLE: list[tuple[str, str, str, str, str]] = []


@dataclass
class Lane:
    server: JobWorkerP
    folder: Path
    faults: Worker  # use_static, DIRECT
    queued: str  # use_static, NO_RESULT: jobs that are cancelled
    bystander: str  # use_static, NO_RESULT: the other worker's jobs during each fault
    pooled: Worker  # not use_static, DIRECT
    fork: Worker  # use_static, DIRECT: the fork fault whose child runs on
    pid: int
    watch: Watch


@pytest.fixture(scope="module")
def lane(jobworkerp: JobWorkerP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    server = jobworkerp
    folder = tmp_path_factory.mktemp("fault-lane")
    _, runner = build_lane(server, folder, PACKAGE, RUNNER)
    lane = Lane(
        server,
        folder,
        waiting_worker(server, runner, "lane-faults"),
        queued_worker(server, runner, "lane-queued"),
        queued_worker(server, runner, "lane-bystander"),
        waiting_worker(server, runner, "lane-pooled", static=False),
        waiting_worker(server, runner, "lane-fork"),
        server_pid(server),
        Watch(server, folder),
    )
    try:
        yield lane
    finally:
        if TABLE:
            print("\n| fault | server alive (same pid) | next job | status: message | left |")
            print("| --- | --- | --- | --- | --- |")
            for row in TABLE:
                print("| " + " | ".join(row) + " |")
        # A fault that ended the server must not take the session's other tests with it.
        if not alive(server_pid(server)):
            server.stop()
            server.start()


@dataclass(frozen=True)
class Case:
    label: str
    name: str  # the job's args name (the fault it carries)
    statuses: tuple[str, ...]  # what the faulty job may end as
    says: tuple[str, ...] = ()  # its stored message contains one of these
    how: str = "run"  # run, stream, timeout (-t 1000), cancel (job delete), pooled

    @property
    def worker(self) -> str:
        """The worker whose next job must succeed: faults, queued or pooled."""
        return {"cancel": "queued", "pooled": "pooled", "fork": "fork"}.get(self.how, "faults")

    def run(self, lane: Lane) -> Outcome:
        args = {"name": self.name}
        if self.how == "stream":
            return lane.faults.stream(args, "run")
        if self.how == "cancel":
            return cancelled(lane, self.name)
        if self.how == "pooled":
            return lane.pooled.run(args, "run")
        if self.how == "fork":
            return lane.fork.run(args, "run")
        return lane.faults.run(args, "run", TIMEOUT_MS if self.how == "timeout" else None)


def cancelled(lane: Lane, name: str) -> Outcome:
    """A job deleted (``job delete``) once it runs; ``seconds`` from the delete to its end."""
    server = lane.server
    # The server listens for a job's cancellation only once its runner is loaded: a delete
    # that comes while a worker starts finds no one ("No receivers for cancellation broadcast")
    # and is lost. A job first, so that the static runner is loaded when this one starts.
    wait_result(server, enqueue(server, lane.queued, "before the cancel"), 60)
    job = enqueue(server, lane.queued, name)
    deadline = time.monotonic() + 30
    while (
        job
        not in server.client(
            "job", "list-with-processing-status", "-s", "running", "--format", "json"
        ).stdout
    ):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    time.sleep(1.0)  # inside the plugin's sleep by now
    started = time.monotonic()
    server.client("job", "delete", "-i", job)
    record = wait_result(server, job, 30)
    seconds = time.monotonic() - started
    return Outcome(record["status"], error=str(record.get("output")), seconds=seconds)


SIGNALLED = ("OTHER_ERROR", "FATAL_ERROR", "ERROR_AND_RETRY", "MAX_RETRY")
TIMED_OUT = ("ERROR_AND_RETRY", "MAX_RETRY")
OWN = ("SUCCESS",)

CASES = [
    Case("os.abort", "f|run|raise:os.abort", SIGNALLED, ("SIGABRT",)),
    Case("os._exit(7)", "f|run|raise:os._exit", SIGNALLED, ("exit status 7",)),
    Case("posix._exit(9)", "f|run|raise:posix._exit", SIGNALLED, ("exit status 9",)),
    Case("segfault", "f|run|raise:segfault", SIGNALLED, ("SIGSEGV",)),
    # SIGSEGV on Python 3.11; from 3.12 the interpreter's C recursion guard raises instead.
    Case("C stack overflow", "f|run|raise:c_recursion", SIGNALLED, ("SIGSEGV", "RecursionError")),
    Case("sys.exit", "f|run|raise:SystemExit", ("OTHER_ERROR",), ("SystemExit",)),
    Case("exception", "f|run|raise:ValueError", ("OTHER_ERROR",), ("ValueError",)),
    Case("busy loop, -t 1000", "f|run|loop", TIMED_OUT, how="timeout"),
    # A plugin's error cannot carry the CANCELLED status (the server gives it to its own
    # cancellation errors only); the bridge's "cancelled" error ends as OTHER_ERROR.
    Case(
        "sleep, then job delete",
        "f|run|sleep:10000",
        ("CANCELLED", "OTHER_ERROR"),
        ("cancelled",),
        "cancel",
    ),
    Case("PATH=/nonexistent", "f|run|environ", OWN),
    Case("close fds 1 and 2", "f|run|close_fds", OWN),
    Case(f"{BIG_MB} MB result", f"f|run|big:{BIG_MB}", OWN),
    Case("raise mid-stream", "f a b|chunk1|raise:ValueError", OWN, how="stream"),
    Case("os.abort, no use_static", "f|run|raise:os.abort", SIGNALLED, ("SIGABRT",), "pooled"),
    # On a worker of its own: a copy answering on the worker's channel would upset the others.
    Case("fork (child runs on)", "f|run|fork_exit", OWN, how="fork"),
    # Last: its child still sleeps when the server stops, after the cases.
    Case("fork (child sleeps 60 s)", "f|run|fork", OWN),
]


def next_job(lane: Lane, case: Case) -> str:
    """The next job on the fault's worker: its message ('' when it failed)."""
    name = f"next {case.label}"
    if case.worker == "queued":
        record = wait_result(lane.server, enqueue(lane.server, lane.queued, name), 60)
        return message_of(record) if record["status"] == "SUCCESS" else ""
    worker = {"pooled": lane.pooled, "fork": lane.fork}.get(case.worker, lane.faults)
    outcome = worker.run({"name": name}, "run")
    return (outcome.result or {}).get("message", "") if outcome.status == "SUCCESS" else ""


def short(text: str | None, limit: int = 110) -> str:
    text = (text or "").replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[:limit] + "..."


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_a_fault_leaves_the_server_and_other_jobs_alone(lane: Lane, case: Case) -> None:
    server = lane.server
    before = set(lane.watch.processes())
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(case.run, lane)
        queued: list[tuple[int, str | None]] = []
        refusal = ""
        for number in range(BYSTANDERS):  # queued while the fault runs
            try:
                job = enqueue(server, lane.bystander, f"by {case.label} {number}")
            except AssertionError as refused:  # the server died or broke: reported below
                job, refusal = None, str(refused)
            queued.append((number, job))
            time.sleep(0.05)
        outcome = running.result()
    same_server = alive(lane.pid) and server_pid(server) == lane.pid
    if not same_server:
        TABLE.append((case.label, "NO: the server died", "-", short(outcome.error), "-"))
        log = server.log_tail(12)
        # The next cases get a server of their own.
        server.stop()
        server.start()
        lane.pid = server_pid(server)
        pytest.fail(f"the server died on {case.label}: {outcome}\n{log}")
    assert all(job for _, job in queued), f"a job could not be queued: {refusal}"
    after = next_job(lane, case)
    bystanders = {number: wait_result(server, job, 60) for number, job in queued if job}
    time.sleep(1.0)  # a worker killed or replaced has had its time to go
    spinning = lane.watch.spinning()
    new = set(lane.watch.processes()) - before
    TABLE.append(
        (
            case.label,
            "yes",
            "ok" if after == f"{GREETING}, next {case.label}!" else f"FAILED {short(after, 40)}",
            f"{outcome.status}: {short(outcome.error) if outcome.status != 'SUCCESS' else 'own answer'}",
            "; ".join(spinning) or f"none spinning ({len(new)} new processes)",
        )
    )
    assert after == f"{GREETING}, next {case.label}!", after
    for number, record in bystanders.items():
        assert record["status"] == "SUCCESS", record
        assert message_of(record) == f"{GREETING}, by {case.label} {number}!", record
    assert outcome.status in case.statuses, outcome
    if case.says:
        assert any(word in (outcome.error or "") for word in case.says), outcome
    if case.worker != "queued" and outcome.status != "SUCCESS":
        assert outcome.seconds < PROMPT_SECONDS, outcome  # no wait for a dead worker
    if case.how == "cancel":
        assert outcome.seconds < PROMPT_SECONDS, outcome  # the job ends at once
    if outcome.status == "SUCCESS" and case.how == "run":
        message = (outcome.result or {}).get("message", "")
        extra = "x" * (BIG_MB * MIB) if "big:" in case.name else ""
        assert message == f"{GREETING}, {case.name}!{extra}", short(message)
    if case.name.endswith("|fork"):
        # The child sleeps in its worker's process group: stopping the worker stops it too.
        children = [proc for proc in lane.watch.fork_processes() if proc.comm == "jwp-fault-fork"]
        assert children, "the fork fault's child is not running"
        for child in children:
            parent = read_proc(child.parent)
            assert parent is not None and parent.group == child.group, (child, parent)
    if case.how == "stream":
        assert outcome.chunks is not None and len(outcome.chunks) == 1, outcome
    assert spinning == [], spinning


def test_a_copy_of_a_worker_does_not_run_on(lane: Lane) -> None:
    """A forked copy that returns from the handler is gone soon, whatever the job ended as."""
    deadline = time.monotonic() + PROMPT_SECONDS
    while time.monotonic() < deadline:
        copies = [proc for proc in lane.watch.fork_processes() if proc.comm == "jwp-fault-copy"]
        if not copies:
            return
        time.sleep(0.2)
    pytest.fail(f"forked copies of a worker still run: {copies}")


def test_nothing_of_the_plugin_outlives_the_server(lane: Lane) -> None:
    """Stop the server: every process the lane saw (workers, fork children) ends with it."""
    server = lane.server
    lane.watch.processes()
    # The plugin's own: its render's Python (workers) and the fork faults' children.
    seen = {key: proc for key, proc in lane.watch.seen.items() if lane.watch.is_plugin(proc)}
    server.stop()
    try:
        deadline = time.monotonic() + PROMPT_SECONDS
        while (left := lane.watch.left(seen)) and time.monotonic() < deadline:
            time.sleep(0.2)
        names = [f"{proc.pid} {proc.comm} {proc.cmdline[:100]}" for proc in left]
        TABLE.append(("server stopped", "-", "-", "-", "; ".join(names) or "nothing left"))
        # What the lane started goes, whatever the verdict (these are this test's processes).
        for proc in left:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)
        assert names == [], names
    finally:
        server.start()
