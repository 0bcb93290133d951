"""Soak of the native bridge on the real server: mixed jobs with random faults, none lost.

The fault render (``tests/plugin_faults.py``) is built and registered; three workers of it take
the jobs: two ``use_static`` and one not (the pool path), all ``NO_RESULT`` with results stored.
A seeded plan sends jobs of both methods through the server's gRPC API, at most ``WINDOW`` in
flight, about one in six with a fault: a Python exception, ``SystemExit``, a short sleep, or a
fault that ends the worker process (``os.abort``, ``os._exit(7)``, a segfault). Every job's name
carries its number and every answer echoes the name, so each stored result is matched to its
job: none may be lost, none may have two results, each must be what its plan predicts (its own
answer, or a failure that names the fault). The server's resident memory after a tenth of the
jobs and at the end must stay close, and the plugin's processes must not pile up.

Default lane: 300 jobs; full lane: 10,000. The counts and the memory figures are printed
(``pytest -n 0 -s``).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bridge_lane import GREETING, Watch, alive, build_lane, queued_worker, server_pid
from tests.jobworkerp_grpc import JobClient, Stored, first_string, string_field
from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, cargo

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(
        cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
    ),
]

PACKAGE = "soak_lane"
RUNNER = "SoakLane"
WORKERS = ("soak-static-a", "soak-static-b", "soak-pooled")
WINDOW = 64  # jobs in flight
# (fault, share of the jobs, the status it ends as, what its stored message names)
FAULTS = [
    ("raise:ValueError", 0.05, "OTHER_ERROR", "ValueError"),
    ("raise:SystemExit", 0.02, "OTHER_ERROR", "SystemExit"),
    ("sleep:50", 0.04, "SUCCESS", ""),
    ("raise:os.abort", 0.02, "", "SIGABRT"),
    ("raise:os._exit", 0.02, "", "exit status 7"),
    ("raise:segfault", 0.02, "", "SIGSEGV"),
]
# The server's memory may grow this much between a tenth of the jobs and the end.
MEMORY_GROWTH_LIMIT = 64 << 20
PROCESS_LIMIT = 16  # the plugin's live processes at the end (workers of three pools)


@dataclass(frozen=True)
class Planned:
    number: int
    worker: str
    method: str
    fault: str  # "" for a plain job

    @property
    def name(self) -> str:
        return f"{self.number}|run|{self.fault}" if self.fault else f"{self.number} job"

    def mismatch(self, stored: Stored) -> str | None:
        """Why ``stored`` is not what this job must get; None when it is."""
        expected = next((row for row in FAULTS if row[0] == self.fault), None)
        if expected is None or expected[2] == "SUCCESS":
            if stored.status != "SUCCESS":
                return f"{stored.status}: {stored.output[:120]!r}"
            got = first_string(stored.output)
            return None if got == f"{GREETING}, {self.name}!" else f"answer {got[:80]!r}"
        _, _, status, says = expected
        if stored.status == "SUCCESS" or (status and stored.status != status):
            return f"{stored.status}: {stored.output[:120]!r}"
        return None if says.encode() in stored.output else f"message {stored.output[:160]!r}"


def make_plan(count: int, seed: int) -> list[Planned]:
    pick = random.Random(seed)
    plan = []
    for number in range(count):
        roll, fault = pick.random(), ""
        for name, share, _, _ in FAULTS:
            if roll < share:
                fault = name
                break
            roll -= share
        plan.append(Planned(number, pick.choice(WORKERS), pick.choice(["run", "echo"]), fault))
    return plan


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Soak:
    server: JobWorkerP
    api: JobClient
    watch: Watch


@pytest.fixture(scope="module")
def soak(jobworkerp: JobWorkerP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Soak]:
    folder = tmp_path_factory.mktemp("bridge-soak")
    _, runner = build_lane(jobworkerp, folder, PACKAGE, RUNNER)
    for worker in WORKERS:
        queued_worker(jobworkerp, runner, worker, static=worker != "soak-pooled")
    api = JobClient(jobworkerp.address)
    pid = server_pid(jobworkerp)
    try:
        yield Soak(jobworkerp, api, Watch(jobworkerp, folder))
    finally:
        api.close()
        # A fault that ended the server must not take the session's other tests with it.
        if not alive(pid):
            jobworkerp.stop()
            jobworkerp.start()


def run_soak(soak: Soak, count: int, seed: int) -> dict[str, object]:
    plan = make_plan(count, seed)
    api, pid = soak.api, server_pid(soak.server)
    ids: dict[int, int] = {}  # job id -> plan number
    first: dict[int, Stored] = {}  # plan number -> its first stored result
    outstanding: list[int] = []
    warm_memory, started = 0, time.monotonic()
    deadline = started + 120 + count * 0.5
    sent = 0
    while len(first) < count:
        while sent < count and len(outstanding) < WINDOW:
            planned = plan[sent]
            job = api.enqueue(planned.worker, string_field(1, planned.name), planned.method)
            ids[job] = planned.number
            outstanding.append(job)
            sent += 1
        still = []
        for job in outstanding:
            found = api.results_of(job)
            if found:
                first[ids[job]] = found[0]
            else:
                still.append(job)
        if len(still) == len(outstanding):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        outstanding = still
        if not warm_memory and len(first) >= count // 10:
            warm_memory = resident_bytes(pid)
    seconds = time.monotonic() - started
    end_memory = resident_bytes(pid)
    time.sleep(1.0)  # a late second result would be stored by now
    counts = {ids[job]: len(api.results_of(job)) for job in ids}
    lost = sorted(number for number in range(count) if number not in first)
    duplicated = sorted(number for number, found in counts.items() if found > 1)
    wrong = {
        number: problem
        for number, stored in first.items()
        if (problem := plan[number].mismatch(stored))
    }
    processes = [proc for proc in soak.watch.processes().values() if soak.watch.is_plugin(proc)]
    spinning = soak.watch.spinning()
    report = {
        "jobs": count,
        "seconds": round(seconds, 1),
        "faults": dict(Counter(planned.fault for planned in plan if planned.fault)),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "wrong": len(wrong),
        "server_same_pid": server_pid(soak.server) == pid,
        "server_rss_after_a_tenth_mib": round(warm_memory / (1 << 20), 1),
        "server_rss_at_end_mib": round(end_memory / (1 << 20), 1),
        "plugin_processes_at_end": len(processes),
        "spinning": spinning,
    }
    print(f"\nbridge soak: {json.dumps(report)}")
    assert report["server_same_pid"], report
    assert lost == [], lost[:10]
    assert duplicated == [], duplicated[:10]
    assert wrong == {}, dict(list(wrong.items())[:10])
    assert end_memory - warm_memory < MEMORY_GROWTH_LIMIT, report
    assert len(processes) <= PROCESS_LIMIT, [proc.cmdline[:100] for proc in processes]
    assert spinning == [], spinning
    return report


def test_soak_300_jobs(soak: Soak) -> None:
    report = run_soak(soak, 300, seed=300)
    assert isinstance(report["faults"], dict) and sum(report["faults"].values()) > 20


@pytest.mark.full
def test_soak_10000_jobs(soak: Soak) -> None:
    report = run_soak(soak, 10_000, seed=10_000)
    assert isinstance(report["faults"], dict) and sum(report["faults"].values()) > 1_000
