"""Per-method files: two proto files for every method in the answer, three for a feed method.

Cookiecutter makes one file per template file, and a method list can name any number of
methods, so these files come from here instead. The text is a pure function of the answers,
which keeps a re-render (``cruft update``, copier) byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jwp_generator.flavors import proto_folder
from jwp_generator.naming import (
    feed_message_name,
    feed_method_names,
    message_names,
    split_methods,
)

ARGS_PROTO = """\
// Arguments of the `{method}` method: a job's args, passed to run() or begin_stream().
//
// JobWorkerP compiles this text alone, so it must not import anything and its first
// message is the args type. Helper messages go inside it or after it.
syntax = "proto3";

package {package};

message {message} {{
  // Whom to greet; empty means "world".
  string name = 1;
}}
"""

RESULT_PROTO = """\
// Result of the `{method}` method{chunk_note}.
//
// JobWorkerP compiles this text alone, so it must not import anything and its first
// message is the result type. Helper messages go inside it or after it.
syntax = "proto3";

package {package};

message {message} {{
  // The whole answer.{last_note}
  string message = 1;{delta_field}
}}
"""

DELTA_FIELD = """
  // In a stream: the piece of the answer this chunk adds. Empty outside a stream.
  string delta = 2;"""


FEED_PROTO = """\
// Feed of the `{method}` method: the data a client sends to a running job.
//
// Clients send it with JobService.EnqueueWithClientStream: a job request, then one FeedData
// per message (its bytes are this message, encoded), the last one with is_final. JobWorkerP
// compiles this text alone, so it must not import anything and its first message is the
// feed type. Helper messages go inside it or after it.
syntax = "proto3";

package {package};

message {message} {{
  // A piece of text; the method counts its words as it arrives.
  string text = 1;
}}
"""


def method_files(answers: Mapping[str, str]) -> dict[str, str]:
    """File name (inside ``protos/``) -> text, for every method."""
    package = answers["package_name"]
    streams = answers["streaming_mode"] != "non_streaming"
    files: dict[str, str] = {}
    for method in split_methods(answers["methods"]):
        args_message, result_message = message_names(method)
        files[f"{method}_args.proto"] = ARGS_PROTO.format(
            method=method, package=package, message=args_message
        )
        files[f"{method}_result.proto"] = RESULT_PROTO.format(
            method=method,
            package=package,
            message=result_message,
            chunk_note=", and the type of each chunk of its stream" if streams else "",
            last_note=" In a stream only the last chunk carries it." if streams else "",
            delta_field=DELTA_FIELD if streams else "",
        )
    for method in feed_method_names(answers.get("feed_methods", "")):
        files[f"{method}_feed.proto"] = FEED_PROTO.format(
            method=method, package=package, message=feed_message_name(method)
        )
    return files


def write_method_files(project: Path, answers: Mapping[str, str]) -> list[Path]:
    """Write the per-method proto files that the project lacks; returns the paths written.

    A file that exists is the user's and is left alone: the step can run again on a project
    (copier runs its tasks after every update) without undoing the user's edits.
    """
    proto_dir = project / proto_folder(answers)
    written = []
    for name, text in method_files(answers).items():
        path = proto_dir / name
        if path.exists():
            continue
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written
