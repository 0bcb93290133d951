"""The JSON Schemas a generated plugin gives JobWorkerP: field comments and unsigned integers.

JobWorkerP's MCP and LLM paths show a method's args schema to a model; the leading comment of
each field in the ``.proto`` is what tells it what to put there. The schema of an edited args
message is compared whole, so the shape (and the order of its keys) is fixed here. The Python
flavor reads the comments from the proto text itself (its compiled messages keep no source
info), so its reader is compared with protoc's own ``leading_comments``, the Rust flavor's
source, on generated comment layouts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import TEMPLATE, compile_protos, render

ARGS_PROTO = """// Arguments of the `run` method.
syntax = "proto3";

package hello_world;

message RunArgs {
  // Whom to greet;
  //   empty means "world".
  string name = 1; // a trailing comment belongs to nothing
  uint32 times = 2;
  // Not this field's: a blank line follows.

  uint64 big = 3;
  /* A block comment,
   * on two lines. */
  repeated Part parts = 4;
  map<string, fixed32> counts = 5;
  int64 offset = 6;

  message Part {
    // The part's label // with slashes inside.
    string label = 1;
  }
}
"""

EXPECTED = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": 'Whom to greet; empty means "world".'},
        "times": {"type": "integer", "minimum": 0},
        "big": {"type": "string", "pattern": "^[0-9]+$", "format": "uint64", "minimum": 0},
        "parts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {
                        "type": "string",
                        "description": "The part's label // with slashes inside.",
                    }
                },
                "additionalProperties": False,
            },
            "description": "A block comment, on two lines.",
        },
        "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "offset": {"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"},
    },
    "additionalProperties": False,
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RunArgs",
}


def test_field_comments_and_unsigned_fields_shape_the_args_schema(tmp_path: Path) -> None:
    project = render(tmp_path)
    (project / "src" / "hello_world" / "protos" / "run_args.proto").write_text(ARGS_PROTO, "utf-8")
    compile_protos(project, "hello_world")
    described = subprocess.run(
        [sys.executable, "-m", "hello_world", "describe", "--json"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        check=True,
    )
    schema = json.loads(described.stdout)["methods"]["run"]["args_schema"]
    # Compared as text too: the key order is part of the shape.
    assert json.dumps(schema) == json.dumps(EXPECTED)


def _load_json_schema() -> ModuleType:
    """The framework's JSON Schema module, loaded by path (it needs only protobuf)."""
    path = next(TEMPLATE.glob("*/src/*/framework/runtime/json_schema.py"))
    spec = importlib.util.spec_from_file_location("_json_schema_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


JSON_SCHEMA = _load_json_schema()


def _protoc_comments(text: str, folder: Path) -> dict[str, str]:
    """Each field's leading comment as protoc records it, in the flavors' one-line form."""
    from google.protobuf.descriptor_pb2 import FileDescriptorSet
    from grpc_tools import protoc

    (folder / "fuzz.proto").write_text(text, "utf-8")
    out = folder / "fuzz.pb"
    arguments = ["protoc", f"-I{folder}", "--include_source_info", f"--descriptor_set_out={out}"]
    assert protoc.main([*arguments, str(folder / "fuzz.proto")]) == 0, text
    (file,) = FileDescriptorSet.FromString(out.read_bytes()).file
    (message,) = file.message_type
    found = {}
    for location in file.source_code_info.location:
        path = list(location.path)
        if len(path) == 4 and path[:3] == [4, 0, 2]:
            lines = (line.strip() for line in location.leading_comments.split("\n"))
            joined = " ".join(line for line in lines if line)
            if joined:
                found[f"fuzz.{message.name}.{message.field[path[3]].name}"] = joined
    return found


# Comment text: words, blanks and the characters that mark comments; protoc refuses "/*" inside
# a block comment, and "*/" would end it.
_WORDS = st.text(alphabet=" \tab/*\"'µ", max_size=12).filter(
    lambda text: "*/" not in text and "/*" not in text
)
_LINE = _WORDS.map(lambda words: f"//{words}")
_BLOCK = (
    st.lists(_WORDS, min_size=1, max_size=3)
    .filter(lambda lines: not lines[-1].endswith("/"))
    .map(lambda lines: "/*" + "\n".join(lines) + "*/")
)
# What goes above a field: comment lines and blank lines; then a block before the field on its
# line, or not; after the field, on its line, a trailing comment or not.
_GAP = st.lists(st.one_of(_LINE, _BLOCK, st.just("")), max_size=5)
_BEFORE = st.one_of(st.just(""), _BLOCK.map(lambda block: f"{block} "))
_AFTER = st.one_of(st.just(""), _LINE, _BLOCK)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.lists(st.tuples(_GAP, _BEFORE, _AFTER), min_size=1, max_size=4))
def test_field_comments_are_protocs_leading_comments(
    fields: list[tuple[list[str], str, str]],
) -> None:
    lines = ['syntax = "proto3";', "package fuzz;", "message Fuzz {"]
    for index, (gap, before, after) in enumerate(fields):
        lines.extend(gap)
        lines.append(f"{before}string f{index} = {index + 1}; {after}".rstrip())
    lines.append("}")
    text = "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        expected = _protoc_comments(text, Path(folder))
    assert JSON_SCHEMA.field_comments(text) == expected, text
