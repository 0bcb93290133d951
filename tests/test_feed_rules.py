"""Feed methods under the generated local host and conformance suite.

One render with a feed method is imported in this process (its protos compiled by the
post-generation hook). The generated plugin keeps every rule; plugins that subclass its runner
break one feed rule each, and the suite names that rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import imported_render, render

PACKAGE = "feed_kit"
ANSWERS = {
    "plugin_name": "Feed Kit",
    "methods": "run, count_words",
    "feed_methods": "count_words",
    "streaming_mode": "both",
}


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    project = render(tmp_path_factory.mktemp("feed"), **ANSWERS)
    names = [
        "",
        "runner",
        "framework.devtools.host",
        "framework.devtools.conformance",
        "framework.runtime.guard",
        "protos.count_words_args_pb2",
        "protos.count_words_feed_pb2",
        "protos.count_words_result_pb2",
    ]
    with imported_render(project, PACKAGE, names) as modules:
        yield SimpleNamespace(
            root=modules[""],
            runner=modules["runner"],
            host=modules["framework.devtools.host"],
            conformance=modules["framework.devtools.conformance"],
            guard=modules["framework.runtime.guard"],
            args=modules["protos.count_words_args_pb2"].CountWordsArgs,
            feed=modules["protos.count_words_feed_pb2"].CountWordsFeed,
            result=modules["protos.count_words_result_pb2"].CountWordsResult,
        )


class _EndlessFeed:
    """A feed whose end of input never reaches the job."""

    def __init__(self, feed: Any) -> None:
        self.feed = feed

    def send(self, data: bytes) -> None:
        self.feed.send(data)

    def close(self) -> None:
        pass


def misbehaving(pkg: SimpleNamespace) -> dict[str, type]:
    base: type = pkg.runner.FeedKitRunner
    plugin_error = pkg.root.PluginError

    class DeclinesItsFeed(base):  # type: ignore[misc]
        def supports_client_stream(self, using: str | None) -> bool:
            return False

    class IgnoresEndOfInput(base):  # type: ignore[misc]
        def setup_client_stream_channel(self, using: str | None) -> Any:
            feed = super().setup_client_stream_channel(using)
            return None if feed is None else _EndlessFeed(feed)

    class RunsAFeedMethod(base):  # type: ignore[misc]
        def run(self, args: bytes, metadata: dict[str, str], using: str | None) -> Any:
            if using == "count_words":
                return b"", metadata
            return super().run(args, metadata, using)

    class BrokenAfterACancelledFeed(base):  # type: ignore[misc]
        poisoned = False

        def cancel(self) -> bool:
            if self._fed is not None:
                type(self).poisoned = True
            return bool(super().cancel())

        def begin_stream(self, args: bytes, metadata: dict[str, str], using: str | None) -> None:
            if type(self).poisoned:
                raise plugin_error("broken since a feed was cancelled")
            super().begin_stream(args, metadata, using)

    return {
        cls.__name__: cls
        for cls in (DeclinesItsFeed, IgnoresEndOfInput, RunsAFeedMethod, BrokenAfterACancelledFeed)
    }


def subject(pkg: SimpleNamespace, factory: Callable[[], Any]) -> Any:
    return pkg.conformance.Subject(factory, timeout_ms=1000, max_chunks=50)


def test_the_generated_feed_plugin_keeps_every_rule(pkg: SimpleNamespace) -> None:
    found = subject(pkg, pkg.root.load_multi_method_plugin)
    assert [str(error) for error in pkg.conformance.check_all(found)] == []


@pytest.mark.parametrize(
    ("plugin", "rule"),
    [
        ("DeclinesItsFeed", "client-stream"),
        ("IgnoresEndOfInput", "feed"),
        ("RunsAFeedMethod", "feed-refused"),
        ("BrokenAfterACancelledFeed", "feed-cancel"),
    ],
)
def test_conformance_names_the_broken_feed_rule(
    pkg: SimpleNamespace, plugin: str, rule: str
) -> None:
    cls = misbehaving(pkg)[plugin]
    found = subject(pkg, lambda: pkg.guard.guarded(cls, "FeedKit"))
    with pytest.raises(pkg.conformance.ConformanceError) as caught:
        pkg.conformance.RULES_BY_ID[rule].check(found)
    message = str(caught.value)
    assert message.startswith(f"[{rule}] "), message


def test_the_host_feeds_a_static_worker_in_order(pkg: SimpleNamespace) -> None:
    pieces = [pkg.feed(text=text).SerializeToString() for text in ("a b", "", "c")]
    with pkg.host.Host(pkg.root.load_multi_method_plugin, use_static=True) as host:
        result = host.run(
            pkg.host.Job(
                args=pkg.args(name="Ada").SerializeToString(),
                using="count_words",
                streaming_type=pkg.host.StreamingType.RESPONSE,
                feed=pieces,
                feed_pause=0.01,
            )
        )
    chunks = [pkg.result.FromString(chunk) for chunk in result.chunks]
    assert result.ok, result.error
    assert [(c.delta, c.message) for c in chunks] == [
        ("2 words", ""),
        ("2 words", ""),
        ("3 words", ""),
        ("", "Hello, Ada! 3 words."),
    ]


def test_the_guard_refuses_a_feed_method_without_a_feed(pkg: SimpleNamespace) -> None:
    host = pkg.host.Host(pkg.root.load_multi_method_plugin, use_static=True)
    with pytest.raises(pkg.host.EnqueueRejected, match="requires client streaming"):
        host.run(pkg.host.Job(using="count_words", streaming_type=pkg.host.StreamingType.RESPONSE))
    with pytest.raises(pkg.host.EnqueueRejected, match="client stream is a streaming job"):
        host.run(pkg.host.Job(using="count_words", feed=[]))


def test_the_cli_feeds_lines_of_a_file_or_stdin(pkg: SimpleNamespace, tmp_path: Path) -> None:
    source = Path(pkg.root.__file__).parent.parent
    feed = tmp_path / "feed.txt"
    feed.write_text('one two\n{"text": "three four five"}\n', "utf-8")
    command = [sys.executable, "-m", PACKAGE, "run", "--using", "count_words"]
    environment = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        [*command, "--args", '{"name": "Ada"}', "--feed", str(feed), "--json"],
        env=environment, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (job,) = json.loads(done.stdout)["jobs"]
    assert [chunk.get("delta") for chunk in job["chunks"]][:2] == ["2 words", "5 words"]
    assert job["chunks"][-1]["message"] == "Hello, Ada! 5 words."
    piped = subprocess.run(
        [*command, "--feed", "-"],
        input="a b c\n", env=environment, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "Hello, world! 3 words." in piped.stdout
    refused = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=False, timeout=60
    )
    assert refused.returncode == 2
    assert "requires client streaming" in refused.stderr and "--feed FILE" in refused.stderr
