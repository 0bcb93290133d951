"""The two flavors publish the same JSON Schemas for the same protos.

JobWorkerP reads a plugin's ``method_json_schema_map()`` (and ``settings_schema()``) and shows
them to its clients: the MCP server's tool list, the LLM tool path, the UI. The Python flavor
derives them from the compiled Python messages (``framework/runtime/json_schema.py``; the native
bridge bakes them in at build time), the Rust flavor from the descriptors protoc gives its build
(``src/framework/json_schema.rs``). Both are rendered here with the same author protos, every
kind of field in them, and each flavor's own published map is read: the Python one from a fresh
instance made by the package's entry-point function, the Rust one through the crate's
``PluginV2`` implementation. They must be the same text once parsed, keys in the same order.

Well-known types (``google.protobuf.Timestamp`` and the like) are not covered: a proto that
imports one is refused by both flavors (JobWorkerP compiles each proto text alone). The feed
method ``tally`` has a client-stream data schema (``client_stream_data_schema``) in both; the
other methods have none.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.native_support import VENDOR, cargo
from tests.rust_support import published_schemas as rust_schemas
from tests.rust_support import render_crate
from tests.support import SKIP_VARIABLE, compile_protos, render, run
from tests.support import published_schemas as python_schemas
from tests.test_author_edit import write

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)

PLUGIN_NAME = "Schema Parity"
PACKAGE = "schema_parity"

SETTINGS_PROTO = """\
// Settings of the SchemaParity runner.
syntax = "proto3";

package schema_parity;

message SchemaParitySettings {
  // Put in front of every answer; empty means "Hello".
  string greeting = 1;
  // Seconds per call, by endpoint name.
  map<string, double> timeouts = 2;
  Mode mode = 3;

  enum Mode {
    MODE_UNSPECIFIED = 0;
    MODE_FAST = 1;
  }
}
"""

# Every kind of field, and the comment styles an author writes above them.
SHAPES_ARGS = """\
// Arguments of shapes: a field of every kind.
syntax = "proto3";

package schema_parity;

message ShapesArgs {
  // Where the shape starts.
  Point origin = 1;
  // Labels, in any order.
  repeated string tags = 2;
  /* The corners,
   * in drawing order. */
  repeated Point path = 3;
  Color color = 4;
  // Totals by name.
  map<string, int64> totals = 5;
  map<int32, Point> points_by_id = 6;
  // Not a field's comment: oneof members have their own.
  oneof target {
    // The target by name.
    string target_name = 7;
    Point target_point = 8;
  }
  // At most this many; unset means no limit.
  optional uint32 limit = 9;
  bytes payload = 10; // a trailing comment is nobody's description
  int64 i64 = 11;
  uint64 u64 = 12;
  uint32 u32 = 13;
  fixed32 f32 = 14;
  fixed64 f64 = 15;
  sfixed32 sf32 = 16;
  sfixed64 sf64 = 17;
  sint32 s32 = 18;
  sint64 s64 = 19;
  // Line comments above a block comment are not the field's:
  /* only the block is. */
  int32 i32 = 20;
  // Größe in µm, "quoted" and \\ back-slashed.
  double ratio = 21;
  float scale = 22;
  /* A block comment above line comments is not the field's: */
  // only the lines are,
  // both of them.
  bool enabled = 23;
  repeated Color palette = 24;
  // A detached comment: a blank line follows.

  Tree tree = 25;
  /** Javadoc style. */
  repeated bytes blobs = 26;
  /// Triple slashes.
  optional Color accent = 27;
  //
  // A first line left empty,
  //
  // and a gap inside.
  repeated int64 stamps = 28;
  map<string, Color> colors_by_name = 29;
  map<uint64, bytes> blobs_by_id = 30;
  // A nested enum of a nested message, by its qualified name.
  repeated Point.Kind kinds = 31;
  .schema_parity.Tree rooted = 32;

  message Point {
    // Across, in metres.
    double x = 1;
    double y = 2;
    Kind kind = 3;

    enum Kind {
      KIND_UNSPECIFIED = 0;
      KIND_CORNER = 1;
    }
  }

  enum Color {
    COLOR_UNSPECIFIED = 0;
    COLOR_RED = 1;
    COLOR_GREEN = 2;
  }
}

// A helper after the first message; it contains itself, so its schema is cut off.
message Tree {
  // The node's label.
  string label = 1;
  repeated Tree children = 2;
}
"""

SHAPES_RESULT = """\
// Result of shapes.
syntax = "proto3";

package schema_parity;

message ShapesResult {
  // How many tags the args had.
  uint32 tag_count = 1;
  // The args' payload, back.
  bytes echo = 2;
  repeated Total totals = 3;
  map<string, Total> by_name = 4;
  optional bool complete = 5;
  float mean = 6;

  message Total {
    string name = 1;
    // Signed, 64 bits.
    sint64 value = 2;
  }
}
"""

EVENTS_ARGS = """\
// Arguments of events.
syntax = "proto3";

package schema_parity;

message EventsArgs {
  // How many events to stream.
  uint32 count = 1;
  // Events before this time (Unix seconds) are left out.
  int64 since = 2;
  // A message without fields.
  Nothing nothing = 3;

  message Nothing {}
}
"""

EVENTS_RESULT = """\
// A chunk of events: one event; the last chunk also has every event.
syntax = "proto3";

package schema_parity;

message EventsResult {
  message Event {
    // Unix seconds.
    int64 at = 1;
    Level level = 2;
    string text = 3;
  }

  enum Level {
    LEVEL_UNSPECIFIED = 0;
    LEVEL_INFO = 1;
    LEVEL_WARN = 2;
  }

  // The event this chunk brings.
  Event event = 1;
  // Every event: set on the last chunk only.
  repeated Event events = 2;
  fixed64 sequence = 3;
}
"""

TALLY_ARGS = """\
syntax = "proto3";

package schema_parity;

message TallyArgs {
  // Put in front of the total.
  string label = 1;
}
"""

TALLY_FEED = """\
// One piece of a tally, fed while the job runs.
syntax = "proto3";

package schema_parity;

message TallyFeed {
  // Words to count.
  string text = 1;
  // Weights of the words, in order; a missing weight is 1.
  repeated uint64 weights = 2;
  optional Kind kind = 3;
  bytes raw = 4;

  enum Kind {
    KIND_UNSPECIFIED = 0;
    KIND_LAST = 1;
  }
}
"""

TALLY_RESULT = """\
syntax = "proto3";

package schema_parity;

message TallyResult {
  // The weighted words so far.
  uint64 total = 1;
  string label = 2;
}
"""

PROTOS = {
    "settings.proto": SETTINGS_PROTO,
    "tally_args.proto": TALLY_ARGS,
    "tally_feed.proto": TALLY_FEED,
    "tally_result.proto": TALLY_RESULT,
    "shapes_args.proto": SHAPES_ARGS,
    "shapes_result.proto": SHAPES_RESULT,
    "events_args.proto": EVENTS_ARGS,
    "events_result.proto": EVENTS_RESULT,
}

PYTHON_RUNNER = '''\
"""The SchemaParity runner: a method that answers, one that streams and one that is fed."""

from __future__ import annotations

from collections.abc import Iterator

from .framework.runtime.base import PluginRunner
from .framework.runtime.contract import StreamingOutputType
from .framework.runtime.methods import FeedMethod, Method, MethodTable, decode
from .protos.events_args_pb2 import EventsArgs
from .protos.events_result_pb2 import EventsResult
from .protos.settings_pb2 import SchemaParitySettings as Settings
from .protos.shapes_args_pb2 import ShapesArgs
from .protos.shapes_result_pb2 import ShapesResult
from .protos.tally_args_pb2 import TallyArgs
from .protos.tally_feed_pb2 import TallyFeed
from .protos.tally_result_pb2 import TallyResult


class SchemaParityRunner(PluginRunner):
    def __init__(self) -> None:
        super().__init__(METHODS)
        self.settings = Settings()

    def load(self, settings: bytes) -> None:
        self.settings = decode(Settings, settings, "settings")


def shapes(runner: SchemaParityRunner, args: ShapesArgs) -> ShapesResult:
    return ShapesResult(tag_count=len(args.tags), echo=args.payload)


def events(runner: SchemaParityRunner, args: EventsArgs) -> Iterator[EventsResult]:
    every = [EventsResult.Event(at=args.since + n, text=f"event {n}") for n in range(args.count)]
    for event in every[:-1]:
        yield EventsResult(event=event)
    yield EventsResult(event=every[-1] if every else None, events=every)


def last(chunks: list[EventsResult]) -> EventsResult:
    return chunks[-1] if chunks else EventsResult()


def tally(
    runner: SchemaParityRunner, args: TallyArgs, pieces: Iterator[TallyFeed]
) -> Iterator[TallyResult]:
    total = 0
    for piece in pieces:
        words = piece.text.split()
        total += sum(list(piece.weights[: len(words)]) + [1] * (len(words) - len(piece.weights)))
        yield TallyResult(total=total)
    yield TallyResult(total=total, label=args.label)


def last_tally(chunks: list[TallyResult]) -> TallyResult:
    return chunks[-1] if chunks else TallyResult()


METHODS = MethodTable(
    "SchemaParity",
    "Shapes and events.",
    Settings,
    [
        Method(
            "shapes",
            ShapesArgs,
            ShapesResult,
            StreamingOutputType.NON_STREAMING,
            "shapes: counts the tags and echoes the payload.",
            answer=shapes,
        ),
        Method(
            "events",
            EventsArgs,
            EventsResult,
            StreamingOutputType.STREAMING,
            "events: streams count events, then all of them.",
            stream=events,
            collect=last,
        ),
        FeedMethod(
            "tally",
            TallyArgs,
            TallyResult,
            StreamingOutputType.STREAMING,
            "tally: sums the weighted words fed to it.",
            feed_message=TallyFeed,
            feed=tally,
            collect=last_tally,
        ),
    ],
)
'''

RUST_RUNNER = """\
//! The SchemaParity runner: a method that answers, one that streams and one that is fed.

use crate::framework::{Chunks, Feed, Method, MethodTable, Runner};
use crate::protos::events_result::Event;
use crate::protos::{EventsArgs, EventsResult, SchemaParitySettings, ShapesArgs, ShapesResult};
use crate::protos::{TallyArgs, TallyFeed, TallyResult};
use std::sync::Arc;

pub struct SchemaParityRunner;

impl Runner for SchemaParityRunner {
    type Settings = SchemaParitySettings;

    fn load(_settings: SchemaParitySettings) -> Result<Self, String> {
        Ok(Self)
    }

    fn methods() -> MethodTable<Self> {
        MethodTable::new("SchemaParity", "Shapes and events.")
            .method(
                Method::<Self, ShapesArgs, ShapesResult>::new(
                    "shapes",
                    "shapes: counts the tags and echoes the payload.",
                )
                .answer(shapes),
            )
            .method(
                Method::<Self, EventsArgs, EventsResult>::new(
                    "events",
                    "events: streams count events, then all of them.",
                )
                .stream(events),
            )
            .method(
                Method::<Self, TallyArgs, TallyResult>::new(
                    "tally",
                    "tally: sums the weighted words fed to it.",
                )
                .feed(tally),
            )
    }
}

async fn tally(
    _runner: Arc<SchemaParityRunner>,
    args: TallyArgs,
    mut feed: Feed<TallyFeed>,
    chunks: Chunks<TallyResult>,
) -> Result<(), String> {
    let mut total = 0;
    while let Some(piece) = feed.next().await? {
        let weights = piece.weights.iter().copied().chain(std::iter::repeat(1));
        total += weights.take(piece.text.split_whitespace().count()).sum::<u64>();
        chunks.send(TallyResult { total, ..Default::default() }).await?;
    }
    chunks.send(TallyResult { total, label: args.label }).await
}

async fn shapes(_runner: Arc<SchemaParityRunner>, args: ShapesArgs) -> Result<ShapesResult, String> {
    let tag_count = args.tags.len() as u32;
    Ok(ShapesResult { tag_count, echo: args.payload, ..Default::default() })
}

async fn events(
    _runner: Arc<SchemaParityRunner>,
    args: EventsArgs,
    chunks: Chunks<EventsResult>,
) -> Result<(), String> {
    let every: Vec<Event> = (0..args.count)
        .map(|n| Event { at: args.since + i64::from(n), text: format!("event {n}"), ..Default::default() })
        .collect();
    if let Some((last, first)) = every.split_last() {
        for event in first {
            chunks.send(EventsResult { event: Some(event.clone()), ..Default::default() }).await?;
        }
        let last = Some(last.clone());
        return chunks.send(EventsResult { event: last, events: every, ..Default::default() }).await;
    }
    chunks.send(EventsResult::default()).await
}
"""

# Args as protobuf's JSON mapping writes them (json_format, field names kept): every field set.
SAMPLES = """\
import json
from google.protobuf import json_format
from schema_parity.protos.events_args_pb2 import EventsArgs
from schema_parity.protos.shapes_args_pb2 import ShapesArgs
from schema_parity.protos.shapes_result_pb2 import ShapesResult
from schema_parity.protos.events_result_pb2 import EventsResult
from schema_parity.protos.tally_feed_pb2 import TallyFeed

Point, Color = ShapesArgs.Point, ShapesArgs.Color
corner = Point(x=1.5, y=-2, kind=Point.KIND_CORNER)
shapes = ShapesArgs(
    origin=corner, tags=["a", "b"], path=[corner, Point()], color=Color.COLOR_RED,
    totals={"x": -(2**63)}, points_by_id={7: corner}, target_point=corner, limit=0,
    payload=b"\\x00\\xffbytes", i64=-(2**63), u64=2**64 - 1, u32=2**32 - 1, f32=5,
    f64=2**64 - 1, sf32=-5, sf64=-(2**63), s32=-7, s64=-(2**62), i32=-(2**31), ratio=0.25,
    scale=1e10, enabled=True, palette=[Color.COLOR_GREEN, Color.COLOR_RED], blobs=[b"x", b""],
    accent=Color.COLOR_UNSPECIFIED, stamps=[1, -1], colors_by_name={"r": Color.COLOR_RED},
    blobs_by_id={2**64 - 1: b"\\x7f"}, kinds=[Point.KIND_CORNER],
)
shapes.tree.label = "root"
shapes.tree.children.add(label="leaf").children.add(label="deeper")
result = ShapesResult(
    tag_count=2, echo=b"\\x01", totals=[ShapesResult.Total(name="n", value=-3)],
    by_name={"n": ShapesResult.Total(value=2**40)}, complete=False, mean=0.5,
)
event = EventsResult.Event(at=-1, level=EventsResult.LEVEL_WARN, text="t")
chunk = EventsResult(event=event, events=[event], sequence=2**64 - 1)
docs = {
    "shapes args": shapes, "shapes result": result,
    "events args": EventsArgs(count=3, since=-(2**40)), "events result": chunk,
    "tally client_stream_data": TallyFeed(
        text="a b", weights=[2**64 - 1, 0], kind=TallyFeed.KIND_LAST, raw=b"\\x00"
    ),
}
print(json.dumps({
    key: json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for key, message in docs.items()
}))
"""

# Documents protobuf's JSON mapping does not write for these messages, and why each is wrong.
WRONG = {
    "shapes args": [
        ({"color": "COLOR_BLUE"}, "an enum value the enum does not declare"),
        ({"color": 1}, "an enum as its number (the mapping writes names)"),
        ({"u64": "-1"}, "a negative unsigned 64-bit integer"),
        ({"i64": "12x"}, "a 64-bit integer that is not a decimal"),
        ({"u32": -1}, "a negative unsigned 32-bit integer"),
        ({"i32": 1.5}, "a 32-bit integer with a fraction"),
        ({"payload": 5}, "bytes that are not a base64 string"),
        ({"tags": "a"}, "a repeated field that is not an array"),
        ({"totals": [{"key": "x", "value": "1"}]}, "a map written as its entries"),
        ({"origin": {"x": 1, "z": 2}}, "a nested message with a field it does not declare"),
        ({"enabled": "true"}, "a bool as a string"),
        ({"ratio": "0.5"}, "a double as a string"),
        ({"unknown": 1}, "a field the message does not declare"),
        ({"colors_by_name": {"r": "RED"}}, "a map value that is not an enum name"),
        ({"kinds": ["KIND_EDGE"]}, "a nested enum value not declared"),
        ({"tree": {"children": [{"label": 1}]}}, "a nested message's field of the wrong type"),
    ],
    "tally client_stream_data": [
        ({"weights": [-1]}, "a negative unsigned 64-bit integer"),
        ({"kind": "KIND_FIRST"}, "an enum value the enum does not declare"),
    ],
    "events result": [
        ({"events": [{"level": "LEVEL_DEBUG"}]}, "a nested enum value not declared"),
        ({"sequence": 5}, "a fixed64 as a JSON number (the mapping writes strings)"),
    ],
}

KEYS = ("args_schema", "result_schema", "client_stream_data_schema")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Each flavor's published schemas for the same protos: ``{"python": ..., "rust": ...}``."""
    root = tmp_path_factory.mktemp("schema-parity")
    with pytest.MonkeyPatch.context() as patch:
        # The sample's checks would run the sample; the protos are compiled below instead.
        patch.setenv(SKIP_VARIABLE, "1")
        python = render(root / "python", plugin_name=PLUGIN_NAME)
    for sample in (python / "src" / PACKAGE / "protos").glob("run_*.proto"):
        sample.unlink()
    for name, text in PROTOS.items():
        write(python / "src" / PACKAGE / "protos" / name, text)
    write(python / "src" / PACKAGE / "runner.py", PYTHON_RUNNER)
    compile_protos(python, PACKAGE)

    crate = render_crate(root / "rust", plugin_name=PLUGIN_NAME)
    assert crate.package == PACKAGE
    for sample in (crate.project / "protos").glob("run_*.proto"):
        sample.unlink()
    for name, text in PROTOS.items():
        write(crate.project / "protos" / name, text)
    write(crate.project / "src" / "runner.rs", RUST_RUNNER)
    # The sample's own tests use the sample's messages; the printer is the only test here.
    for sample_tests in ("plugin.rs", "soak.rs"):
        (crate.project / "tests" / sample_tests).unlink()
    yield {
        "python": python_schemas(python, PACKAGE),
        "rust": rust_schemas(crate),
        "samples": json.loads(
            run(
                [sys.executable, "-c", SAMPLES],
                cwd=python,
                env={**os.environ, "PYTHONPATH": str(python / "src")},
            ).stdout
        ),
    }
    shutil.rmtree(root, ignore_errors=True)


def _parsed(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _schemas(published: dict[str, dict[str, Any]], flavor: str) -> dict[str, Any]:
    """``"settings"`` and ``"<method> <role>"`` → the parsed schema (None when not given)."""
    given = published[flavor]
    found = {"settings": _parsed(given["settings_schema"])}
    for method, texts in given["json_schemas"].items():
        for key in KEYS:
            found[f"{method} {key.removesuffix('_schema')}"] = _parsed(texts[key])
    return found


def test_both_flavors_publish_the_same_json_schemas(
    published: dict[str, dict[str, Any]],
) -> None:
    python, rust = _schemas(published, "python"), _schemas(published, "rust")
    assert set(python) == set(rust)
    assert {key.split()[0] for key in python} == {"settings", "shapes", "events", "tally"}
    for key in sorted(python):
        # Compared as text: the key order is part of the shape (and of what a model reads).
        assert json.dumps(rust[key], indent=1) == json.dumps(python[key], indent=1), key
    # Neither flavor gives a feed schema to a method without a feed; the feed method has one.
    assert python["shapes client_stream_data"] is None
    assert python["events client_stream_data"] is None
    feed = python["tally client_stream_data"]
    assert feed["properties"]["weights"]["items"]["format"] == "uint64", feed


def test_the_schemas_follow_protobufs_json_mapping(published: dict[str, dict[str, Any]]) -> None:
    """Spot checks of the mapping on the schema both flavors give (they are the same)."""
    args = _schemas(published, "rust")["shapes args"]["properties"]
    assert args["i64"] == {"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"}
    assert args["f64"] == {
        "type": "string",
        "pattern": "^[0-9]+$",
        "format": "uint64",
        "minimum": 0,
    }
    assert args["payload"] == {"type": "string", "contentEncoding": "base64"}
    assert args["color"] == {
        "type": "string",
        "enum": ["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_GREEN"],
    }
    assert args["totals"]["type"] == "object"
    assert args["totals"]["additionalProperties"]["format"] == "int64"
    # A oneof's members and a proto3 optional field are plain properties, as the mapping has them.
    assert args["target_name"]["description"] == "The target by name."
    assert args["target_point"]["type"] == "object"
    assert args["limit"] == {
        "type": "integer",
        "minimum": 0,
        "description": "At most this many; unset means no limit.",
    }
    assert "description" not in args["color"] and "description" not in args["payload"]
    assert "description" not in args["tree"], "a detached comment describes nothing"
    assert args["ratio"]["description"] == 'Größe in µm, "quoted" and \\ back-slashed.'
    assert args["path"]["description"] == "The corners, in drawing order."
    assert args["stamps"]["description"] == "A first line left empty, and a gap inside."
    # protoc's leading comment, the Rust flavor's source: the last comment above the field
    # ("//" lines are one, a block is one on its own), without its opening "//" or "/*" only.
    assert args["i32"]["description"] == "only the block is."
    assert args["enabled"]["description"] == "only the lines are, both of them."
    assert args["blobs"]["description"] == "* Javadoc style."
    assert args["accent"]["description"] == "/ Triple slashes."


def test_protobufs_json_of_the_messages_validates_against_both(
    published: dict[str, dict[str, Any]],
) -> None:
    """Real validation: what protobuf writes passes, what it never writes is refused."""
    samples = published["samples"]
    for flavor in ("python", "rust"):
        schemas = _schemas(published, flavor)
        for key, document in samples.items():
            schema = schemas[key]
            Draft202012Validator.check_schema(schema)
            errors = [error.message for error in Draft202012Validator(schema).iter_errors(document)]
            assert errors == [], (flavor, key, document)
        for key, wrongs in WRONG.items():
            validator = Draft202012Validator(schemas[key])
            for document, why in wrongs:
                assert not validator.is_valid(document), (flavor, key, why, document)
