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

from pathlib import Path

import pytest

from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, Bridge, cargo, library_path, prepare_bridge
from tests.rust_support import Crate, add_slow_edit, render_crate
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
    bridge = outcomes(jobworkerp, library_path(bridge_slow.package), tmp_path, "BridgeTwin")
    assert list(rust) == list(bridge)
    differing = {
        name: (rust[name].normal(), bridge[name].normal())
        for name in rust
        if rust[name].normal() != bridge[name].normal()
    }
    assert not differing, differing
    assert normal(rust) == normal(bridge)
