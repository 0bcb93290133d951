"""The Rust flavor's library on the real JobWorkerP, and the Python bridge beside it.

Both are rendered from the same answers, carry the same slow edit (a job named
``slow:3s`` sleeps 3 s in the default method) and are registered with ``runner create -r
PLUGIN``; a ``use_static`` worker with settings runs the scenarios of ``tests/v2_library.py``
on each: every method plain and streamed, no method, an unknown method, bad args, a timeout and
the job after it. The Rust plugin's outcomes are checked, and the bridge's must be the same.

The answers name a package no other test uses, so the bridge's Python worker processes (which
import the package from the render's venv) never meet another test's plugin of the same name.

Last, each flavor's library is redeployed with the installer its project ships, on a private
server of its own (the redeploy restarts it): installed before the start, replaced while jobs
run, loaded anew by the restart. The full lane shows what the installer avoids: a plain ``cp``
over the loaded library takes the server down.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
    Worker,
    normal,
    register,
    runner_id,
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


# Redeploying a library into PLUGINS_RUNNER_DIR while the server runs ------------------------

INSTALLERS = {"bridge": Path("native") / "install.sh", "rust": Path("deploy") / "install-plugin.sh"}


@dataclass
class Deployed:
    """A flavor's project, its built library and the installer the project ships."""

    project: Path
    library: Path

    def installer(self, flavor: str) -> Path:
        return self.project / INSTALLERS[flavor]


def deployed(flavor: str, rust_slow: Crate, bridge_slow: Bridge) -> Deployed:
    if flavor == "rust":
        return Deployed(rust_slow.project, rust_slow.library)
    return Deployed(bridge_slow.project, bridge_slow.library)


def install(script: Path, plugins: Path, library: Path) -> subprocess.CompletedProcess[str]:
    """The project's installer, as its README runs it (the test's build named by LIBRARY)."""
    env = {key: value for key, value in os.environ.items() if key != "CARGO_TARGET_DIR"}
    env.update(PLUGINS_RUNNER_DIR=str(plugins), LIBRARY=str(library))
    return subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False, timeout=60
    )


def mapped_inodes(pid: int, path: Path) -> dict[int, bool]:
    """The inodes of ``path`` the process has mapped, each with whether the name is gone.

    ``/proc/PID/maps`` names each mapped file as it was opened, with `` (deleted)`` once that
    name points elsewhere (or nowhere): the mapping holds the file, not the name.
    """
    found: dict[int, bool] = {}
    for line in Path(f"/proc/{pid}/maps").read_text("utf-8").splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        name = fields[5]
        deleted = name.endswith(" (deleted)")
        if name.removesuffix(" (deleted)") == str(path):
            found[int(fields[4])] = deleted
    return found


def started_with(folder: Path, deploy: Deployed, flavor: str) -> JobWorkerP:
    """A private server whose plugin folder has the library, installed by the project's script
    before it starts (PLUGINS_RUNNER_DIR is read at start-up)."""
    (folder / "plugins").mkdir(parents=True)
    done = install(deploy.installer(flavor), folder / "plugins", deploy.library)
    assert done.returncode == 0, done.stdout + done.stderr
    return JobWorkerP(folder)


def greets(worker: Worker, name: str) -> None:
    outcome = worker.run({"name": name}, "run")
    assert outcome.result == {"message": f"Hi, {name}!"}, outcome


@pytest.mark.parametrize("flavor", ["rust", "bridge"])
def test_the_installer_redeploys_under_a_running_server_and_a_restart_loads_the_new_file(
    rust_slow: Crate, bridge_slow: Bridge, tmp_path: Path, flavor: str
) -> None:
    """Installed, loaded at start-up, replaced by the installer while jobs run on a
    ``use_static`` worker: the server keeps its pid and its mapped file (the old inode, its name
    now gone) and goes on answering; restarted, it maps the file the installer put in place."""
    deploy = deployed(flavor, rust_slow, bridge_slow)
    server = started_with(tmp_path / "server", deploy, flavor)
    try:
        installed = server.plugins_dir / deploy.library.name
        pid = server_pid(server)
        old_inode = installed.stat().st_ino
        worker = static_worker(server, runner_id(server, "TwinGreeter"), "redeployed", SETTINGS)
        greets(worker, "before")
        assert mapped_inodes(pid, installed) == {old_inode: False}

        # A rebuilt library (the same build will do: the replacement is what is tested).
        rebuilt = tmp_path / "rebuilt" / deploy.library.name
        rebuilt.parent.mkdir()
        shutil.copy(deploy.library, rebuilt)
        done = install(deploy.installer(flavor), server.plugins_dir, rebuilt)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "replaced the previous file by a rename" in done.stdout, done.stdout
        new_inode = installed.stat().st_ino
        assert new_inode != old_inode
        assert sorted(path.name for path in server.plugins_dir.iterdir()) == [installed.name]

        assert server_pid(server) == pid
        assert mapped_inodes(pid, installed) == {old_inode: True}
        greets(worker, "during")
        stream = worker.stream({"name": "during"}, "run")
        assert stream.status == "SUCCESS" and stream.chunks, stream
        assert server_pid(server) == pid

        server.restart()
        restarted = server_pid(server)
        assert restarted != pid
        assert mapped_inodes(restarted, installed) == {new_inode: False}
        greets(worker, "after the restart")
    finally:
        server.stop()


def dead_within(pid: int, seconds: float) -> bool:
    """Whether the process ends (gone, or a zombie not yet reaped) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text("utf-8").rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@pytest.mark.full
def test_a_plain_cp_over_the_loaded_library_takes_the_server_down(
    rust_slow: Crate, bridge_slow: Bridge, tmp_path: Path
) -> None:
    """What the installer avoids: another build copied over the mapped file, in place."""
    deploy = deployed("rust", rust_slow, bridge_slow)
    server = started_with(tmp_path / "server", deploy, "rust")
    try:
        installed = server.plugins_dir / deploy.library.name
        pid = server_pid(server)
        worker = static_worker(server, runner_id(server, "TwinGreeter"), "overwritten", SETTINGS)
        greets(worker, "before")
        # Another library of the same name (the bridge's build), written into the loaded file.
        shutil.copyfile(bridge_slow.library, installed)
        assert mapped_inodes(pid, installed) == {installed.stat().st_ino: False}
        outcome = worker.run({"name": "after the cp"}, "run")
        assert outcome.status is None and "transport error" in str(outcome.error), outcome
        assert dead_within(pid, 5), server.log_tail()
        print(f"cp over the loaded library: the next job got {outcome.error!r}; server {pid} died")
    finally:
        server.stop()
