"""Feed (client-stream) throughput on a real JobWorkerP: the bridge against the Rust flavor.

    python benchmarks/feed.py            # 2,000 items a job, five jobs a path
    python benchmarks/feed.py --quick    # 50 items, one job a path: proves the command works

Both flavors render the same answers with a feed method (``count_words``: the running word
count back for each item, the whole result at the end), build their libraries (release) and
register them on one private server, each with a ``use_static`` worker loaded before its first
job. A job's items are sent back to back once the job has started (``EnqueueWithClientStream``);
its throughput is the items over the seconds from the first item sent to the last result chunk
received, so the figure holds the server's work in both directions. A path's row is the median
of its jobs, and the bridge is given as a ratio of the Rust flavor's, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the template's test helpers

from tests import jobworkerp_grpc  # noqa: E402
from tests.jobworkerp_server import JobWorkerP, available  # noqa: E402
from tests.native_support import VENDOR, cargo, prepare_bridge  # noqa: E402
from tests.rust_support import render_crate  # noqa: E402
from tests.support import CONFIG_VARIABLE, write_cookiecutter_config  # noqa: E402
from tests.v2_library import register, static_worker  # noqa: E402

ANSWERS = {
    "plugin_name": "Feed Bench",
    "methods": "run, count_words",
    "streaming_mode": "both",
    "feed_methods": "count_words",
}
METHOD = "count_words"
SETTINGS = {"greeting": "Hi"}
WORDS = "a b c"  # each item's text: three words
# The server can lose items sent before its worker has started the job: the feed waits this long.
START_PAUSE = 0.3
JOB_TIMEOUT_MS = 120_000


class Path_:
    """One flavor's library on the server: its worker and its messages."""

    def __init__(self, label: str, library: Path, protos: Path, server: JobWorkerP) -> None:
        self.label = label
        runner = register(server, library, server.dir, label.replace(" ", ""))
        self.worker = static_worker(server, runner, f"{runner}-feed", SETTINGS).name
        if not jobworkerp_grpc.load_worker(server.address, self.worker):
            raise RuntimeError(f"the server did not load worker {self.worker}")
        self.args = message(protos, "args", "CountWordsArgs")(name="Ada").SerializeToString()
        self.feed = message(protos, "feed", "CountWordsFeed")
        self.result = message(protos, "result", "CountWordsResult")

    def items_per_second(self, server: JobWorkerP, count: int) -> float:
        """One job of ``count`` items; raises when its answer is not the whole count."""
        items = [self.feed(text=WORDS).SerializeToString()] * count
        outcome = jobworkerp_grpc.enqueue_with_feed(
            server.address, self.worker, self.args, METHOD, items,
            start_pause=START_PAUSE, timeout_ms=JOB_TIMEOUT_MS,
        )  # fmt: skip
        expected = f"Hi, Ada! {len(WORDS.split()) * count} words."
        last = self.result.FromString(outcome.chunks[-1]).message if outcome.chunks else None
        if outcome.code is not None or last != expected:
            raise RuntimeError(f"{self.label}: {outcome.code} {outcome.details!r}, last {last!r}")
        return count / outcome.arrivals[-1]


def message(protos: Path, role: str, name: str) -> Any:
    """A message class of the plugin's ``<method>_<role>.proto``."""
    return jobworkerp_grpc.message_class(protos / f"{METHOD}_{role}.proto", name)


def build(work: Path) -> list[tuple[str, Path, Path]]:
    """Both flavors rendered and built (release): (label, library, proto folder) each."""
    os.environ[CONFIG_VARIABLE] = str(write_cookiecutter_config(work / "cookiecutter"))
    bridge = prepare_bridge(work / "python", None, **ANSWERS)
    bridge_protos = bridge.project / "src" / bridge.package / "protos"
    crate = render_crate(work / "rust", **ANSWERS)
    return [
        ("Rust flavor", crate.release_library(), crate.project / "protos"),
        ("bridge", bridge.release_library(), bridge_protos),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts")
    options = parser.parse_args(argv)
    missing = available()
    if missing is None and (cargo() is None or not VENDOR.is_dir()):
        missing = "needs cargo and ../shared/vendor"
    if missing is not None:
        print(f"skipped: {missing}", file=sys.stderr)
        return 2
    count, jobs = (50, 1) if options.quick else (2000, 5)
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jwp-feed-bench-") as folder:
        libraries = build(Path(folder))
        server = JobWorkerP(Path(folder) / "server")
        try:
            for label, library, protos in libraries:
                path = Path_(label, library, protos, server)
                path.items_per_second(server, count)  # a warm-up job
                samples = [path.items_per_second(server, count) for _ in range(jobs)]
                rates[label] = statistics.median(samples)
        except (RuntimeError, AssertionError):
            print(server.log_tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
    print("| path | items/s (median) | ratio to the Rust flavor |")
    print("| --- | --- | --- |")
    for label, rate in rates.items():
        print(f"| {label} | {rate:,.0f} | {rate / rates['Rust flavor']:.2f}x |")
    print(f"\n{jobs} jobs of {count} items a path after a warm-up job, release builds, one server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
