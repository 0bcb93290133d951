{%- set methods = cookiecutter.methods | method_names -%}
{%- set default = 'run' if 'run' in methods else methods[0] -%}
{%- set mode = cookiecutter.streaming_mode -%}
"""Tests of the work in runner.py, one set per method: change them along with it."""

from __future__ import annotations

from {{ cookiecutter.package_name }} import MultiMethodPluginRunner, load_multi_method_plugin
from {{ cookiecutter.package_name }}.framework.devtools.testing import answer{% if mode != 'non_streaming' %}, drain{% endif %}
{%- set imports = {'settings_pb2': cookiecutter.runner_name ~ 'Settings as Settings'} %}
{%- for m in methods %}
{%- set _ = imports.update({m ~ '_args_pb2': (m | pascal) ~ 'Args', m ~ '_result_pb2': (m | pascal) ~ 'Result'}) %}
{%- endfor %}
{%- for module in imports | natural_sort %}
from {{ cookiecutter.package_name }}.protos.{{ module }} import {{ imports[module] }}
{%- endfor %}


def result_of(plugin: MultiMethodPluginRunner, method: str, args: bytes) -> bytes:
    """The method's complete result; a stream is collected on a fresh instance."""
    return answer(plugin, method, args, load_multi_method_plugin)
{%- for m in methods %}
{%- set P = m | pascal %}
{%- if m == default %}


def test_{{ m }}_greets_with_hello_by_default(plugin: MultiMethodPluginRunner) -> None:
    args = {{ P }}Args(name="Ada").SerializeToString()
    result = result_of(plugin, "{{ m }}", args)
    assert {{ P }}Result.FromString(result).message == "Hello, Ada!"


def test_{{ m }}_with_empty_args_greets_the_world(plugin: MultiMethodPluginRunner) -> None:
    result = result_of(plugin, "{{ m }}", b"")
    assert {{ P }}Result.FromString(result).message == "Hello, world!"


def test_{{ m }}_settings_choose_the_greeting(fresh: MultiMethodPluginRunner) -> None:
    fresh.load(Settings(greeting="Good day").SerializeToString())
    args = {{ P }}Args(name="Ada").SerializeToString()
    result = result_of(fresh, "{{ m }}", args)
    assert {{ P }}Result.FromString(result).message == "Good day, Ada!"
{%- if mode != 'non_streaming' %}


def test_{{ m }}_streams_one_chunk_per_word_and_a_complete_last_chunk(
    plugin: MultiMethodPluginRunner,
) -> None:
    args = {{ P }}Args(name="Ada Lovelace").SerializeToString()
    plugin.begin_stream(args, {}, "{{ m }}")
    chunks = [{{ P }}Result.FromString(chunk) for chunk in drain(plugin)]
    assert [chunk.delta for chunk in chunks] == ["Hello, ", "Ada ", "Lovelace!"]
    assert chunks[-1].message == "Hello, Ada Lovelace!"
{%- endif %}
{%- else %}


def test_{{ m }}_placeholder_echoes_the_name(plugin: MultiMethodPluginRunner) -> None:
    args = {{ P }}Args(name="Ada").SerializeToString()
    result = result_of(plugin, "{{ m }}", args)
    assert {{ P }}Result.FromString(result).message == "Ada"
{%- endif %}
{%- endfor %}
