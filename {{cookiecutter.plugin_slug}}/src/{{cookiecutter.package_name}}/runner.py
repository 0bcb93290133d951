{%- macro pascal(name) %}{{ name | replace('_', ' ') | title | replace(' ', '') }}{% endmacro -%}
{%- set methods = cookiecutter.methods.split(',') | map('trim') | list -%}
{%- set mode = cookiecutter.streaming_mode -%}
{%- set runs = mode != 'streaming' -%}
{%- set streams = mode != 'non_streaming' -%}
{%- set output_type = {'both': 'BOTH', 'non_streaming': 'NON_STREAMING', 'streaming': 'STREAMING'}[mode] -%}
"""The {{ cookiecutter.runner_name }} runner: the file you edit.

JobWorkerP drives this class through its V1 ``MultiMethodPluginRunner`` contract, and the
methods below carry the contract's names. What to change:

* the sample work at the bottom of the file{% if runs %} (``answer_*``{% if streams %}, ``stream_*``, ``collect_*``{% endif %}){% else %} (``stream_*``, ``collect_*``){% endif %};
* ``load()``, for heavy set-up such as models or connections: the constructor runs for every
  schema read and every job, so it must stay cheap and must not fail;
* the ``.proto`` files in ``protos/`` (then rebuild: ``pip install -e .``).

To add a method: add ``protos/<method>_args.proto`` and ``protos/<method>_result.proto``, a row
in ``METHODS`` and a branch wherever the methods are listed below.
"""

from __future__ import annotations

{% if streams -%}
import re
{% endif -%}
from collections.abc import Iterable, Iterator

from google.protobuf.message import Message

from .framework.runtime.contract import MethodJsonSchema, MethodSchema, PluginError, StreamingOutputType
from .framework.runtime.methods import Method, MethodTable, decode
{%- set imports = {'settings_pb2': cookiecutter.runner_name ~ 'Settings as Settings'} %}
{%- for m in methods %}
{%- set _ = imports.update({m ~ '_args_pb2': pascal(m) ~ 'Args', m ~ '_result_pb2': pascal(m) ~ 'Result'}) %}
{%- endfor %}
{%- for module in imports | natural_sort %}
from .protos.{{ module }} import {{ imports[module] }}
{%- endfor %}

RUNNER_NAME = "{{ cookiecutter.runner_name }}"
DESCRIPTION = "{{ cookiecutter.description | python_text }}"

METHODS = MethodTable(
    "{{ cookiecutter.package_name }}",
    Settings,
    [
{%- for m in methods %}
        Method(
            "{{ m }}",
            {{ pascal(m) }}Args,
            {{ pascal(m) }}Result,
            StreamingOutputType.{{ output_type }},
            # The description reaches users and LLM tool selection: say what `{{ m }}` does.
            "{{ m }}: greets the given name{% if streams %}, word by word when streamed{% endif %}.",
        ),
{%- endfor %}
    ],
)

# The args the conformance checks (tests/test_conformance.py) send each method, encoded; a
# method not listed gets empty bytes. Add an entry when a method refuses empty args.
SAMPLE_ARGS: dict[str, bytes] = {}


class {{ cookiecutter.runner_name }}Runner:
    """One plugin instance. With ``use_static`` JobWorkerP keeps it for many jobs."""

    def __init__(self) -> None:
        # Cheap and infallible: the host builds instances far more often than it runs jobs.
        self._settings = Settings()
        # A plain flag: cancel() may come from another thread, and setting or reading one
        # attribute is atomic in Python, so no lock is needed on the per-job path.
        self._canceled = False
        self._chunks: Iterator[bytes] | None = None

    # Identity and schemas: asked of fresh instances, before any load(). ---------------

    def name(self) -> str:
        return RUNNER_NAME

    def description(self) -> str:
        return DESCRIPTION

    def runner_settings_proto(self) -> str:
        return METHODS.settings_proto

    def method_proto_map(self) -> dict[str, MethodSchema]:
        return METHODS.proto_map

    def method_json_schema_map(self) -> dict[str, MethodJsonSchema] | None:
        return METHODS.json_schema_map

    def settings_schema(self) -> str:
        return METHODS.settings_schema

    # Lifecycle and jobs ----------------------------------------------------------------

    def load(self, settings: bytes) -> None:
        """Set the instance up with the worker's settings; empty bytes mean all defaults."""
        self._settings = decode(Settings, settings, "settings")

    def run(
        self, args: bytes, metadata: dict[str, str], using: str | None
    ) -> tuple[bytes, dict[str, str]]:
        """Answer one job at once: the encoded result and the metadata to return with it."""
        self._start_job()
        method = METHODS.resolve(using).name
{%- if runs %}
        result: Message
{%- for m in methods %}
        {% if not loop.first %}el{% endif %}if method == "{{ m }}":
            result = answer_{{ m }}(self._settings, args)
{%- endfor %}
        else:
            raise PluginError(f"no run() branch for method '{method}'")
        return result.SerializeToString(), metadata
{%- else %}
        raise PluginError(f"method '{method}' only streams: send it a streaming request")
{%- endif %}

    def begin_stream(self, args: bytes, metadata: dict[str, str], using: str | None) -> None:
        """Start a streaming job; ``receive_stream()`` then hands out the chunks."""
        self._start_job()
        method = METHODS.resolve(using).name
{%- if streams %}
        chunks: Iterator[Message]
{%- for m in methods %}
        {% if not loop.first %}el{% endif %}if method == "{{ m }}":
            chunks = stream_{{ m }}(self._settings, args)
{%- endfor %}
        else:
            raise PluginError(f"no begin_stream() branch for method '{method}'")
        self._chunks = (chunk.SerializeToString() for chunk in chunks)
{%- else %}
        raise PluginError(f"method '{method}' does not stream: send it a non-streaming request")
{%- endif %}

    def receive_stream(self) -> bytes | None:
        """The next chunk, or ``None`` once the stream is over or the job was cancelled."""
        if self._chunks is None or self._canceled:
            return None
        return next(self._chunks, None)

    def cancel(self) -> bool:
        """Ask the running job to stop.

        JobWorkerP also calls this on an idle pooled instance before handing it the next job,
        which is why ``run()`` and ``begin_stream()`` clear the flag first.
        """
        self._canceled = True
        return True

    def is_canceled(self) -> bool:
        return self._canceled

    def collect_stream(
        self, chunks: Iterable[bytes], using: str | None
    ) -> tuple[bytes, dict[str, str]]:
        """Merge a finished stream into one result (JobWorkerP's workflow path).

        It runs on a fresh instance that never saw ``load()``, so it may use the chunks only.
        """
        method = METHODS.resolve(using).name
{%- if streams %}
{%- for m in methods %}
        {% if not loop.first %}el{% endif %}if method == "{{ m }}":
            return collect_{{ m }}(chunks).SerializeToString(), {}
{%- endfor %}
        raise PluginError(f"no collect_stream() branch for method '{method}'")
{%- else %}
        raise PluginError(f"method '{method}' does not stream, so there is nothing to collect")
{%- endif %}

    # Client streaming (data fed into a running job) is not supported by this runner. ----

    def supports_client_stream(self, using: str | None) -> bool:
        return False

    def client_stream_data_proto(self, using: str | None) -> str | None:
        return None

    def setup_client_stream_channel(self, using: str | None) -> None:
        return None

    def _start_job(self) -> None:
        # Pooled instances are reused and cancel()ed between jobs: forget the last job first.
        self._canceled = False
        self._chunks = None


# The sample work: replace it with yours. ---------------------------------------------


def greeting(settings: Settings, name: str) -> str:
    """The sample answer, built from the settings and the args."""
    return f"{settings.greeting or 'Hello'}, {name or 'world'}!"
{%- if streams %}


def words(text: str) -> list[str]:
    """``text`` cut into words that keep their trailing blanks, so that joining them restores it."""
    return re.findall(r"\S+\s*", text) or [text]
{%- endif %}
{%- for m in methods %}
{%- if runs %}


def answer_{{ m }}(
    settings: Settings,
    args: bytes,
) -> {{ pascal(m) }}Result:
    """The whole answer of ``{{ m }}`` at once."""
    request = decode({{ pascal(m) }}Args, args, "args")
    return {{ pascal(m) }}Result(message=greeting(settings, request.name))
{%- endif %}
{%- if streams %}


def stream_{{ m }}(
    settings: Settings,
    args: bytes,
) -> Iterator[{{ pascal(m) }}Result]:
    """The answer of ``{{ m }}`` word by word.

    The args are decoded before the iterator is returned: an error then fails the job, while
    JobWorkerP only logs an error raised while the chunks are read. Each chunk carries its word
    in ``delta``; the last one also carries the whole ``message``, because JobWorkerP's LLM
    tool path keeps only the last chunk of a stream.
    """
    request = decode({{ pascal(m) }}Args, args, "args")
    pieces = words(greeting(settings, request.name))
    chunks = [{{ pascal(m) }}Result(delta=piece) for piece in pieces]
    chunks[-1].message = "".join(pieces)
    return iter(chunks)


def collect_{{ m }}(
    chunks: Iterable[bytes],
) -> {{ pascal(m) }}Result:
    """A stream of ``{{ m }}`` merged back into {% if runs %}what ``answer_{{ m }}`` returns{% else %}one complete result{% endif %}."""
    pieces = [decode({{ pascal(m) }}Result, chunk, "chunk").delta for chunk in chunks]
    return {{ pascal(m) }}Result(message="".join(pieces))
{%- endif %}
{%- endfor %}
