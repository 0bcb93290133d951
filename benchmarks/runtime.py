"""The runtime rows of the benchmark, run inside a virtual environment where the plugin is installed.

``run.py`` starts it as ``python runtime.py --package NAME ...`` and reads one JSON object from
its standard output: for each row, the unit, the measured samples and the baseline samples.

The baselines are the work no framework can save: parse the args message, build the result,
serialize it. They reproduce the default runner's sample work by hand, and each one is checked
to give byte-identical output before it is timed, so both sides do the same job.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from time import perf_counter
from types import ModuleType
from typing import Any

METADATA = {"trace": "benchmark"}


@dataclass(frozen=True)
class Plugin:
    """The installed plugin's entry point and the message types of its default method."""

    package: str
    entry: ModuleType
    args_type: Any
    result_type: Any
    settings: Any

    @classmethod
    def load(cls, package: str) -> Plugin:
        entry = importlib.import_module(package)
        methods = importlib.import_module(f"{package}.runner").METHODS
        method = methods.resolve(None)
        return cls(package, entry, method.args_type, method.result_type, methods.settings_type())

    def loaded(self) -> Any:
        plugin = self.entry.load_multi_method_plugin()
        plugin.load(b"")
        return plugin

    def greeting(self, name: str) -> str:
        """The default runner's sample answer, written out again for the baselines."""
        return f"{self.settings.greeting or 'Hello'}, {name or 'world'}!"


def samples(
    measured: Callable[[], float], baseline: Callable[[], float], count: int
) -> dict[str, list[float]]:
    """``count`` samples of each side, interleaved, the order alternating."""
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(count):
        if index % 2:
            theirs.append(baseline())
            ours.append(measured())
        else:
            ours.append(measured())
            theirs.append(baseline())
    return {"measured": ours, "baseline": theirs}


# plugin call ------------------------------------------------------------------------------


def bare_call(plugin: Plugin) -> Callable[[bytes, dict[str, str], str | None], Any]:
    args_type, result_type = plugin.args_type, plugin.result_type
    greeting = plugin.greeting

    def call(args: bytes, metadata: dict[str, str], using: str | None) -> Any:
        request = args_type.FromString(args)
        return result_type(message=greeting(request.name)).SerializeToString(), metadata

    return call


def per_call_micros(call: Callable[..., Any], args: bytes, calls: int) -> float:
    start = perf_counter()
    for _ in repeat(None, calls):
        call(args, METADATA, None)
    return (perf_counter() - start) / calls * 1e6


def plugin_call_row(plugin: Plugin, options: argparse.Namespace) -> dict[str, Any]:
    guarded = plugin.loaded()
    bare = bare_call(plugin)
    args = plugin.args_type(name="Ada").SerializeToString()
    if guarded.run(args, METADATA, None) != bare(args, METADATA, None):
        raise SystemExit("plugin call: the baseline's answer differs from the plugin's")
    row = samples(
        lambda: per_call_micros(guarded.run, args, options.calls),
        lambda: per_call_micros(bare, args, options.calls),
        options.repeat,
    )
    return {"unit": "µs/call", **row}


# stream -----------------------------------------------------------------------------------


def plain_chunks(plugin: Plugin, args: bytes) -> Iterator[bytes]:
    """The sample stream produced and serialized in a plain loop."""
    request = plugin.args_type.FromString(args)
    pieces = re.findall(r"\S+\s*", plugin.greeting(request.name))
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        chunk = plugin.result_type(delta=piece)
        if index == last:
            chunk.message = "".join(pieces)
        yield chunk.SerializeToString()


def plugin_chunks(guarded: Any, args: bytes) -> Iterator[bytes]:
    guarded.begin_stream(args, {}, None)
    receive = guarded.receive_stream
    while (chunk := receive()) is not None:
        yield chunk


def chunk_rate(chunks: Callable[[], Iterator[bytes]], streams: int) -> float:
    count = 0
    start = perf_counter()
    for _ in range(streams):
        for _chunk in chunks():
            count += 1
    return count / (perf_counter() - start)


def stream_row(plugin: Plugin, options: argparse.Namespace) -> dict[str, Any]:
    guarded = plugin.loaded()
    name = " ".join(f"word{index}" for index in range(options.words))
    args = plugin.args_type(name=name).SerializeToString()
    if list(plugin_chunks(guarded, args)) != list(plain_chunks(plugin, args)):
        raise SystemExit("stream: the baseline's chunks differ from the plugin's")
    row = samples(
        lambda: chunk_rate(lambda: plugin_chunks(guarded, args), options.streams),
        lambda: chunk_rate(lambda: plain_chunks(plugin, args), options.streams),
        options.repeat,
    )
    return {"unit": "chunks/s", **row}


# host job ---------------------------------------------------------------------------------


def host_module(package: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{package}.framework.devtools.host")
    except ImportError:
        return None


def jobs_millis(run_job: Callable[[], Any], jobs: int) -> float:
    start = perf_counter()
    for _ in repeat(None, jobs):
        run_job()
    return (perf_counter() - start) * 1e3


def host_job_row(plugin: Plugin, options: argparse.Namespace) -> dict[str, Any]:
    host_api = host_module(plugin.package)
    if host_api is None:
        return {"unit": "ms", "measured": [], "baseline": [], "note": "host not available"}
    args = plugin.args_type(name="Ada").SerializeToString()
    job = host_api.Job(args=args, metadata=METADATA)
    direct = plugin.loaded()
    with host_api.Host(plugin.entry.load_multi_method_plugin, use_static=True) as host:
        # The pool's one instance is built and loaded by this first job (as WorkerService.Load
        # would do up front), so the samples time reused instances only.
        first = host.run(job)
        if not first.ok or first.output != direct.run(args, METADATA, None)[0]:
            raise SystemExit(f"host job: the host's answer differs: {first.error}")
        row = samples(
            lambda: jobs_millis(lambda: host.run(job), options.jobs),
            lambda: jobs_millis(lambda: direct.run(args, METADATA, None), options.jobs),
            options.repeat,
        )
    return {"unit": f"ms/{options.jobs:,} jobs", **row}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", required=True)
    for name, default in (("calls", 20_000), ("jobs", 1_000), ("words", 2_000)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()
    plugin = Plugin.load(options.package)
    report = {
        "plugin call": plugin_call_row(plugin, options),
        "host job": host_job_row(plugin, options),
        "stream": stream_row(plugin, options),
    }
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
