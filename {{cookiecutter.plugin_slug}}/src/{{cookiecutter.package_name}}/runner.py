{%- set methods = cookiecutter.methods | method_names -%}
{%- set default = methods | sample_method -%}
{%- set mode = cookiecutter.streaming_mode -%}
{%- set runs = mode != 'streaming' -%}
{%- set streams = mode != 'non_streaming' -%}
{%- set feeds = cookiecutter.get('feed_methods', '') | method_names | select | list -%}
{%- set plain = methods | reject('in', feeds) | list -%}
{%- set words_used = streams and (methods | sample_method) in plain -%}
{%- set output_type = {'both': 'BOTH', 'non_streaming': 'NON_STREAMING', 'streaming': 'STREAMING'}[mode] -%}
"""The {{ cookiecutter.runner_name }} runner: the file you edit.

It holds three things: the settings handling in ``load()``, the method table ``METHODS`` and
the functions that do each method's work. The framework (``PluginRunner``) implements the rest
of JobWorkerP's contract, decodes each job's args before calling a function and encodes what it
returns; mypy checks every function against its row's messages.

To add a method: write ``protos/<method>_args.proto`` and ``protos/<method>_result.proto``, add
one ``Method(...)`` row to ``METHODS`` and write the functions the row names, then reinstall to
compile the protos (``pip install -e '.[dev]'``). A method that takes a feed (data a client
sends while the job runs) also has ``protos/<method>_feed.proto`` and a ``FeedMethod(...)`` row.

The constructor runs for every schema read and every job, so it must stay cheap and must not
fail; heavy set-up such as models or connections goes in ``load()``.
"""

from __future__ import annotations

{% if streams -%}
{% if words_used -%}
import re
{% endif -%}
from collections.abc import Iterator

{% endif -%}
from .framework.runtime.base import PluginRunner
from .framework.runtime.contract import StreamingOutputType
from .framework.runtime.methods import {% if feeds %}FeedMethod, {% endif %}{% if plain %}Method, {% endif %}MethodTable, decode
{%- set imports = {'settings_pb2': cookiecutter.runner_name ~ 'Settings as Settings'} %}
{%- for m in methods %}
{%- set _ = imports.update({m ~ '_args_pb2': (m | pascal) ~ 'Args', m ~ '_result_pb2': (m | pascal) ~ 'Result'}) %}
{%- endfor %}
{%- for m in feeds %}
{%- set _ = imports.update({m ~ '_feed_pb2': (m | pascal) ~ 'Feed'}) %}
{%- endfor %}
{%- for module in imports | natural_sort %}
from .protos.{{ module }} import {{ imports[module] }}
{%- endfor %}


class {{ cookiecutter.runner_name }}Runner(PluginRunner):
    """One plugin instance; the functions below get it as their first argument."""

    def __init__(self) -> None:
        super().__init__(METHODS)
        self.settings = Settings()

    def load(self, settings: bytes) -> None:
        """Set the instance up with the worker's settings; empty bytes mean all defaults."""
        self.settings = decode(Settings, settings, "settings")


# The work: replace it with yours. -----------------------------------------------------


def greeting(settings: Settings, name: str) -> str:
    """The sample answer, built from the settings and the args."""
    return f"{settings.greeting or 'Hello'}, {name or 'world'}!"
{%- if words_used %}


def words(text: str) -> list[str]:
    """``text`` cut into words that keep their trailing blanks, so that joining them restores it."""
    return re.findall(r"\S+\s*", text) or [text]
{%- endif %}
{%- for m in methods %}
{%- set P = m | pascal %}
{%- if m in feeds %}


def feed_{{ m }}(
    runner: {{ cookiecutter.runner_name }}Runner,
    args: {{ P }}Args,
    messages: Iterator[{{ P }}Feed],
) -> Iterator[{{ P }}Result]:
    """``{{ m }}`` counts the words of the text fed to it, as it arrives.

    One chunk per feed message, its ``delta`` the running count; at the end of input a last
    chunk whose ``message`` is the whole result, because JobWorkerP keeps the last chunk.
    """
    total = 0
    for fed in messages:
        total += len(fed.text.split())
        yield {{ P }}Result(delta=f"{total} words")
    whole = f"{greeting(runner.settings, args.name)} {total} words."
    yield {{ P }}Result(message=whole)


def collect_{{ m }}(
    chunks: list[{{ P }}Result],
) -> {{ P }}Result:
    """A feed's chunks merged: the last one is the whole result."""
    return chunks[-1] if chunks else {{ P }}Result()
{%- else %}
{%- if runs %}


def answer_{{ m }}(
    runner: {{ cookiecutter.runner_name }}Runner,
    args: {{ P }}Args,
) -> {{ P }}Result:
{%- if m == default %}
    """The whole answer of ``{{ m }}`` at once."""
    return {{ P }}Result(message=greeting(runner.settings, args.name))
{%- else %}
    """A placeholder answer of ``{{ m }}``: it echoes the name. Replace it with the real work."""
    return {{ P }}Result(message=args.name)
{%- endif %}
{%- endif %}
{%- if streams %}


def stream_{{ m }}(
    runner: {{ cookiecutter.runner_name }}Runner,
    args: {{ P }}Args,
) -> Iterator[{{ P }}Result]:
{%- if m == default %}
    """The answer of ``{{ m }}`` word by word.

    Each chunk carries its word in ``delta``; the last one also carries the whole ``message``,
    because JobWorkerP's LLM tool path keeps only the last chunk of a stream.
    """
    pieces = words(greeting(runner.settings, args.name))
    for piece in pieces[:-1]:
        yield {{ P }}Result(delta=piece)
    yield {{ P }}Result(delta=pieces[-1], message="".join(pieces))
{%- else %}
    """A placeholder stream of ``{{ m }}``: one chunk that echoes the name. Replace it."""
    yield {{ P }}Result(delta=args.name, message=args.name)
{%- endif %}


def collect_{{ m }}(
    chunks: list[{{ P }}Result],
) -> {{ P }}Result:
    """A stream of ``{{ m }}`` merged back into {% if runs %}what ``answer_{{ m }}`` returns{% else %}one complete result{% endif %}."""
    return {{ P }}Result(message="".join(chunk.delta for chunk in chunks))
{%- endif %}
{%- endif %}
{%- endfor %}


METHODS = MethodTable(
    "{{ cookiecutter.runner_name }}",
    "{{ cookiecutter.description | python_text }}",
    Settings,
    [
{%- for m in methods %}
{%- set P = m | pascal %}
{%- if m in feeds %}
        FeedMethod(
            "{{ m }}",
            {{ P }}Args,
            {{ P }}Result,
            StreamingOutputType.STREAMING,
            "{{ m }}: counts the words of the text fed to it, a running count per message.",
            feed_message={{ P }}Feed,
            feed=feed_{{ m }},
            collect=collect_{{ m }},
        ),
{%- else %}
        Method(
            "{{ m }}",
            {{ P }}Args,
            {{ P }}Result,
            StreamingOutputType.{{ output_type }},
{%- if m == default %}
            # The description reaches users and LLM tool selection: say what `{{ m }}` does.
            "{{ m }}: greets the given name{% if streams %}, word by word when streamed{% endif %}.",
{%- else %}
            "{{ m }}: a placeholder that echoes the name; replace it and this description.",
{%- endif %}
{%- if runs %}
            answer=answer_{{ m }},
{%- endif %}
{%- if streams %}
            stream=stream_{{ m }},
            collect=collect_{{ m }},
{%- endif %}
        ),
{%- endif %}
{%- endfor %}
    ],
)
