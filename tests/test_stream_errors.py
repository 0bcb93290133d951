"""A stream that fails, before its first chunk or after it: the CLI and the real server agree.

The plugin's stream raises for two names: ``nobody`` before any chunk, ``late failure`` after
the first one. The same jobs run on a real JobWorkerP server through the native bridge (a
``use_static`` worker, results stored) and through the CLI (``run --stream``, the local host).
The job's status and the chunks delivered must be the same on both; the CLI's one line says
what happened in the server's terms, never "error: SUCCESS".
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, Bridge, cargo, prepare_bridge
from tests.v2_library import Worker

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(
        cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
    ),
]

PACKAGE = "stream_errors"
FIRST = "    pieces = words(greeting(runner.settings, args.name))\n"
LATER = "        yield RunResult(delta=piece)\n"


def fail_in_the_stream(runner: Path) -> None:
    text = runner.read_text("utf-8")
    assert text.count(FIRST) == 1 and text.count(LATER) == 1, "runner.py changed: update this"
    before = '    if args.name == "nobody":\n        raise ValueError("nobody to greet")\n'
    after = '        if args.name == "late failure":\n            raise ValueError("failed late")\n'
    runner.write_text(text.replace(FIRST, before + FIRST).replace(LATER, LATER + after), "utf-8")


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Bridge:
    out = tmp_path_factory.mktemp("stream-errors")
    built = prepare_bridge(
        out, fail_in_the_stream, plugin_slug="stream-errors", package_name=PACKAGE
    )
    built.cargo("build")
    return built


def server_worker(server: JobWorkerP, bridge: Bridge, folder: Path) -> Worker:
    library = folder / f"lib{PACKAGE}.so"
    library.write_bytes(bridge.library.read_bytes())
    server.client(
        "runner", "create", "-n", "StreamErrors", "-d", "t", "-r", "PLUGIN",
        "--definition", str(library),
    )  # fmt: skip
    found = server.client("runner", "find-by-name", "-n", "StreamErrors").stdout
    runner_id = re.search(r'"id": (\d+)', found)
    assert runner_id, found
    server.client(
        "worker", "create", "-n", "stream-errors", "-d", "t", "-r", runner_id.group(1),
        "-s", "{}", "--use-static", "--store-success", "--store-failure",
    )  # fmt: skip
    return Worker(server, "stream-errors")


def cli(bridge: Bridge, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    python = str(bridge.venv / "bin" / "python")
    args = json.dumps({"name": name})
    return subprocess.run(
        [python, "-m", PACKAGE, "run", "--using", "run", "--args", args, "--stream", *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_cli_reports_a_failed_stream_as_the_server_does(
    bridge: Bridge, jobworkerp: JobWorkerP, tmp_path: Path
) -> None:
    worker = server_worker(jobworkerp, bridge, tmp_path)

    # Before the first chunk: the job fails. The server's stored status is OTHER_ERROR with the
    # reason, or (its early look at the stream missed the error) SUCCESS with no chunk, the
    # reason only in its log; never a chunk.
    on_server = worker.stream({"name": "nobody"}, "run")
    assert on_server.chunks == [], on_server
    if on_server.status == "OTHER_ERROR":
        assert "nobody to greet" in (on_server.error or ""), on_server
    else:
        assert on_server.status == "SUCCESS" and "nobody to greet" in jobworkerp.log_text()
    (local,) = json.loads(cli(bridge, "nobody", "--json").stdout)["jobs"]
    assert (local["status"], local["chunks"]) == ("OTHER_ERROR", [])
    readable = cli(bridge, "nobody")
    assert readable.returncode == 1, readable.stdout + readable.stderr
    assert readable.stderr.strip() == (
        "error: OTHER_ERROR: ValueError in receive_stream(): nobody to greet"
    )

    # After the first chunk: SUCCESS with that chunk, on both; the CLI's line says so.
    on_server = worker.stream({"name": "late failure"}, "run")
    (local,) = json.loads(cli(bridge, "late failure", "--json").stdout)["jobs"]
    assert (local["status"], local["chunks"]) == (on_server.status, on_server.chunks)
    assert on_server.status == "SUCCESS" and len(on_server.chunks or []) == 1
    (line,) = cli(bridge, "late failure").stderr.strip().splitlines()
    assert (
        line.startswith("error: the stream ended early after 1 chunk: ") and "failed late" in line
    )
