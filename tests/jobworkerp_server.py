"""A real, private JobWorkerP server for the tests: ``../shared/jobworkerp`` from the project root.

``JobWorkerP(folder)`` starts the upstream all-in-one server with ``jobworkerp.sh start`` on a
free loopback port, its state (SQLite), ``PLUGINS_RUNNER_DIR`` and ``MCP_CONFIG`` inside
``folder``. The server's PATH starts with the test environment's ``bin`` folder, so that the
PYTHON_COMMAND runner finds the ``uv`` of ``requirements/test.txt`` there. ``client()`` runs
``jobworkerp-client`` from a scratch folder inside ``folder``, where the empty log file it drops
on every call harms nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support import TEMPLATE

SHARED = TEMPLATE.parent / "shared" / "jobworkerp"
SCRIPT = SHARED / "jobworkerp.sh"
CLIENT = SHARED / "bin" / "jobworkerp-client"


def available() -> str | None:
    """Why the real server cannot run here, or ``None`` when it can."""
    if not SCRIPT.is_file() or not CLIENT.is_file():
        return f"no real JobWorkerP: {SHARED.relative_to(TEMPLATE.parent)} is missing"
    return None


def server_path() -> str:
    """PATH for the server and its runners: this environment's tools (uv) first."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


class JobWorkerP:
    """One server process; ``stop()`` it (the session fixture always does)."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.plugins_dir = folder / "plugins"
        self.mcp_config = folder / "mcp-settings.toml"
        self.scratch = folder / "client-cwd"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.address = ""
        self.start()

    def _script(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env={**os.environ, "PATH": server_path()},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        done = self._script("start", str(self.dir))
        if done.returncode != 0:
            raise RuntimeError(f"jobworkerp.sh start failed:\n{done.stdout}\n{done.stderr}")
        self.address = (self.dir / "address").read_text("utf-8").strip()

    def stop(self) -> None:
        self._script("stop", str(self.dir))

    def restart(self) -> None:
        """Stop and start on the same state: MCP_CONFIG and plugins/ are read at start-up."""
        self.stop()
        self.start()

    def client_env(self) -> dict[str, str]:
        """The environment for ``jobworkerp-client`` and deploy scripts: the same PATH."""
        return {**os.environ, "PATH": server_path()}

    def client(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``jobworkerp-client -a ADDRESS ARGS...``; raises with its output unless it exits 0."""
        done = subprocess.run(
            [str(CLIENT), "-a", self.address, *args],
            cwd=self.scratch,
            env=self.client_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"jobworkerp-client {' '.join(args)} exited {done.returncode}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done

    def run_script(
        self, script: Path, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """A generated deploy script against this server, from another working folder."""
        return subprocess.run(
            ["bash", str(script)],
            cwd=self.scratch,
            env={
                **self.client_env(),
                "ADDRESS": self.address,
                "CLIENT": str(CLIENT),
                **(env or {}),
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def log_text(self) -> str:
        log = self.dir / "server.log"
        return log.read_text("utf-8", "replace") if log.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        """The log's last lines, without the terminal colours the server writes."""
        plain = re.sub(r"\x1b\[[0-9;]*m", "", self.log_text())
        return "\n".join(plain.splitlines()[-lines:])
