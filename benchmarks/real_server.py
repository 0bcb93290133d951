"""Deploy paths on a real JobWorkerP server (``../shared/jobworkerp``), all in one run.

    python benchmarks/real_server.py            # the full table (a few minutes)
    python benchmarks/real_server.py --quick    # tiny counts: proves the command works
    python benchmarks/real_server.py --rust     # the Rust flavor's row alone (builds only it)
    python benchmarks/real_server.py --scalable # Scalable mode: one process, then two

Two numbers per row, both through one private server on loopback:

* **one job**: the median wall time of ``jobworkerp-client job enqueue`` on a ``DIRECT`` worker
  (the client's own start-up, some 20 ms, is part of it and dominates the fast paths);
* **throughput**: N jobs queued at once on one worker (``NO_RESULT``, results stored), measured
  on the server: N / (last job's end - first job's start), from the stored job results. "At
  once": two blocker jobs hold the default channel's slots (its concurrency is the core count)
  while the N jobs are enqueued, then end together, so the N jobs find a full queue.

A row is a ``Path``: a label, a function that creates the worker on the server, the args JSON
and method of its jobs, and how many jobs the throughput takes (fewer for paths that start a
process per job). The native bridge's row builds the rendered plugin's ``native/`` library
(release, against the plugin's venv; needs cargo and ``../shared/vendor``); the Rust flavor's
row renders the same answers with ``language=rust`` and builds that crate (release). Each
library is copied into a folder of the server's and registered with ``runner create -r PLUGIN``.
The Rust plugin is the floor the bridge is measured against; each native library has a row on a
``use_static`` worker and one on a worker without it (the pool path).

Then the isolation rows, on the fault render (``tests/plugin_faults.py``, its bridge built
release) and on a channel ``cpu`` of concurrency 2 (the server is started with
``WORKER_CHANNELS=cpu``, ``WORKER_CHANNEL_CONCURRENCIES=2``, which the server reads only
with ``WORKER_DEFAULT_CONCURRENCY`` and ``WORKER_DEFAULT_CHANNEL_DISABLED`` set too):

* **CPU-bound jobs**: a job that burns 200 ms of CPU in Python (``burn:200``), one alone
  against two at once on the same ``use_static`` worker (the median wall time of each, client
  included); the bridge's workers are processes, so two such jobs share no lock (goal: two at
  once take at most 1.3x the time of one);
* **recovery after an abort**: a job that aborts its worker (``raise:os.abort``), then at once
  the next job on the same worker: that job's latency against a plain job's (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the template's test helpers

from tests.jobworkerp_server import JobWorkerP, available  # noqa: E402
from tests.native_support import (  # noqa: E402
    TARGET_DIR,
    VENDOR,
    cargo,
    cargo_run,
    keep_library,
    patch_options,
    write_lockfile,
)
from tests.plugin_faults import ANSWERS as FAULT_ANSWERS  # noqa: E402
from tests.plugin_faults import FAULTS  # noqa: E402
from tests.rust_support import render_crate  # noqa: E402
from tests.scalable_plugins import (  # noqa: E402
    PathSpec,
    build_paths,
    create_worker,
    mcp_config,
    path_specs,
    process_of,
)
from tests.scalable_server import (  # noqa: E402
    CHANNEL,
    CHANNEL_CONCURRENCY,
    Scalable,
    enqueue_id,
    redis_server,
    stored_results,
    wait_for_results,
)
from tests.support import (  # noqa: E402
    CONFIG_VARIABLE,
    Venv,
    build_wheel,
    render,
    write_cookiecutter_config,
)

PACKAGE = "hello_world"
ANSWERS = {"methods": "run,summarize_text", "streaming_mode": "both"}
COMMAND_RUNNER_ID = "1"  # built-in runner ids are fixed
PYTHON_COMMAND_RUNNER_ID = "6"
ENQUEUERS = 4  # parallel client processes that fill the queue
SETTINGS = '{"greeting": "Hi"}'  # the native libraries' worker settings
FAULT_PACKAGE = "bench_faults"
CPU_CHANNEL = "cpu"
BURN_MS = 200


@dataclass(frozen=True)
class Plugin:
    wheel: Path | None  # None for the Rust row alone
    venv: Venv | None  # the wheel with its mcp extra
    library: Path | None  # the native bridge, built against ``venv``; None without cargo
    rust_library: Path | None  # the Rust flavor of the same answers; None without cargo
    fault_library: Path | None  # the fault render's bridge; None without cargo


# A worker factory: (server, worker name, extra ``worker create`` flags) -> None.
MakeWorker = Callable[[JobWorkerP, str, Sequence[str]], None]


@dataclass(frozen=True)
class Path_:
    label: str
    make_worker: MakeWorker
    args: str
    using: str | None
    jobs: int


def worker_on(runner_id: Callable[[JobWorkerP], str], settings: str, static: bool) -> MakeWorker:
    def make(server: JobWorkerP, name: str, flags: Sequence[str]) -> None:
        command = ["worker", "create", "-n", name, "-d", name, "-r", runner_id(server)]
        command += ["-s", settings, *(["--use-static"] if static else []), *flags]
        server.client(*command)

    return make


def fixed(runner_id: str) -> Callable[[JobWorkerP], str]:
    return lambda server: runner_id


def mcp_runner(plugin: Plugin) -> Callable[[JobWorkerP], str]:
    """The plugin's MCP_SERVER runner, registered on first use."""

    def runner_id(server: JobWorkerP) -> str:
        assert plugin.venv is not None
        found = server.client("runner", "find-by-name", "-n", "HelloWorldMcp", "--format", "json")
        if found.stdout.lstrip().startswith("{"):
            return str(json.loads(found.stdout)["id"])
        definition = server.dir / "runner-definition.toml"
        definition.write_text(
            f'transport = "stdio"\ncommand = "{plugin.venv.python}"\n'
            f'args = ["-m", "{PACKAGE}", "mcp"]\nenvs = {{}}\n',
            "utf-8",
        )
        server.client(
            "runner", "create", "-n", "HelloWorldMcp", "-d", "bench", "-r", "MCP_SERVER",
            "--definition", f"@{definition}",
        )  # fmt: skip
        return runner_id(server)

    return runner_id


def plugin_runner(library: Path, name: str) -> Callable[[JobWorkerP], str]:
    """A V2 library's PLUGIN runner (the bridge's, the Rust flavor's), registered on first use.

    The copy goes to a folder of its own, named after the runner: both libraries are
    ``libhello_world.so``.
    """

    def runner_id(server: JobWorkerP) -> str:
        found = server.client("runner", "find-by-name", "-n", name, "--format", "json")
        if found.stdout.lstrip().startswith("{"):
            return str(json.loads(found.stdout)["id"])
        installed = server.dir / "libraries" / name / library.name
        installed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(library, installed)
        server.client(
            "runner", "create", "-n", name, "-d", "bench", "-r", "PLUGIN",
            "--definition", str(installed),
        )  # fmt: skip
        return runner_id(server)

    return runner_id


def paths(plugin: Plugin, quick: bool) -> list[Path_]:
    def count(full: int) -> int:
        return 3 if quick else full

    rust = (
        Path_(
            "PLUGIN (Rust flavor, use_static)",
            worker_on(plugin_runner(plugin.rust_library, "HelloWorldRust"), SETTINGS, static=True),
            json.dumps({"name": "Ada"}),
            "run",
            count(500),
        )
        if plugin.rust_library is not None
        else None
    )
    if plugin.wheel is None:
        return [rust] if rust is not None else []
    script = f"from {PACKAGE}.framework.adapters.python_command import main\n\nmain()\n"
    envelope = json.dumps({"using": "run", "args": {"name": "Ada"}})
    python_settings = json.dumps(
        {"python_version": ">=3.10", "packages": {"list": [str(plugin.wheel)]}}
    )
    mcp = mcp_runner(plugin)
    libraries = [("PLUGIN (bridge, use_static)", plugin.library, "HelloWorld")]
    libraries += [("PLUGIN (Rust flavor, use_static)", plugin.rust_library, "HelloWorldRust")]
    native = [
        Path_(
            label if static else label.replace("use_static", "no use_static"),
            worker_on(plugin_runner(library, name), SETTINGS, static=static),
            json.dumps({"name": "Ada"}),
            "run",
            count(500),
        )
        for label, library, name in libraries
        if library is not None
        for static in (True, False)
    ]
    return [
        Path_(
            "COMMAND true (baseline)",
            worker_on(fixed(COMMAND_RUNNER_ID), "", static=True),
            json.dumps({"command": "true"}),
            None,
            count(500),
        ),
        Path_(
            "PYTHON_COMMAND (use_static)",
            worker_on(fixed(PYTHON_COMMAND_RUNNER_ID), python_settings, static=True),
            json.dumps({"script_content": script, "data_body": envelope}),
            None,
            count(50),
        ),
        Path_(
            "MCP_SERVER (use_static)",
            worker_on(mcp, "", static=True),
            json.dumps({"name": "Ada"}),
            "run",
            count(500),
        ),
        Path_(
            "MCP_SERVER (no use_static)",
            worker_on(mcp, "", static=False),
            json.dumps({"name": "Ada"}),
            "run",
            count(20),
        ),
        *native,
    ]


def enqueue_command(worker: str, path: Path_) -> list[str]:
    command = ["job", "enqueue", "-w", worker, "-a", path.args]
    return [*command, "--using", path.using] if path.using else command


def one_job_times(server: JobWorkerP, path: Path_, worker: str, samples: int) -> list[float]:
    times = []
    for index in range(samples + 1):
        start = time.perf_counter()
        done = server.client(*enqueue_command(worker, path))
        elapsed = time.perf_counter() - start
        if "Status: SUCCESS" not in done.stdout:
            raise RuntimeError(f"{path.label}: the job failed:\n{done.stdout}\n{done.stderr}")
        if index:  # the first job builds the worker's pool: not a typical job
            times.append(elapsed)
    return times


def blockers(server: JobWorkerP, go: Path) -> None:
    """Two COMMAND jobs that hold the channel's slots until ``go`` exists."""
    if "not found" in server.client("worker", "find-by-name", "-n", "blocker").stdout:
        server.client(
            "worker", "create", "-n", "blocker", "-d", "x", "-r", COMMAND_RUNNER_ID, "-s", "",
            "--response-type", "NO_RESULT",
        )  # fmt: skip
    wait = f"while [ ! -e '{go}' ]; do sleep 0.01; done"
    for _ in range(2):
        server.client("job", "enqueue", "-w", "blocker", "-a", json.dumps(
            {"command": "sh", "args": ["-c", wait]}
        ))  # fmt: skip
    time.sleep(1.5)  # both are running (the queue is fetched every second at worst)


def results_of(server: JobWorkerP, worker: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    page = 1000  # the server's largest page
    for offset in range(0, 1_000_000, page):
        listed = server.client(
            "job-result", "list", "-o", str(offset), "-l", str(page), "--format", "json"
        ).stdout
        # A list; one result alone is printed as an object; none, as text.
        start = listed.lstrip()[:1]
        results = (
            json.loads(listed) if start == "[" else [json.loads(listed)] if start == "{" else []
        )
        found += [r for r in results if r.get("worker_name") == worker]
        if len(results) < page:
            break
    return found


def wait_for(server: JobWorkerP, worker: str, count: int, limit: float) -> list[dict[str, str]]:
    deadline = time.monotonic() + limit
    while True:
        mine = results_of(server, worker)
        if len(mine) >= count:
            return mine
        if time.monotonic() > deadline:
            raise RuntimeError(f"{worker}: {len(mine)} of {count} jobs finished in time")
        time.sleep(0.5)


def throughput(server: JobWorkerP, path: Path_, worker: str, work: Path) -> tuple[float, int]:
    """Jobs per second on the server for ``path.jobs`` jobs queued at once."""
    command = enqueue_command(worker, path)
    # One job first, so that the worker's pool exists (a venv, a server process) before the
    # measured jobs; it ended before the measured ones may start.
    server.client(*command)
    wait_for(server, worker, 1, 120)
    go = work / f"go-{worker}"
    blockers(server, go)
    with ThreadPoolExecutor(ENQUEUERS) as pool:
        list(pool.map(lambda _: server.client(*command), range(path.jobs)))
    released = int(time.time() * 1000)
    go.touch()
    mine = wait_for(server, worker, path.jobs + 1, 60 + path.jobs * 5)
    measured = [r for r in mine if int(r["start_time"]) >= released]
    failed = [r for r in measured if r["status"] != "SUCCESS"]
    if failed or len(measured) != path.jobs:
        raise RuntimeError(
            f"{path.label}: {len(measured)} jobs, {len(failed)} failed: {failed[:1]}"
        )
    start = min(int(r["start_time"]) for r in measured)
    end = max(int(r["end_time"]) for r in measured)
    return len(measured) / max((end - start) / 1000, 0.001), len(measured)


def build_bridge(project: Path, venv: Venv) -> Path | None:
    """The project's native bridge, built (release) against ``venv``; None without cargo."""
    if cargo() is None or not VENDOR.is_dir():
        print("no PLUGIN (bridge) row: needs cargo and ../shared/vendor", file=sys.stderr)
        return None
    native = project / "native"
    write_lockfile(native)
    _, seconds = cargo_run(["build", "--release", *patch_options()], native, venv.path)
    print(f"release build of the bridge: {seconds:.1f} s", file=sys.stderr)
    return keep_library(TARGET_DIR, PACKAGE, "release", native)


def build_rust(work: Path) -> Path | None:
    """The Rust flavor of the same answers, built (release); None without cargo."""
    if cargo() is None or not VENDOR.is_dir():
        print("no PLUGIN (Rust flavor) row: needs cargo and ../shared/vendor", file=sys.stderr)
        return None
    crate = render_crate(work / "rust", **ANSWERS)
    library = crate.release_library()
    print("release build of the Rust flavor: done", file=sys.stderr)
    return library


def build_fault_bridge(work: Path) -> Path | None:
    """The fault render's bridge (release), in a venv of its own; None without cargo."""
    if cargo() is None or not VENDOR.is_dir():
        print("no isolation rows: needs cargo and ../shared/vendor", file=sys.stderr)
        return None
    answers = {**FAULT_ANSWERS, "plugin_slug": "bench-faults", "package_name": FAULT_PACKAGE}
    project = render(work / "faults", **answers)
    runner = project / "src" / FAULT_PACKAGE / "runner.py"
    runner.write_text(runner.read_text("utf-8") + FAULTS, "utf-8")
    venv = Venv(work / "faults-venv")
    venv.install("-e", str(project))
    write_lockfile(project / "native")
    native = project / "native"
    _, seconds = cargo_run(["build", "--release", *patch_options()], native, venv.path)
    print(f"release build of the fault bridge: {seconds:.1f} s", file=sys.stderr)
    return keep_library(TARGET_DIR, FAULT_PACKAGE, "release", native)


def prepare(work: Path, rust_only: bool) -> Plugin:
    os.environ[CONFIG_VARIABLE] = str(write_cookiecutter_config(work / "cookiecutter"))
    if rust_only:
        return Plugin(None, None, None, build_rust(work), None)
    project = render(work / "out", **ANSWERS)
    wheel = build_wheel(project, work / "dist")
    venv = Venv(work / "venv")
    venv.install(f"{wheel}[mcp]")
    return Plugin(
        wheel, venv, build_bridge(project, venv), build_rust(work), build_fault_bridge(work)
    )


def timed_job(server: JobWorkerP, worker: str, name: str, ok: bool = True) -> float:
    """One ``run`` job through the client, waited for; its wall time."""
    start = time.perf_counter()
    done = server.client(
        "job", "enqueue", "-w", worker, "-a", json.dumps({"name": name}), "--using", "run",
        check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if ok and "Status: SUCCESS" not in done.stdout:
        raise RuntimeError(f"{worker}: {name} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def isolation_rows(server: JobWorkerP, library: Path, samples: int) -> list[tuple[str, str]]:
    """CPU-bound jobs one against two at once; an abort's recovery; (row, figure) pairs."""
    runner = plugin_runner(library, "BenchFaults")
    worker_on(runner, '{"greeting": "Hi"}', static=True)(server, "cpu", ["-c", CPU_CHANNEL])
    worker_on(runner, '{"greeting": "Hi"}', static=True)(server, "recover", [])
    worker_on(runner, '{"greeting": "Hi"}', static=False)(server, "recover-pool", [])
    burn = f"x|run|burn:{BURN_MS}"
    timed_job(server, "cpu", "warm-up")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: timed_job(server, "cpu", "warm-up"), range(2)))  # two workers
    one = statistics.median(timed_job(server, "cpu", burn) for _ in range(samples))
    pairs = []
    for _ in range(samples):
        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: timed_job(server, "cpu", burn), range(2)))
        pairs.append(time.perf_counter() - start)
    two = statistics.median(pairs)
    rows = [
        (f"one {BURN_MS} ms CPU job (channel of 2, use_static)", f"{one * 1000:,.0f} ms"),
        (f"two {BURN_MS} ms CPU jobs at once", f"{two * 1000:,.0f} ms ({two / one:.2f}x one)"),
    ]
    for worker in ("recover", "recover-pool"):
        timed_job(server, worker, "warm-up")
        plain = statistics.median(timed_job(server, worker, "plain") for _ in range(samples))
        after = []
        for _ in range(samples):
            timed_job(server, worker, "x|run|raise:os.abort", ok=False)
            after.append(timed_job(server, worker, "after"))
        recovered = statistics.median(after)
        kind = "use_static" if worker == "recover" else "no use_static"
        rows.append(
            (
                f"next job after an abort ({kind})",
                f"{recovered * 1000:,.0f} ms (a plain job: {plain * 1000:,.0f} ms)",
            )
        )
    return rows


def table(rows: Sequence[tuple[str, float, float, int]]) -> str:
    lines = [
        "| path | one job (median, client included) | throughput | jobs |",
        "| --- | --- | --- | --- |",
    ]
    for label, one_job, rate, jobs in rows:
        lines.append(f"| {label} | {one_job * 1000:,.0f} ms | {rate:,.1f} jobs/s | {jobs} |")
    return "\n".join(lines)


# Scalable mode ------------------------------------------------------------------------------
# ``--scalable``: every deploy path on JobWorkerP's Scalable mode (Redis, ``tests/scalable_server``)
# with one process, then with a second one added to the same Redis and database. The plugins
# are the Scalable lane's (``tests/scalable_plugins``: answers that name the process), built
# release; each process has the libraries in its ``PLUGINS_RUNNER_DIR`` and the MCP server in its
# ``MCP_CONFIG`` before it starts; every worker is on the dedicated channel.

SCALABLE_JOBS = {"PYTHON_COMMAND": 200}  # a process per job; the others take SCALABLE_DEFAULT
SCALABLE_DEFAULT = 500


def scalable_throughput(
    cluster: Scalable, spec: PathSpec, worker: str, jobs: int, work: Path
) -> tuple[float, dict[int, int]]:
    """Jobs per second of ``jobs`` queued at once on ``worker``; the jobs each process ran.

    Blocker jobs (COMMAND, on the same channel) hold every slot of every process while the jobs
    are enqueued through the processes' fronts in turn, then end together.
    """
    fronts = cluster.processes
    # Warm-up jobs, enough for every process to take some: each builds its instance pool (a
    # venv, an MCP server process) before the measured jobs.
    warm = 2 * CHANNEL_CONCURRENCY * len(fronts)
    done = len(stored_results(cluster.front, worker))
    for index in range(warm):
        enqueue_id(fronts[index % len(fronts)], *spec.enqueue_options(worker, "warm-up"))
    wait_for_results(cluster.front, worker, done + warm, 300)
    go = work / f"go-{spec.runner}-{len(fronts)}"
    blocker = f"blocker-{CHANNEL}"
    if "not found" in cluster.front.client("worker", "find-by-name", "-n", blocker).stdout:
        cluster.front.client(
            "worker", "create", "-n", blocker, "-d", "x", "-r", COMMAND_RUNNER_ID, "-s", "",
            "-c", CHANNEL, "--response-type", "NO_RESULT",
        )  # fmt: skip
    wait = json.dumps(
        {"command": "sh", "args": ["-c", f"while [ ! -e '{go}' ]; do sleep 0.01; done"]}
    )
    for _ in range(CHANNEL_CONCURRENCY * len(fronts)):
        enqueue_id(cluster.front, "-w", blocker, "-a", wait)
    time.sleep(2.5)  # every slot taken (a process fetches at least every second)
    before = len(stored_results(cluster.front, worker))

    def one(index: int) -> str:
        front = fronts[index % len(fronts)]
        return enqueue_id(front, *spec.enqueue_options(worker, f"bench-{index}"))

    with ThreadPoolExecutor(ENQUEUERS) as pool:
        ids = set(pool.map(one, range(jobs)))
    go.touch()
    results = wait_for_results(cluster.front, worker, before + jobs, 120 + jobs * 5)
    measured = [r for r in results if str(r["job_id"]) in ids]
    failed = [r for r in measured if r["status"] != "SUCCESS"]
    if failed or len(measured) != jobs:
        raise RuntimeError(f"{spec.label}: {len(measured)} of {jobs} jobs, {len(failed)} failed")
    start = min(int(r["start_time"]) for r in measured)
    end = max(int(r["end_time"]) for r in measured)
    pids = cluster.pids()
    ran: dict[int, int] = {}
    for result in measured:
        where = process_of(result.get("output"), pids)
        key = -1 if where is None else where  # -1: an answer that names no server process
        ran[key] = ran.get(key, 0) + 1
    return jobs / max((end - start) / 1000, 0.001), ran


def scalable_main(quick: bool) -> int:
    """The Scalable rows: each path's throughput with one process, then with two."""
    if redis_server() is None:
        print("skipped: redis-server is not on PATH", file=sys.stderr)
        return 2
    rows: list[tuple[str, int, float, float, dict[int, int]]] = []
    with tempfile.TemporaryDirectory(prefix="jwp-scalable-") as folder:
        work = Path(folder)
        os.environ[CONFIG_VARIABLE] = str(write_cookiecutter_config(work / "cookiecutter"))
        built = build_paths(work / "plugins", release=True)
        labels = ["PYTHON_COMMAND", "MCP_SERVER", "PLUGIN (bridge)", "PLUGIN (Rust flavor)"]
        for index, label in enumerate(labels):
            # A fresh cluster per path: an MCP_CONFIG runner in Scalable mode was seen to stop
            # being found some three minutes after start-up.
            cluster = Scalable(work / f"cluster-{index}", 1, built.libraries(), mcp_config(built))
            try:
                spec = path_specs(cluster.front, built).get(label)
                if spec is None:
                    continue  # a native path without cargo
                jobs = 3 if quick else SCALABLE_JOBS.get(label, SCALABLE_DEFAULT)
                worker = create_worker(
                    cluster.front, spec, "scale", ["--response-type", "NO_RESULT"]
                )
                one = scalable_throughput(cluster, spec, worker, jobs, work)[0]
                cluster.add(work / f"cluster-{index}" / "process-1", built.libraries())
                two, ran = scalable_throughput(cluster, spec, worker, jobs, work)
                rows.append((label, jobs, one, two, ran))
            except (RuntimeError, AssertionError, subprocess.SubprocessError):
                for process in cluster.processes:
                    print(process.log_tail(), file=sys.stderr)
                raise
            finally:
                cluster.stop()
    lines = [
        "| path (Scalable, use_static, own channel) | jobs | one process | two processes | ratio | jobs per process (two) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, jobs, one, two, ran in rows:
        split = " / ".join(str(ran.get(index, 0)) for index in (0, 1))
        lines.append(
            f"| {label} | {jobs} | {one:,.1f} jobs/s | {two:,.1f} jobs/s | {two / one:.2f}x | {split} |"
        )
    print("\n".join(lines))
    print()
    print(
        f"each process: channel {CHANNEL} with concurrency {CHANNEL_CONCURRENCY}; jobs enqueued "
        "through every process's front in turn; throughput measured on the server"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts")
    parser.add_argument("--rust", action="store_true", help="the Rust flavor's row alone")
    parser.add_argument("--scalable", action="store_true", help="the Scalable-mode rows")
    options = parser.parse_args(argv)
    missing = available()
    if missing is not None:
        print(f"skipped: {missing}", file=sys.stderr)
        return 2
    if options.scalable:
        return scalable_main(options.quick)
    samples = 2 if options.quick else 10
    rows = []
    isolation: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="jwp-real-server-") as folder:
        work = Path(folder)
        plugin = prepare(work, options.rust)
        # A channel of two for the CPU-bound rows; the server reads these at start-up, and
        # only all together (the default channel's concurrency, the core count, kept).
        os.environ["WORKER_CHANNELS"] = CPU_CHANNEL
        os.environ["WORKER_CHANNEL_CONCURRENCIES"] = "2"
        os.environ["WORKER_DEFAULT_CONCURRENCY"] = str(os.cpu_count() or 1)
        os.environ["WORKER_DEFAULT_CHANNEL_DISABLED"] = "false"
        server = JobWorkerP(work / "server")
        try:
            if plugin.fault_library is not None:
                isolation = isolation_rows(server, plugin.fault_library, samples)
            for index, path in enumerate(paths(plugin, options.quick)):
                path.make_worker(server, f"one-{index}", [])
                one_job = statistics.median(one_job_times(server, path, f"one-{index}", samples))
                flags = ["--response-type", "NO_RESULT", "--store-success", "--store-failure"]
                path.make_worker(server, f"many-{index}", flags)
                rate, jobs = throughput(server, path, f"many-{index}", work)
                rows.append((path.label, one_job, rate, jobs))
        except (RuntimeError, AssertionError, subprocess.SubprocessError):
            print(server.log_tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
    print(table(rows))
    print()
    print(
        f"one job: median of {samples} after a warm-up job; throughput: one worker on the "
        "default channel (concurrency = core count)"
    )
    rates = {label: rate for label, _, rate, _ in rows}
    for static in ("use_static", "no use_static"):
        bridge = rates.get(f"PLUGIN (bridge, {static})")
        rust = rates.get(f"PLUGIN (Rust flavor, {static})")
        command = rates.get("PYTHON_COMMAND (use_static)")
        if bridge and rust and command:
            print(
                f"bridge ({static}): {bridge / rust:.2f}x the Rust flavor's throughput "
                f"(goal >= 0.8x), {bridge / command:,.0f}x PYTHON_COMMAND's"
            )
    if isolation:
        print()
        print("| isolation row | measured |")
        print("| --- | --- |")
        for label, figure in isolation:
            print(f"| {label} | {figure} |")
        print(f"medians of {samples}, client included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
