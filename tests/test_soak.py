"""Soak: thousands of mixed jobs with random faults on a small pool; every job gets its own answer.

Jobs of both methods and all three streaming types go through the generated host on a pool of
four pooled instances, up to 32 at a time. A seeded plan injects faults at random: exceptions
of every kind in ``run()``, ``begin_stream()``, ``receive_stream()`` and ``collect_stream()``,
undecodable args, wrong return types, cancellations and timeouts. Every job's name carries its
number and every answer echoes the name, so each result can be matched to its job: none may be
lost, duplicated or handed to another job, and each must be exactly what its plan predicts.
The resident memory after a warm-up and at the end must stay close (a leak of a few kilobytes
per job would show), and the host's threads must wind down.

The default lane runs 1,000 jobs, the full lane 10,000. The counts and the peak memory are
printed (``pytest -n 0 -s``).
"""

from __future__ import annotations

import gc
import importlib
import json
import random
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.plugin_faults import faulty_plugin

PACKAGE = "soak_plugin"
POOL_SIZE = 4
IN_FLIGHT = 32
EXCEPTIONS = [
    "SystemExit",
    "KeyboardInterrupt",
    "RecursionError",
    "MemoryError",
    "OddBaseError",
    "UnprintableError",
    "ValueError",
    "PluginError",
]
# Memory may grow this much between the warm-up and the end (allocator slack, caches).
MEMORY_GROWTH_LIMIT = 32 << 20


@dataclass(frozen=True)
class Planned:
    """One job and the fault it carries."""

    number: int
    method: str
    stream: str | None  # None, "response" or "internal"
    fault: str  # "none", "raise", "bad-bytes", "bad-return", "cancel", "timeout", "slow"
    where: str = ""
    exception: str = ""

    @property
    def name(self) -> str:
        if self.fault == "raise":
            return f"{self.number}|{self.where}|raise:{self.exception}"
        if self.fault == "bad-return":
            return f"{self.number}|return|none"
        if self.fault == "timeout":
            return f"{self.number}|{'run' if self.stream is None else 'begin'}|sleep:300"
        if self.fault == "slow":
            return f"{self.number} a b|gap|sleep:1"
        return f"{self.number} job"

    @property
    def answer(self) -> str:
        return f"Hello, {self.name}!"


def make_plan(count: int, seed: int) -> list[Planned]:
    pick = random.Random(seed)
    plan = []
    for number in range(count):
        method = pick.choice(["run", "echo"])
        stream = pick.choice([None, None, "response", "internal"])
        roll = pick.random()
        if roll < 0.12:
            where = {None: "run", "response": pick.choice(["begin", "chunk1"])}.get(
                stream, pick.choice(["begin", "chunk1", "collect"])
            )
            job = Planned(number, method, stream, "raise", where, pick.choice(EXCEPTIONS))
        elif roll < 0.17:
            job = Planned(number, method, stream, "bad-bytes")
        elif roll < 0.20 and stream is None:
            job = Planned(number, method, stream, "bad-return")
        elif roll < 0.24:
            job = Planned(number, method, stream, "cancel")
        elif roll < 0.245:
            job = Planned(number, method, stream, "timeout")
        elif roll < 0.30:
            job = Planned(number, method, stream, "slow")
        else:
            job = Planned(number, method, stream, "none")
        plan.append(job)
    return plan


class Soak:
    def __init__(self, module: ModuleType) -> None:
        self.module = module
        host = importlib.import_module(f"{PACKAGE}.framework.devtools.host")
        self.host_module = host
        self.Status, self.Streaming, self.End = (
            host.ResultStatus,
            host.StreamingType,
            host.StreamEnd,
        )
        runner = importlib.import_module(f"{PACKAGE}.runner")
        self.args_types = {"run": runner.RunArgs, "echo": runner.EchoArgs}
        self.result_types = {"run": runner.RunResult, "echo": runner.EchoResult}

    def job(self, planned: Planned) -> Any:
        if planned.fault == "bad-bytes":
            args = b"\xff\xfe" + str(planned.number).encode()
        else:
            args = self.args_types[planned.method](name=planned.name).SerializeToString()
        stream = self.Streaming[planned.stream.upper()] if planned.stream else self.Streaming.NONE
        return self.host_module.Job(
            args=args,
            metadata={"job": str(planned.number)},
            using=planned.method,
            streaming_type=stream,
            timeout_ms=30 if planned.fault == "timeout" else 0,
        )

    def text(self, planned: Planned, output: bytes) -> str:
        return str(self.result_types[planned.method].FromString(output).message)

    def deltas(self, planned: Planned, chunks: list[bytes]) -> str:
        kind = self.result_types[planned.method]
        return "".join(kind.FromString(chunk).delta for chunk in chunks)

    def mismatch(self, planned: Planned, result: Any) -> str | None:
        """Why ``result`` is not what ``planned`` must get; ``None`` when it is."""
        status, end = result.status, result.stream_end
        own = str(planned.number)
        if planned.fault == "cancel":
            # Cancelled before it started, while it ran, between two chunks (the plugin's own
            # cancel() then ends the stream), or too late: whatever it got is its own.
            if status not in (self.Status.SUCCESS, self.Status.CANCELLED):
                return f"cancelled job ended {status.name}"
            if planned.stream == "response" or status == self.Status.CANCELLED:
                got = self.deltas(planned, result.chunks)
            else:
                got = self.text(planned, result.output)
            return None if planned.answer.startswith(got) else f"not its own: {got[:80]!r}"
        if planned.fault in ("none", "slow"):
            if status != self.Status.SUCCESS:
                return f"status {status.name}: {result.output[:200]!r}"
            if planned.stream is None:
                if self.text(planned, result.output) != planned.answer:
                    return f"answer {self.text(planned, result.output)[:80]!r}"
                if result.metadata.get("job") != own:
                    return f"metadata {result.metadata}"
            elif planned.stream == "response":
                if end != self.End.END or self.deltas(planned, result.chunks) != planned.answer:
                    return f"stream {end} {self.deltas(planned, result.chunks)[:80]!r}"
                if (result.trailer or {}).get("job") != own:
                    return f"trailer {result.trailer}"
            elif self.text(planned, result.output) != planned.answer:
                return f"collected {self.text(planned, result.output)[:80]!r}"
            return None
        if planned.fault == "timeout":
            return None if status == self.Status.ERROR_AND_RETRY else f"timeout {status.name}"
        if planned.fault == "bad-bytes":
            if status != self.Status.OTHER_ERROR or b"not a valid" not in result.output:
                return f"bad bytes {status.name} {result.output[:80]!r}"
            return None
        if planned.fault == "bad-return":
            ok = status == self.Status.OTHER_ERROR and b"run() returned" in result.output
            return None if ok else f"bad return {status.name}"
        # raise
        expected = "refused on purpose" if planned.exception == "PluginError" else planned.exception
        if planned.where == "chunk1":
            if status != self.Status.SUCCESS or end != self.End.ERROR:
                return f"chunk fault {status.name} {end}"
            if self.deltas(planned, result.chunks) != "Hello, ":
                return f"chunk fault chunks {self.deltas(planned, result.chunks)!r}"
            return None if expected in " ".join(result.warnings) else f"warnings {result.warnings}"
        if status != self.Status.OTHER_ERROR or expected.encode() not in result.output:
            return f"{planned.where} fault {status.name} {result.output[:120]!r}"
        if planned.where == "run":
            wanted = {"kept": "yes"} if planned.exception == "PluginError" else {"job": own}
            if result.metadata != wanted:
                return f"error metadata {result.metadata}"
        return None


def resident_bytes() -> int:
    """Resident memory now (Linux), else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize()
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def peak_resident_bytes() -> int:
    """The most resident memory this process has had (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Soak]:
    with faulty_plugin(tmp_path_factory.mktemp("soak"), PACKAGE) as module:
        yield Soak(module)


def run_soak(soak: Soak, count: int, seed: int) -> dict[str, Any]:
    plan = make_plan(count, seed)
    results: dict[int, list[Any]] = {planned.number: [] for planned in plan}
    chunk_owners: Counter[str] = Counter()
    owners_lock = threading.Lock()
    window = threading.BoundedSemaphore(IN_FLIGHT)
    threads_before = threading.active_count()
    warm_memory = 0

    def on_chunk(running: Any, chunk: bytes) -> None:
        # each chunk must be a piece of the answer of the job it was delivered to
        planned = plan[int(running.job.metadata["job"])]
        piece = soak.deltas(planned, [chunk])
        with owners_lock:
            chunk_owners["own" if piece in planned.answer else "foreign"] += 1

    with soak.host_module.Host(
        soak.module.load_multi_method_plugin, use_static=True, pool_size=POOL_SIZE
    ) as host:
        pending: list[tuple[Planned, Any]] = []

        def collect(done: list[tuple[Planned, Any]]) -> None:
            for planned, running in done:
                try:
                    results[planned.number].append(running.result(60))
                finally:
                    window.release()

        for index, planned in enumerate(plan):
            window.acquire()
            running = host.submit(soak.job(planned), on_chunk)
            if planned.fault == "cancel":
                running.cancel()
            pending.append((planned, running))
            if len(pending) >= IN_FLIGHT:
                collect(pending[: IN_FLIGHT // 2])
                pending = pending[IN_FLIGHT // 2 :]
            if index == min(count // 10, 1000):
                gc.collect()
                warm_memory = resident_bytes()
        collect(pending)
        stats = host.stats
    gc.collect()
    end_memory = resident_bytes()
    # stragglers: calls abandoned after a timeout finish their sleep, then their threads end
    deadline = time.monotonic() + 30
    while threading.active_count() > threads_before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)

    lost = [number for number, got in results.items() if not got]
    duplicated = [number for number, got in results.items() if len(got) > 1]
    wrong = {
        planned.number: problem
        for planned in plan
        if results[planned.number]
        and (problem := soak.mismatch(planned, results[planned.number][0]))
    }
    faults = Counter(planned.fault for planned in plan if planned.fault not in ("none", "slow"))
    exceptions = Counter(planned.exception for planned in plan if planned.fault == "raise")
    report = {
        "jobs": count,
        "faults_injected": sum(faults.values()),
        "faults": dict(faults),
        "exceptions": dict(exceptions),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "wrong_or_swapped": len(wrong),
        "chunks": dict(chunk_owners),
        "pool": {
            "constructed": stats.constructed,
            "loaded": stats.loaded,
            "recycled": stats.recycled,
            "detached": stats.detached,
        },
        "rss_after_warmup_mib": round(warm_memory / (1 << 20), 1),
        "rss_at_end_mib": round(end_memory / (1 << 20), 1),
        "peak_rss_mib": round(peak_resident_bytes() / (1 << 20), 1),
        "threads_left": threading.active_count() - threads_before,
    }
    print(f"\nsoak: {json.dumps(report)}")
    assert lost == [], lost[:10]
    assert duplicated == [], duplicated[:10]
    assert wrong == {}, dict(list(wrong.items())[:10])
    assert chunk_owners["foreign"] == 0
    assert chunk_owners["own"] > 0
    assert end_memory - warm_memory < MEMORY_GROWTH_LIMIT, report
    assert threading.active_count() <= threads_before + 1, report
    # pooled instances are reused: a new one is loaded only when one was dropped (a call that
    # overran or was cancelled) or its job was cancelled while it loaded
    assert stats.loaded <= POOL_SIZE + stats.detached + faults["cancel"], report
    assert stats.recycled > count // 2, report
    return report


def test_soak_1000_jobs(soak: Soak) -> None:
    report = run_soak(soak, 1_000, seed=4)
    assert report["faults_injected"] > 100


@pytest.mark.full
def test_soak_10000_jobs(soak: Soak) -> None:
    report = run_soak(soak, 10_000, seed=10_000)
    assert report["faults_injected"] > 1_000
