"""Benchmark row of the native bridge: a bridged job through the V2 test host against the direct
Python call, and a worker process's start-up and memory.

Run it from the repository root, after installing ``requirements/test.txt`` (needs cargo and
``../shared/vendor``)::

    python benchmarks/native_bridge.py

It renders the default plugin, installs it in a fresh venv, builds the bridge (release) and runs
the crate's ``bench_bridged_job_against_the_direct_python_call`` test, which times 2,000 jobs
through the V2 test host and 2,000 direct calls of the runner's ``run()`` in the same venv, a
worker process's start-up (``load()`` with new settings), a ``load()`` served by the pool, and
the resident memory of the worker processes. The bridge runs the runner in worker processes, so
a job is a socket round trip between two processes. Target: bridged at most direct + 250 µs, a
third of what the real server spends on a job of its own (about 760 µs). Beside it, the Rust
flavor of the same answers
(release) runs its ``bench_jobs_through_the_v2_host`` test: 10,000 jobs through the same V2 test
host, the floor a bridged job is compared with. Real-server rows live in ``real_server.py``.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the template's test helpers

from tests.native_support import cargo_run, patch_options, write_lockfile  # noqa: E402
from tests.rust_support import RUST_TARGET_DIR, render_crate  # noqa: E402
from tests.support import (  # noqa: E402
    CONFIG_VARIABLE,
    Venv,
    render,
    write_cookiecutter_config,
)

RUST_JOBS = 10_000


def rust_job_micros(work: Path) -> float | None:
    """Per-job µs of the Rust flavor's default method through the V2 test host (release)."""
    crate = render_crate(work / "rust")
    crate.release_library()
    done, _ = cargo_run(
        ["test", "--release", *patch_options(), "--test", "plugin", "bench_", "--", "--ignored",
         "--nocapture"],
        crate.project,
        None,
        {"CARGO_TARGET_DIR": str(RUST_TARGET_DIR), "JWP_BENCH_JOBS": str(RUST_JOBS)},
    )  # fmt: skip
    found = re.search(r"bench: \d+ jobs, ([\d.]+) us each", done.stdout)
    return float(found.group(1)) if found else None


def main() -> int:
    with tempfile.TemporaryDirectory() as work:
        # cookiecutter's replay and clone folders stay in the work folder, as in the tests.
        os.environ[CONFIG_VARIABLE] = str(write_cookiecutter_config(Path(work) / "cookiecutter"))
        project = render(Path(work))
        venv = Venv(Path(work) / "venv")
        venv.install("-e", project)
        native = project / "native"
        write_lockfile(native)
        _, build = cargo_run(["build", "--release", *patch_options()], native, venv.path)
        result, _ = cargo_run(
            [
                "test",
                "--release",
                *patch_options(),
                "--test",
                "bridge",
                "bench_",
                "--",
                "--ignored",
                "--nocapture",
            ],
            native,
            venv.path,
        )
        rust = rust_job_micros(Path(work))
    found = re.search(
        r"bench: bridged ([\d.]+) us, direct ([\d.]+) us, host floor ([\d.]+) us, "
        r"worker start ([\d.]+) ms, pool load ([\d.]+) us, worker rss (\d+) KiB",
        result.stdout,
    )
    if not found:
        print(result.stdout, result.stderr, sep="\n")
        return 1
    bridged, direct, floor, start, take, rss = (float(value) for value in found.groups())
    budget = direct + 250
    verdict = "met" if bridged <= budget else "MISSED"
    print(f"release build of the bridge: {build:.1f} s")
    print(
        f"| bridged job (V2 test host) | {bridged:.1f} µs | direct run() {direct:.1f} µs "
        f"| host floor (unloaded instance) {floor:.1f} µs "
        f"| budget direct + 250 µs = {budget:.1f} µs | {verdict} |"
    )
    print(
        f"| worker process | start-up {start:.0f} ms | load() from the pool {take:.0f} µs "
        f"| resident {rss / 1024:.1f} MiB each | | |"
    )
    if rust is None:
        print("the Rust flavor's benchmark printed no figure")
        return 1
    print(
        f"| Rust plugin job (V2 test host, {RUST_JOBS:,} jobs) | {rust:.2f} µs "
        f"| bridged / Rust = {bridged / rust:.1f}x | | | floor |"
    )
    return 0 if bridged <= budget else 1


if __name__ == "__main__":
    sys.exit(main())
