"""The JSON Schemas a generated plugin gives JobWorkerP: field comments and unsigned integers.

JobWorkerP's MCP and LLM paths show a method's args schema to a model; the leading comment of
each field in the ``.proto`` is what tells it what to put there. The schema of an edited args
message is compared whole, so the shape (and the order of its keys) is fixed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import compile_protos, render

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
