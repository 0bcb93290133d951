"""The fault render's native bridge on the real server: the pieces its fault lane and soak share.

``build_lane()`` renders the robustness tests' fault plugin (``tests/plugin_faults.py``) into a
venv of its own, builds its ``native/`` library (debug) and registers it with the server as a
PLUGIN runner. Jobs go through ``jobworkerp-client``: ``Worker`` (``tests/v2_library.py``) for
jobs whose caller waits (``DIRECT`` workers), ``enqueue()`` and ``results()`` for workers whose
jobs are queued and whose results are read back from storage (``NO_RESULT`` workers, results
stored).

The plugin's processes are found through ``/proc``: the server's descendants, every process
whose command line names the render's folder, and the processes the fork faults name
``jwp-fault-*``. ``cpu_rates()`` samples their CPU time over a short window.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.jobworkerp_grpc import first_string
from tests.jobworkerp_server import JobWorkerP
from tests.native_support import Bridge, prepare_bridge
from tests.plugin_faults import ANSWERS as FAULT_ANSWERS
from tests.plugin_faults import FAULTS
from tests.v2_library import Worker, json_values, register, static_worker

GREETING = "Hi"
SETTINGS = {"greeting": GREETING}
FORK_NAMES = ("jwp-fault-fork", "jwp-fault-copy")
TICKS = os.sysconf("SC_CLK_TCK")


def build_lane(server: JobWorkerP, folder: Path, package: str, runner: str) -> tuple[Bridge, str]:
    """The fault plugin rendered as ``package``, its bridge built and registered; (bridge, id)."""

    def add_faults(path: Path) -> None:
        path.write_text(path.read_text("utf-8") + FAULTS, "utf-8")

    bridge = prepare_bridge(
        folder / "render",
        add_faults,
        **{**FAULT_ANSWERS, "plugin_slug": package.replace("_", "-"), "package_name": package},
    )
    bridge.cargo("build")
    return bridge, register(server, bridge.library, folder, runner)


def queued_worker(
    server: JobWorkerP, runner: str, name: str, *, static: bool = True, channel: str = ""
) -> str:
    """A ``NO_RESULT`` worker of ``runner`` whose results are stored; returns its name."""
    server.client(
        "worker", "create", "-n", name, "-d", "test", "-r", runner,
        "-s", json.dumps(SETTINGS), "--response-type", "NO_RESULT",
        "--store-success", "--store-failure",
        *(["--use-static"] if static else []), *(["-c", channel] if channel else []),
    )  # fmt: skip
    return name


@dataclass(frozen=True)
class StoredWorker(Worker):
    """A ``Worker`` that waits for a result to be stored: the client may answer first."""

    def _stored(self, *args: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while True:
            listed = self.server.client("job-result", *args, "--format", "json", check=False)
            if listed.stdout.lstrip().startswith("{") or time.monotonic() > deadline:
                return super()._stored(*args)
            time.sleep(0.1)


def waiting_worker(server: JobWorkerP, runner: str, name: str, *, static: bool = True) -> Worker:
    """A ``DIRECT`` worker (the caller waits for the result), results stored."""
    if static:
        return StoredWorker(server, static_worker(server, runner, name, SETTINGS).name)
    server.client(
        "worker", "create", "-n", name, "-d", "test", "-r", runner,
        "-s", json.dumps(SETTINGS), "--store-success", "--store-failure",
    )  # fmt: skip
    return StoredWorker(server, name)


def enqueue(
    server: JobWorkerP, worker: str, name: str, using: str = "run", timeout_ms: int | None = None
) -> str:
    """Queue one job on a ``NO_RESULT`` worker; returns its id."""
    command = ["job", "enqueue", "-w", worker, "-a", json.dumps({"name": name}), "--using", using]
    if timeout_ms is not None:
        command += ["-t", str(timeout_ms)]
    done = server.client(*command)
    found = re.search(r"(?:Job ID|job_id|JobId)\D*(\d+)", done.stdout + done.stderr, re.I)
    if found is None:
        found = re.search(r"\b(\d{6,})\b", done.stdout)
    assert found, done.stdout + done.stderr
    return found.group(1)


def results(server: JobWorkerP, job_id: str) -> list[dict[str, Any]]:
    """The stored results of one job (several when the server retried it)."""
    listed = server.client("job-result", "list-by-job-id", "-j", job_id, "--format", "json")
    text = listed.stdout.strip()
    if not text.startswith(("{", "[")):
        return []
    found: list[dict[str, Any]] = []
    for value in json_values(text):
        found += value if isinstance(value, list) else [value]
    return found


def wait_result(server: JobWorkerP, job_id: str, limit: float = 60) -> dict[str, Any]:
    """The job's first stored result, once there is one."""
    deadline = time.monotonic() + limit
    while True:
        found = results(server, job_id)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} has no result after {limit} s")
        time.sleep(0.1)


def message_of(record: Mapping[str, Any]) -> str:
    """The ``message`` (field 1) of a stored successful result, whose output is the raw bytes."""
    return first_string(str(record.get("output", "")).encode("utf-8", "surrogateescape"))


def server_pid(server: JobWorkerP) -> int:
    return int((server.dir / "server.pid").read_text("utf-8").strip())


def alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass(frozen=True)
class Proc:
    pid: int
    parent: int
    group: int  # the process group: the bridge stops a worker by its group
    comm: str
    cmdline: str
    started: int  # clock ticks after boot: a pid reused by another process differs here
    cpu_ticks: int

    @property
    def key(self) -> tuple[int, int]:
        return self.pid, self.started


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
        )
    except OSError:
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    # fields[0] is field 3 (state): ppid 4, pgrp 5, utime 14, stime 15, starttime 22
    ticks = int(fields[11]) + int(fields[12])
    return Proc(pid, int(fields[1]), int(fields[2]), comm, cmdline, int(fields[19]), ticks)


def all_processes() -> dict[int, Proc]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := read_proc(int(entry))) is not None:
            found[proc.pid] = proc
    return found


@dataclass
class Watch:
    """The plugin's processes: those of the server and the render, and the fork faults' own."""

    server: JobWorkerP
    folder: Path
    seen: dict[tuple[int, int], Proc] = field(default_factory=dict)

    def processes(self) -> dict[int, Proc]:
        everything = all_processes()
        root = server_pid(self.server)
        children: dict[int, list[int]] = {}
        for proc in everything.values():
            children.setdefault(proc.parent, []).append(proc.pid)
        found: dict[int, Proc] = {}
        stack = list(children.get(root, []))
        while stack:
            pid = stack.pop()
            found[pid] = everything[pid]
            stack += children.get(pid, [])
        for proc in everything.values():
            if self.is_plugin(proc):
                found[proc.pid] = proc
        for proc in found.values():
            self.seen[proc.key] = proc
        return found

    def is_plugin(self, proc: Proc) -> bool:
        """A process of the render's (its venv's Python) or a fork fault's child."""
        return proc.comm in FORK_NAMES or str(self.folder) in proc.cmdline

    def cpu_rates(self, window: float = 0.5) -> dict[int, tuple[float, Proc]]:
        """Each process's share of one CPU over ``window`` seconds."""
        before = self.processes()
        time.sleep(window)
        rates = {}
        for pid, proc in self.processes().items():
            old = before.get(pid)
            if old is not None and old.started == proc.started:
                rates[pid] = ((proc.cpu_ticks - old.cpu_ticks) / TICKS / window, proc)
        return rates

    def spinning(self, limit: float = 0.5) -> list[str]:
        return [
            f"{proc.pid} {proc.comm} {rate:.0%} {proc.cmdline[:120]}"
            for rate, proc in self.cpu_rates().values()
            if rate > limit
        ]

    def left(self, keys: Iterable[tuple[int, int]]) -> list[Proc]:
        """Which of the processes seen (by pid and start time) still run."""
        now = all_processes()
        return [now[pid] for pid, started in keys if pid in now and now[pid].started == started]

    def fork_processes(self) -> list[Proc]:
        return [proc for proc in all_processes().values() if proc.comm in FORK_NAMES]
