"""Answer jobs with the Python runner directly, for comparison with the bridge.

``expected.py PACKAGE`` reads ``{"settings", "jobs"}`` on stdin, settings in hex and jobs a list
of ``{"kind": "run"|"stream", "method", "args"}`` (args in hex); loads the runner with the
settings and prints, for each, ``{"result", "chunks", "error", "metadata"}`` the way the bridge
reports it: a ``PluginError`` by its message, any other exception as ``Type: message``.

``expected.py PACKAGE samples`` prints what the tests build their args and settings from, so
that they hold for any protos: ``{"default", "settings", "methods": {name: ...}}``, where the
settings and each method's args are ``{"sample", "text_path"}``. ``sample`` (hex) is the
method's sample args, every field filled (what the conformance suite sends; empty settings for
the settings); ``text_path`` is the field numbers down to the message's first singular string
field (through singular nested messages, depth first, in declaration order), or ``null`` when it
has none. Appending that field to the sample sets it: protobuf takes the last value of a field
and merges a nested message given twice.
"""

import importlib
import json
import sys
from importlib.metadata import entry_points
from typing import Any


def main(package: str) -> None:
    (point,) = [e for e in entry_points(group="jobworkerp.plugins") if e.module == package]
    factory = point.load()
    plugin_error = sys.modules[package].PluginError
    request = json.load(sys.stdin)
    runner = factory()
    runner.load(bytes.fromhex(request["settings"]))
    answers = []
    for job in request["jobs"]:
        args = bytes.fromhex(job["args"])
        chunks: list[str] = []
        answer: dict[str, object] = {"result": None, "chunks": chunks, "error": None}
        answer["metadata"] = {}
        try:
            if job["kind"] == "run":
                result, metadata = runner.run(args, {}, job["method"])
                answer["result"], answer["metadata"] = result.hex(), metadata
            else:
                runner.begin_stream(args, {}, job["method"])
                while (chunk := runner.receive_stream()) is not None:
                    chunks.append(chunk.hex())
        except plugin_error as error:
            answer["error"] = " ".join(str(error.message).split())
        except Exception as error:
            answer["error"] = " ".join(f"{type(error).__name__}: {error}".split())
        answers.append(answer)
    print(json.dumps(answers))


def text_path(descriptor: Any, depth: int = 0) -> list[int] | None:
    """Field numbers down to the first singular string field of ``descriptor``, or None."""
    for field in descriptor.fields:
        if field.is_repeated:
            continue
        if field.type == field.TYPE_STRING:
            return [field.number]
        if field.message_type is not None and depth < MAX_DEPTH:
            below = text_path(field.message_type, depth + 1)
            if below is not None:
                return [field.number, *below]
    return None


# As deep as the samples fill nested messages (a message that contains itself stops there).
MAX_DEPTH = 3


def samples(package: str) -> None:
    module = importlib.import_module(package)
    table = module.PLUGIN.table()
    filled = importlib.import_module(f"{package}.framework.devtools.samples").filled
    methods: dict[str, object] = {}
    for name in table.names:
        method = table.resolve(name)
        sample = method.sample if method.sample is not None else filled(method.args_type)
        methods[name] = {
            "sample": sample.SerializeToString().hex(),
            "text_path": text_path(method.args_type.DESCRIPTOR),
        }
    try:
        default = table.resolve(None).name
    except module.PluginError:  # no `run` and several methods: the tests use the first
        default = table.names[0]
    settings = {"sample": "", "text_path": text_path(table.settings_type.DESCRIPTOR)}
    print(json.dumps({"default": default, "settings": settings, "methods": methods}))


if __name__ == "__main__":
    if sys.argv[2:] == ["samples"]:
        samples(sys.argv[1])
    else:
        main(sys.argv[1])
