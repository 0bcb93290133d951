"""Answer jobs with the Python runner directly, for comparison with the bridge.

Reads ``{"settings", "jobs"}`` on stdin, settings in hex and jobs a list of
``{"kind": "run"|"stream", "method", "args"}`` (args in hex); loads the runner with the settings
and prints, for each, ``{"result", "chunks", "error", "metadata"}`` the way the bridge
reports it: a ``PluginError`` by its message, any other exception as ``Type: message``.
"""

import json
import sys
from importlib.metadata import entry_points


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


if __name__ == "__main__":
    main(sys.argv[1])
