"""JobWorkerP in Scalable mode for the tests: Redis and several ``all-in-one`` processes.

``Scalable(folder, processes=2, plugins=[...])`` starts ``redis-server`` on a free loopback port
(a child of this process, not daemonized, nothing saved) and the given number of server
processes, each from its own folder with its own ``PLUGINS_RUNNER_DIR`` (the plugin libraries
are copied there before it starts), its own log and gRPC port, all sharing one SQLite file and
the Redis queue. Every process has the dedicated channel ``plug`` (``WORKER_CHANNELS``) for
plugin workers. ``stop()`` ends every process by its pid, the servers first.

Each ``ScalableProcess`` is a ``JobWorkerP`` (its ``client()``, ``run_script()`` and log
helpers), started and stopped here instead of by ``jobworkerp.sh``: the script knows only
Standalone storage. The environment is the script's plus the Scalable variables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.jobworkerp_server import SHARED, JobWorkerP, server_path

SERVER = SHARED / "bin" / "all-in-one"
CHANNEL = "plug"  # the dedicated channel of plugin workers
CHANNEL_CONCURRENCY = 2  # per process
DEFAULT_CONCURRENCY = 2  # the default channel's, per process
START_SECONDS = 60


def redis_server() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_pid(process: subprocess.Popen[bytes], seconds: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``seconds``; waits for the end either way."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Redis:
    """``redis-server`` on loopback: no persistence, a child process stopped by its pid."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        binary = redis_server()
        assert binary is not None, "redis-server is not on PATH (apt-get install redis-server)"
        # Nothing saved: the queue lives as long as this Redis.
        volatile = ["--save", "", "--appendonly", "no", "--dir", str(folder)]
        with (folder / "redis.log").open("wb") as log:
            self.process = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(self.port), *volatile],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 20
        while self.command("PING") != "PONG":
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError((folder / "redis.log").read_text("utf-8", "replace"))
            time.sleep(0.1)

    def command(self, *words: str) -> str:
        """One Redis command over RESP; its reply as text (an array's items one per line)."""
        request = f"*{len(words)}\r\n" + "".join(
            f"${len(word.encode())}\r\n{word}\r\n" for word in words
        )
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(request.encode())
                reader = sock.makefile("rb")
                return "\n".join(_reply(reader))
        except OSError:
            return ""

    def stop(self) -> None:
        stop_pid(self.process)


def _reply(reader: object) -> list[str]:
    """A RESP reply, flattened to its strings (an integer as its digits)."""
    line: bytes = reader.readline()  # type: ignore[attr-defined]
    kind, rest = line[:1], line[1:].rstrip(b"\r\n").decode()
    if kind in (b"+", b":"):
        return [rest]
    if kind == b"-":
        raise RuntimeError(f"redis: {rest}")
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return []
        data: bytes = reader.read(size + 2)  # type: ignore[attr-defined]
        return [data[:-2].decode("utf-8", "replace")]
    if kind == b"*":
        items: list[str] = []
        for _ in range(max(int(rest), 0)):
            items += _reply(reader)
        return items
    raise RuntimeError(f"redis: unexpected reply {line!r}")


def scalable_env(folder: Path, port: int, redis: Redis, database: Path) -> dict[str, str]:
    """``jobworkerp.sh``'s environment with Scalable storage and the ``plug`` channel."""
    return {
        "STORAGE_TYPE": "Scalable",
        "REDIS_URL": redis.url,
        "REDIS_POOL_SIZE": "20",
        "REDIS_POOL_MIN_IDLE": "1",
        "SQLITE_URL": f"sqlite://{database}?mode=rwc",
        "SQLITE_MAX_CONNECTIONS": "20",
        "GRPC_ADDR": f"127.0.0.1:{port}",
        "USE_GRPC_WEB": "false",
        "JOB_QUEUE_EXPIRE_JOB_RESULT_SECONDS": "3600",
        "JOB_QUEUE_FETCH_INTERVAL": "1000",
        "WORKER_DEFAULT_CONCURRENCY": str(DEFAULT_CONCURRENCY),
        "WORKER_CHANNELS": CHANNEL,
        "WORKER_CHANNEL_CONCURRENCIES": str(CHANNEL_CONCURRENCY),
        "PLUGINS_RUNNER_DIR": str(folder / "plugins"),
        "MCP_CONFIG": str(folder / "mcp-settings.toml"),
        "LOG_LEVEL": "info",
        "LOG_FILE_DIR": f"{folder / 'log'}/",
        "LOG_USE_JSON": "false",
        "LOG_USE_STDOUT": "true",
        "RUST_LOG": "info,h2=info,sqlx=warn",
        "TZ": "UTC",
    }


class ScalableProcess(JobWorkerP):
    """One ``all-in-one`` process of a Scalable cluster, started as a child of this process."""

    def __init__(
        self, folder: Path, redis: Redis, database: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.redis = redis
        self.database = database
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        super().__init__(folder)  # makes the folders and calls start()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.plugins_dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "log").mkdir(parents=True, exist_ok=True)
        env = {**scalable_env(self.dir, self.port, self.redis, self.database), **self.extra_env}
        (self.dir / "server.env").write_text(
            "".join(f"{key}={value}\n" for key, value in env.items()), "utf-8"
        )
        self.address = f"http://127.0.0.1:{self.port}"
        with (self.dir / "server.log").open("ab") as log:
            # Its own folder: the server also reads a .env from its working folder.
            self.process = subprocess.Popen(
                [str(SERVER)],
                cwd=self.dir,
                env={**os.environ, "PATH": server_path(), **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_SECONDS
        while self.client("runner", "list", check=False, timeout=20).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"a Scalable server did not start:\n{self.log_tail()}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process)

    def kill9(self) -> None:
        """``kill -9``: no chance to hand anything back."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Scalable:
    """Redis and ``processes`` Scalable servers sharing it and one SQLite file."""

    def __init__(
        self,
        folder: Path,
        processes: int = 2,
        plugins: Sequence[Path] = (),
        mcp_config: str | None = None,
    ) -> None:
        self.dir = folder
        self.mcp_config = mcp_config
        self.redis = Redis(folder / "redis")
        self.database = folder / "jobworkerp.sqlite3"
        self.processes: list[ScalableProcess] = []
        try:
            for index in range(processes):
                self.add(folder / f"process-{index}", plugins)
        except BaseException:
            self.stop()
            raise

    def add(
        self, folder: Path, plugins: Sequence[Path] = (), env: Mapping[str, str] | None = None
    ) -> ScalableProcess:
        """One more process; ``plugins`` are put in its ``PLUGINS_RUNNER_DIR`` before it starts,
        and the cluster's ``mcp_config`` in its ``MCP_CONFIG`` file; ``env`` overrides its
        environment (``WORKER_CHANNELS``, say)."""
        (folder / "plugins").mkdir(parents=True, exist_ok=True)
        if self.mcp_config is not None:
            (folder / "mcp-settings.toml").write_text(self.mcp_config, "utf-8")
        for library in plugins:
            shutil.copy(library, folder / "plugins" / library.name)
        process = ScalableProcess(folder, self.redis, self.database, env)
        self.processes.append(process)
        return process

    @property
    def front(self) -> ScalableProcess:
        return self.processes[0]

    def pids(self) -> dict[int, int]:
        """Each server's pid and its index."""
        return {process.pid: index for index, process in enumerate(self.processes)}

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.redis.stop()


# Jobs and results ----------------------------------------------------------------------

JOB_ID = re.compile(r"JobId \{\s*value: (\d+)")


def enqueue_id(server: JobWorkerP, *args: str) -> str:
    """``job enqueue ARGS`` on a ``NO_RESULT`` worker: the new job's id."""
    done = server.client("job", "enqueue", *args)
    found = JOB_ID.search(done.stdout)
    assert found, done.stdout + done.stderr
    return found.group(1)


def json_list(text: str) -> list[dict[str, Any]]:
    """A client's ``--format json`` listing: a list; one item alone as an object; none, as text."""
    start = text.lstrip()[:1]
    if start == "[":
        found: list[dict[str, Any]] = json.loads(text)
        return found
    return [json.loads(text)] if start == "{" else []


def stored_results(server: JobWorkerP, worker: str | None = None) -> list[dict[str, Any]]:
    """Every stored job result (of ``worker``), page by page."""
    found: list[dict[str, Any]] = []
    page = 1000  # the server's largest page
    for offset in range(0, 10_000_000, page):
        listed = server.client(
            "job-result", "list", "-o", str(offset), "-l", str(page), "--format", "json"
        ).stdout
        results = json_list(listed)
        found += [r for r in results if worker is None or r.get("worker_name") == worker]
        if len(results) < page:
            return found
    return found


def wait_for_results(
    server: JobWorkerP, worker: str, count: int, limit: float, settle: float = 0.0
) -> list[dict[str, Any]]:
    """The worker's results once there are ``count`` of them, or when ``limit`` s have passed.

    With ``settle``, returns early once the count has not changed for that many seconds (for
    jobs that may never end).
    """
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while True:
        mine = stored_results(server, worker)
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        if len(mine) != last:
            last, since = len(mine), time.monotonic()
        elif settle and time.monotonic() - since > settle:
            return mine
        time.sleep(0.5)


def job_statuses(server: JobWorkerP) -> list[dict[str, Any]]:
    """``job-status list``: the jobs not yet ended, with their state (PENDING, RUNNING, ...)."""
    return json_list(server.client("job-status", "list", "--format", "json").stdout)
