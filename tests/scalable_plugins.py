"""The plugins of the Scalable lane: every deploy path, each answer telling which process ran it.

A Python render (``Scale Python``) and a Rust render (``Scale Rust``) get a test edit of their
sample greeting: the answer ends with `` @pids:<pid>,<parent pid>,...``, the chain of process
ids from the process that ran the plugin up to the first process (read from ``/proc``), and a
name ``sleep:<ms>`` sleeps that long first. A server process's pid in that chain says which
server ran the job, whatever the path: the Python runner inside the server (the bridge), in a
child process (PYTHON_COMMAND's script, the MCP server), or the Rust library in the server.

``Paths`` holds what each deploy path needs: the Python plugin's wheel (PYTHON_COMMAND), its
venv with the ``mcp`` extra (MCP_SERVER), the bridge's library built in that venv, and the Rust
flavor's library. ``register_workers`` creates one worker per path on the dedicated channel.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, Bridge, cargo, prepare_bridge
from tests.rust_support import Crate, render_crate
from tests.scalable_server import CHANNEL
from tests.support import build_wheel, run, uv

PYTHON_ANSWERS = {"plugin_name": "Scale Python"}  # runner ScalePython, package scale_python
RUST_ANSWERS = {"plugin_name": "Scale Rust"}  # runner ScaleRust, library libscale_rust.so
PYTHON_PACKAGE = "scale_python"
PYTHON_RUNNER = "ScalePython"
RUST_RUNNER = "ScaleRust"
MCP_RUNNER = "ScalePythonMcp"
PYTHON_COMMAND_RUNNER_ID = "6"
PIDS = re.compile(r"@pids:([0-9,]+)")

PYTHON_RETURN = "    return f\"{settings.greeting or 'Hello'}, {name or 'world'}!\"\n"
PYTHON_EDIT = """    if name.startswith("sleep:"):
        import time

        time.sleep(int(name.removeprefix("sleep:")) / 1000)
    return f"{settings.greeting or 'Hello'}, {name or 'world'}! @pids:" + _process_chain()
"""
PYTHON_CHAIN = '''

def _process_chain() -> str:
    """This process's id and its ancestors', from /proc (a Scalable-lane test edit)."""
    import os

    pids, pid = [], os.getpid()
    while pid > 1:
        pids.append(str(pid))
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    return ",".join(pids)
'''
RUST_FORMAT = 'format!("{hello}, {name}!")'
RUST_EDIT = 'format!("{hello}, {name}! @pids:{}", std::process::id())'
RUST_SLEEP = """    if let Some(ms) = args.name.strip_prefix("sleep:").and_then(|ms| ms.parse::<u64>().ok()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
"""


def edit_python(runner: Path) -> None:
    text = runner.read_text("utf-8")
    assert text.count(PYTHON_RETURN) == 1, "runner.py's greeting changed: update this edit"
    runner.write_text(text.replace(PYTHON_RETURN, PYTHON_EDIT) + PYTHON_CHAIN, "utf-8")


def edit_rust(runner: Path) -> None:
    text = runner.read_text("utf-8")
    assert text.count(RUST_FORMAT) == 1, "runner.rs's greeting changed: update this edit"
    text = text.replace(RUST_FORMAT, RUST_EDIT)
    for kind in ("answer", "stream"):
        pattern = re.compile(rf"(async fn {kind}_run\([^{{]*\{{\n)")
        text, count = pattern.subn(lambda found: found.group(1) + RUST_SLEEP, text, count=1)
        assert count == 1, f"runner.rs has no {kind}_run: update this edit"
    runner.write_text(text, "utf-8")


def native_available() -> bool:
    return cargo() is not None and VENDOR.is_dir()


@dataclass(frozen=True)
class Paths:
    wheel: Path  # PYTHON_COMMAND installs it
    python: Path  # the bridge's venv, the plugin (editable) with its mcp extra: MCP_SERVER's
    project: Path  # the Python render
    bridge: Path | None  # the bridge's library; None without cargo
    rust: Path | None  # the Rust flavor's library; None without cargo
    rust_project: Path | None = None

    def libraries(self) -> list[Path]:
        """What goes into every process's ``PLUGINS_RUNNER_DIR``."""
        return [library for library in (self.bridge, self.rust) if library is not None]


def built_library(crate: Bridge | Crate, release: bool) -> Path:
    """The crate's library built in the profile asked for (the build's own kept copy)."""
    if release:
        return crate.release_library()
    crate.cargo("build")
    return crate.library


def build_paths(folder: Path, release: bool = False) -> Paths:
    """Render, edit and build every path's plugin under ``folder``."""
    bridge = prepare_bridge(folder / "python", edit_python, **PYTHON_ANSWERS)
    python = bridge.venv / "bin" / "python"
    run([uv(), "pip", "install", "--quiet", "--python", python, "-e", f"{bridge.project}[mcp]"])
    wheel = build_wheel(bridge.project, folder / "dist")
    bridge_library = rust_library = rust_project = None
    if native_available():
        bridge_library = built_library(bridge, release)
        crate = render_crate(folder / "rust", **RUST_ANSWERS)
        edit_rust(crate.project / "src" / "runner.rs")
        rust_library = built_library(crate, release)
        rust_project = crate.project
    return Paths(wheel, python, bridge.project, bridge_library, rust_library, rust_project)


def process_of(output: object, pids: Mapping[int, int]) -> int | None:
    """The index of the server process whose pid is in the answer's chain, if any."""
    found = PIDS.search(output if isinstance(output, str) else json.dumps(output))
    if not found:
        return None
    for pid in found.group(1).split(","):
        if int(pid) in pids:
            return pids[int(pid)]
    return None


@dataclass(frozen=True)
class PathSpec:
    """One deploy path: how its worker is made and what its jobs are."""

    label: str
    runner: str  # ``-r`` of ``worker create``: an id
    settings: str
    args: str  # the args JSON of a job greeting ``name``, with ``{name}`` to fill
    using: str | None
    stream: str  # what a stream request gets: "chunks", "one chunk" or "refused"
    extra: Sequence[str] = field(default=())

    def job_args(self, name: str) -> str:
        return self.args.replace("{name}", name)

    def enqueue_options(self, worker: str, name: str) -> list[str]:
        options = ["-w", worker, "-a", self.job_args(name)]
        return [*options, "--using", self.using] if self.using else options


def runner_id(server: JobWorkerP, name: str, wait: float = 0) -> str | None:
    """The id of the runner ``name``; with ``wait``, polls that many seconds for it (a server
    registers its plugins and MCP servers after it starts answering)."""
    deadline = time.monotonic() + wait
    while True:
        found = server.client("runner", "find-by-name", "-n", name, "--format", "json", check=False)
        text = found.stdout.lstrip()
        if text.startswith("{"):
            return str(json.loads(text)["id"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


def mcp_config(paths: Paths) -> str:
    """The plugin's ``deploy/mcp/mcp-settings.toml`` entry, ``command`` edited as it says.

    The entry is renamed ``ScalePythonMcp``: the runner is named after the server, and the
    bridge's runner already has the plugin's name.
    """
    text = (paths.project / "deploy" / "mcp" / "mcp-settings.toml").read_text("utf-8")
    text, commands = re.subn(
        r'^command = ".*"$', f'command = "{paths.python}"', text, count=1, flags=re.M
    )
    text, names = re.subn(
        rf'^name = "{PYTHON_RUNNER}"$', f'name = "{MCP_RUNNER}"', text, count=1, flags=re.M
    )
    assert commands == names == 1, text
    return text


def path_specs(server: JobWorkerP, paths: Paths, mcp: bool = True) -> dict[str, PathSpec]:
    """Every deploy path available here, its runner registered on the cluster (MCP_SERVER's
    from the processes' ``MCP_CONFIG``, unless ``mcp`` is false)."""
    script = (paths.project / "deploy" / "python_command" / "script.py").read_text("utf-8")
    envelope = json.dumps({"using": "run", "args": {"name": "{name}"}})
    python_settings = json.dumps(
        {"python_version": ">=3.10", "packages": {"list": [str(paths.wheel)]}}
    )
    specs = {
        "PYTHON_COMMAND": PathSpec(
            "PYTHON_COMMAND",
            PYTHON_COMMAND_RUNNER_ID,
            python_settings,
            json.dumps({"script_content": script, "data_body": envelope}),
            None,
            stream="refused",
        ),
    }
    if mcp:
        mcp_runner = runner_id(server, MCP_RUNNER, wait=60)
        assert mcp_runner is not None, f"{MCP_RUNNER} was not loaded from MCP_CONFIG"
        specs["MCP_SERVER"] = PathSpec(
            "MCP_SERVER", mcp_runner, "", json.dumps({"name": "{name}"}), "run", "one chunk"
        )
    for label, library, name in (
        ("PLUGIN (bridge)", paths.bridge, PYTHON_RUNNER),
        ("PLUGIN (Rust flavor)", paths.rust, RUST_RUNNER),
    ):
        if library is None:
            continue
        found = runner_id(server, name, wait=60)
        assert found is not None, f"{name} was not loaded from PLUGINS_RUNNER_DIR"
        specs[label] = PathSpec(
            label, found, '{"greeting": "Hi"}', json.dumps({"name": "{name}"}), "run", "chunks"
        )
    return specs


def create_worker(
    server: JobWorkerP,
    spec: PathSpec,
    worker: str,
    flags: Sequence[str] = (),
    channel: str | None = CHANNEL,
) -> str:
    """A ``use_static`` worker of ``spec`` on the dedicated channel (``None``: the default
    channel), its results stored."""
    command = ["worker", "create", "-n", worker, "-d", spec.label, "-r", spec.runner]
    command += ["-s", spec.settings, "--use-static", *(["-c", channel] if channel else [])]
    server.client(*command, "--store-success", "--store-failure", *flags)
    return worker
