"""The Rust flavor's library on the real JobWorkerP, and the Python bridge beside it.

Both are rendered from the same answers, carry the same slow edit (a job named
``slow:3s`` sleeps 3 s in the default method) and are registered with ``runner create -r
PLUGIN``; a ``use_static`` worker with settings runs the scenarios of ``tests/v2_library.py``
on each: every method plain and streamed, no method, an unknown method, bad args, a timeout and
the job after it. The Rust plugin's outcomes are checked, and the bridge's must be the same.

The answers name a package no other test uses, so the bridge's Python worker processes (which
import the package from the render's venv) never meet another test's plugin of the same name.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, Bridge, cargo, prepare_bridge
from tests.rust_support import Crate, add_blocking_edit, add_slow_edit, render_crate
from tests.v2_library import (
    QUICK_SECONDS,
    RUN,
    STREAM,
    Outcome,
    normal,
    register,
    scenarios,
    static_worker,
)

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)

ANSWERS = {"plugin_name": "Twin Greeter"}
SETTINGS = {"greeting": "Hi"}
METHODS = {"run": [RUN, STREAM]}
SLOW_PYTHON = """    if name == "slow:3s":
        import time

        time.sleep(3)
"""


def slow_python(runner: Path) -> None:
    """The slow edit of the Python runner: its sample greeting sleeps for ``slow:3s``."""
    text = runner.read_text("utf-8")
    docstring = '    """The sample answer, built from the settings and the args."""\n'
    assert docstring in text
    runner.write_text(text.replace(docstring, docstring + SLOW_PYTHON, 1), "utf-8")


@pytest.fixture(scope="module")
def rust_slow(tmp_path_factory: pytest.TempPathFactory) -> Crate:
    crate = render_crate(tmp_path_factory.mktemp("rust-slow"), **ANSWERS)
    add_slow_edit(crate)
    add_blocking_edit(crate)
    crate.cargo("build")
    return crate


@pytest.fixture(scope="module")
def bridge_slow(tmp_path_factory: pytest.TempPathFactory) -> Bridge:
    bridge = prepare_bridge(tmp_path_factory.mktemp("bridge-slow"), slow_python, **ANSWERS)
    bridge.cargo("build")
    return bridge


def outcomes(server: JobWorkerP, library: Path, folder: Path, name: str) -> dict[str, Outcome]:
    runner = register(server, library, folder, name)
    worker = static_worker(server, runner, f"{name.lower()}-static", SETTINGS)
    return scenarios(worker, METHODS)


def test_the_rust_plugin_runs_every_scenario_on_the_real_server(
    jobworkerp: JobWorkerP, rust_slow: Crate, tmp_path: Path
) -> None:
    found = outcomes(jobworkerp, rust_slow.library, tmp_path, "RustHello")
    assert found["run"].status == "SUCCESS"
    assert found["run"].result == {"message": "Hi, Ada!"}, found["run"]
    for name in ("no using (client)", "no using (function call)"):
        assert found[name].status == "SUCCESS", (name, found[name])
    stream = found["stream"]
    assert stream.status == "SUCCESS" and stream.chunks, stream
    assert stream.chunks[-1]["message"] == "Hi, Ada Lovelace!"
    assert "".join(chunk.get("delta", "") for chunk in stream.chunks) == "Hi, Ada Lovelace!"
    for name in ("unknown method", "unknown method, streamed", "args of the wrong type"):
        assert found[name].status is None and found[name].error, (name, found[name])
    assert found["timeout"].status in {"ERROR_AND_RETRY", "MAX_RETRY"}, found["timeout"]
    after = found["after the timeout"]
    assert after.result == {"message": "Hi, next!"}, after
    assert after.seconds < QUICK_SECONDS, "the job after the timeout waited for the slow one"
    # A stream's status is fixed when it starts: its timeout ends it early, not as a failure.
    assert found["timeout, streamed"] == Outcome("SUCCESS", chunks=[]), found["timeout, streamed"]
    streamed_after = found["after the streamed timeout"]
    assert streamed_after.status == "SUCCESS", streamed_after
    assert streamed_after.chunks and streamed_after.chunks[-1]["message"] == "Hi, next!"


def test_the_bridge_answers_every_scenario_as_the_rust_plugin_does(
    jobworkerp: JobWorkerP, rust_slow: Crate, bridge_slow: Bridge, tmp_path: Path
) -> None:
    rust = outcomes(jobworkerp, rust_slow.library, tmp_path, "RustTwin")
    bridge = outcomes(jobworkerp, bridge_slow.library, tmp_path, "BridgeTwin")
    assert list(rust) == list(bridge)
    differing = {
        name: (rust[name].normal(), bridge[name].normal())
        for name in rust
        if rust[name].normal() != bridge[name].normal()
    }
    assert not differing, differing
    assert normal(rust) == normal(bridge)


def server_pid(server: JobWorkerP) -> int:
    """The server's pid, checked alive: a plugin that took the process down changes it."""
    pid = int((server.dir / "server.pid").read_text("utf-8"))
    os.kill(pid, 0)
    return pid


def blocked_job(server: JobWorkerP, worker: str) -> tuple[str, float]:
    """A ``block:8s`` job under ``-t 1000``: its printed status and the client's seconds.

    Only the printed status: the server retries a timed-out job, and the stored result of the
    attempt may already be gone when it is looked up.
    """
    started = time.monotonic()
    done = server.client(
        "job", "enqueue", "-w", worker, "-a", '{"name": "block:8s"}', "--using", "run",
        "-t", "1000", check=False,
    )  # fmt: skip
    status = re.search(r"\| Status: (\w+)", done.stdout)
    assert status, done.stdout + done.stderr
    return status.group(1), time.monotonic() - started


def test_a_blocking_handler_ends_at_its_timeout_and_the_server_answers_meanwhile(
    jobworkerp: JobWorkerP, rust_slow: Crate, tmp_path: Path
) -> None:
    """A job that blocks its thread for 8 s (``std::thread::sleep``) under ``-t 1000``."""
    pid = server_pid(jobworkerp)
    runner = register(jobworkerp, rust_slow.library, tmp_path, "RustBlocking")
    worker = static_worker(jobworkerp, runner, "rust-blocking", SETTINGS)
    status, seconds = blocked_job(jobworkerp, worker.name)
    assert status in {"ERROR_AND_RETRY", "MAX_RETRY"}, status
    assert seconds < 6, f"the timeout waited for the blocked thread: {seconds:.1f} s"
    after = worker.run({"name": "next"}, "run")
    assert after.result == {"message": "Hi, next!"}, after
    assert after.seconds < QUICK_SECONDS, f"the job after it waited: {after}"
    assert server_pid(jobworkerp) == pid

    # Two blocked jobs at once (the channel's two slots), and a third job right behind them.
    with ThreadPoolExecutor(2) as pool:
        both = [pool.submit(blocked_job, jobworkerp, worker.name) for _ in range(2)]
        time.sleep(0.3)
        third = worker.run({"name": "third"}, "run")
        blocked_both = [future.result() for future in both]
    assert third.result == {"message": "Hi, third!"}, third
    assert third.seconds < 6, f"the server stopped answering behind two blocked jobs: {third}"
    for status, _ in blocked_both:
        assert status in {"ERROR_AND_RETRY", "MAX_RETRY"}, status
    assert server_pid(jobworkerp) == pid


def test_a_panic_s_message_and_place_are_the_job_s_stored_error(
    jobworkerp: JobWorkerP, rust_slow: Crate, tmp_path: Path
) -> None:
    pid = server_pid(jobworkerp)
    runner = register(jobworkerp, rust_slow.library, tmp_path, "RustPanics")
    worker = static_worker(jobworkerp, runner, "rust-panics", SETTINGS)
    panicked = worker.run({"name": "panic"}, "run")
    assert panicked.status not in {None, "SUCCESS"}, panicked
    # The server wraps the plugin's error (and may add its own backtrace after it).
    found = re.search(
        r"method 'run' panicked at src/runner\.rs:\d+:\d+: boom on request", str(panicked.error)
    )
    assert found, panicked
    after = worker.run({"name": "next"}, "run")
    assert after.result == {"message": "Hi, next!"}, after
    assert server_pid(jobworkerp) == pid
