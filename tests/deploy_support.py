"""Shared by the deployment tests: one built plugin per streaming mode, and JobWorkerP's rules.

The plugin has two methods, ``run`` and ``summarize_text``. Its ``run`` args message gets every
kind of field (64-bit integer, repeated, map, nested and recursive message, enum, optional,
bytes), as a plugin author would add them, so that the JSON paths and the JSON Schemas meet
more than one string field. The sample runner reads only ``name``, so its answers stay the same.
Its ``load()`` prints to stdout when the greeting setting is "Noisy", which must not disturb
the adapters' output channels.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import CHOICES, build_wheel, render

METHODS = ("run", "summarize_text")
MODES: list[str] = CHOICES["streaming_mode"]
# The deployment and CLI tests run on "both" (run and stream paths) in the default lane, and on
# the other streaming modes in the full lane.
MODE_PARAMS = [
    mode if mode == "both" else pytest.param(mode, marks=pytest.mark.full) for mode in MODES
]
PACKAGE = "hello_world"
RICH_ARGS_FIELDS = """
  // Added by the template's deployment tests: one field of every kind.
  int64 count = 2;
  repeated string tags = 3;
  map<string, string> labels = 4;
  Options options = 5;
  Level level = 6;
  optional bool loud = 7;
  double weight = 8;
  bytes blob = 9;

  message Options {
    int32 depth = 1;
    repeated Options children = 2;
  }

  enum Level {
    LEVEL_UNSPECIFIED = 0;
    LEVEL_HIGH = 1;
  }
}
"""

# JobWorkerP's MCP tool-name rule: 1-64 characters, alphanumeric first, a few names reserved.
TOOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESERVED_TOOL_NAMES = {"all", "default", "none", "system"}
# JobWorkerP turns nested objects into nested messages up to this depth.
MAX_OBJECT_DEPTH = 10


@dataclass(frozen=True)
class Built:
    mode: str
    project: Path
    wheel: Path

    def result_json(self, message: str) -> dict[str, str]:
        """What every method answers, as JSON: a result without ``delta`` when nothing streams."""
        return (
            {"message": message}
            if self.mode == "non_streaming"
            else {"message": message, "delta": ""}
        )


_built: dict[str, Built] = {}


def built_plugin(mode: str, factory: pytest.TempPathFactory) -> Built:
    """The plugin rendered for ``mode``, with the rich args, built once per test session."""
    if mode not in _built:
        root = factory.mktemp(f"deploy-{mode}")
        project = render(root / "out", methods=",".join(METHODS), streaming_mode=mode)
        add_rich_args(project)
        add_noisy_load(project)
        greet_in_placeholders(project)
        _built[mode] = Built(mode, project, build_wheel(project, root / "dist"))
    return _built[mode]


def greet_in_placeholders(project: Path) -> None:
    """Every method greets like the sample (the render's other methods are placeholders that
    echo the name), so that each tool's answer shows the settings reached ``load()``."""
    runner = project / "src" / PACKAGE / "runner.py"
    text = runner.read_text("utf-8")
    greeted = text.replace(
        "Result(message=args.name)", "Result(message=greeting(runner.settings, args.name))"
    ).replace(
        "Result(delta=args.name, message=args.name)",
        "Result(\n        delta=greeting(runner.settings, args.name),\n"
        "        message=greeting(runner.settings, args.name),\n    )",
    )
    assert greeted != text, "runner.py's placeholders changed: update this test helper"
    runner.write_text(greeted, "utf-8")


def add_noisy_load(project: Path) -> None:
    """``load()`` prints to stdout when the greeting is "Noisy", as a careless plugin might."""
    runner = project / "src" / PACKAGE / "runner.py"
    anchor = '        self.settings = decode(Settings, settings, "settings")\n'
    text = runner.read_text("utf-8")
    assert text.count(anchor) == 1, "runner.py's load() changed: update this test helper"
    noise = (
        '        if self.settings.greeting == "Noisy":\n            print("noise from load()")\n'
    )
    runner.write_text(text.replace(anchor, anchor + noise), "utf-8")


def add_rich_args(project: Path) -> None:
    proto = project / "src" / PACKAGE / "protos" / "run_args.proto"
    text = proto.read_text("utf-8")
    head, closing, tail = text.rpartition("}")
    assert closing and not tail.strip(), "run_args.proto should end with its message"
    proto.write_text(head.rstrip() + "\n" + RICH_ARGS_FIELDS, "utf-8")


def dry_run(script: Path, **env: str) -> list[list[str]]:
    """The commands a deploy script would run, from its ``DRY_RUN=1`` output."""
    done = subprocess.run(
        ["bash", str(script)],
        env={"PATH": "/usr/bin:/bin", **env, "DRY_RUN": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def interpolate(text: str, env: dict[str, str]) -> str:
    """jobworkerp-client's manifest interpolation: ``%{VAR}`` and ``%{VAR:-default}``."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        if name in env:
            return env[name]
        assert default is not None, f"%{{{name}}} has no default"
        return default

    return re.sub(r"%\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", value, text)


def schema_problems(schema: Any, path: str = "$", depth: int = 0) -> list[str]:
    """What JobWorkerP's JSON-Schema-to-proto conversion would refuse or lose in ``schema``.

    Refused (the tool is skipped): ``anyOf``/``oneOf``/``allOf``, the ``null`` type, arrays
    without ``items``, objects nested deeper than 10. Lost: a ``type`` that is missing or not a
    single string (the field becomes a string). ``$ref`` is reported too: nothing resolves it.
    """
    if not isinstance(schema, dict):
        return [f"{path}: not an object"]
    problems = [
        f"{path}: uses {key}" for key in ("anyOf", "oneOf", "allOf", "$ref") if key in schema
    ]
    kind = schema.get("type")
    if not isinstance(kind, str):
        return [*problems, f"{path}: type {kind!r} is not a single type name"]
    if kind == "null":
        problems.append(f"{path}: null type")
    if kind == "array":
        if "items" not in schema:
            return [*problems, f"{path}: array without items"]
        problems += schema_problems(schema["items"], f"{path}[]", depth)
    if kind == "object" and schema.get("properties"):
        if depth + 1 > MAX_OBJECT_DEPTH:
            problems.append(f"{path}: objects nested deeper than {MAX_OBJECT_DEPTH}")
        for name, value in schema["properties"].items():
            problems += schema_problems(value, f"{path}.{name}", depth + 1)
    return problems


def tool_name_problems(name: str) -> list[str]:
    if not TOOL_NAME.fullmatch(name):
        return [f"tool name {name!r} breaks JobWorkerP's rule"]
    if name in RESERVED_TOOL_NAMES:
        return [f"tool name {name!r} is reserved"]
    return []


def greeting_bytes(text: str) -> bytes:
    """A result message with field 1 (``message``) = ``text``: what every method answers."""
    data = text.encode("utf-8")
    assert len(data) < 128
    return b"\x0a" + bytes([len(data)]) + data
