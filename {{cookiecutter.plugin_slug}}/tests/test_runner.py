{%- set methods = cookiecutter.methods.split(',') | map('trim') | list -%}
{%- set mode = cookiecutter.streaming_mode -%}
{%- set first = methods[0] -%}
{%- set pascal = first | replace('_', ' ') | title | replace(' ', '') -%}
"""Tests of the sample work in runner.py: change them along with it."""

from __future__ import annotations

from {{ cookiecutter.package_name }} import MultiMethodPluginRunner
from {{ cookiecutter.package_name }}.framework.devtools.testing import answer{% if mode != 'non_streaming' %}, drain{% endif %}
{%- set imports = {
    first ~ '_args_pb2': pascal ~ 'Args',
    first ~ '_result_pb2': pascal ~ 'Result',
    'settings_pb2': cookiecutter.runner_name ~ 'Settings as Settings',
} %}
{%- for module in imports | natural_sort %}
from {{ cookiecutter.package_name }}.protos.{{ module }} import (
    {{ imports[module] }},
)
{%- endfor %}

METHOD = "{{ first }}"


def args(name: str) -> bytes:
    return {{ pascal }}Args(name=name).SerializeToString()


def message(result: bytes) -> str:
    return {{ pascal }}Result.FromString(result).message


def test_default_settings_greet_with_hello(plugin: MultiMethodPluginRunner) -> None:
    assert message(answer(plugin, METHOD, args("Ada"))) == "Hello, Ada!"


def test_empty_args_greet_the_world(plugin: MultiMethodPluginRunner) -> None:
    assert message(answer(plugin, METHOD)) == "Hello, world!"


def test_settings_choose_the_greeting(fresh: MultiMethodPluginRunner) -> None:
    settings = Settings(greeting="Good day")
    fresh.load(settings.SerializeToString())
    assert message(answer(fresh, METHOD, args("Ada"))) == "Good day, Ada!"
{%- if mode != 'non_streaming' %}


def test_the_stream_sends_one_chunk_per_word_and_a_complete_last_chunk(
    plugin: MultiMethodPluginRunner,
) -> None:
    plugin.begin_stream(args("Ada Lovelace"), {}, METHOD)
    chunks = [{{ pascal }}Result.FromString(chunk) for chunk in drain(plugin)]
    assert [chunk.delta for chunk in chunks] == ["Hello, ", "Ada ", "Lovelace!"]
    assert chunks[-1].message == "Hello, Ada Lovelace!"
{%- endif %}
