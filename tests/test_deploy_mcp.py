"""A generated plugin served as an MCP server over stdio, driven by the real ``mcp`` client.

For each streaming mode: the wheel is installed with its ``mcp`` extra in a fresh virtual
environment; ``python -m hello_world mcp`` is started as a subprocess, the way JobWorkerP's
MCP_SERVER runner starts a stdio server (the client speaks the initialize handshake, as
JobWorkerP's client does); the tools are listed and checked against the plugin's own method
table and against what JobWorkerP's JSON-Schema-to-proto conversion accepts; every tool is
called; bad args come back as error results.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from tests.deploy_support import (
    METHODS,
    MODE_PARAMS,
    PACKAGE,
    Built,
    built_plugin,
    schema_problems,
    tool_name_problems,
)
from tests.support import Venv

T = TypeVar("T")
SERVER = ["-m", PACKAGE, "mcp"]
# What the plugin itself says about its methods, read inside the plugin's environment.
READ_METHODS = """
import json
from hello_world import load_multi_method_plugin
plugin = load_multi_method_plugin()
schemas = plugin.method_json_schema_map()
print(json.dumps({
    name: [method.description, json.loads(schemas[name].args_schema)]
    for name, method in plugin.method_proto_map().items()
}))
"""


@dataclass(frozen=True)
class Served:
    built: Built
    venv: Venv
    cwd: Path


@pytest.fixture(scope="module", params=MODE_PARAMS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Served:
    built = built_plugin(request.param, tmp_path_factory)
    root = tmp_path_factory.mktemp("mcp")
    venv = Venv(root / "venv")
    venv.install(f"{built.wheel}[mcp]")
    (root / "worker-cwd").mkdir()
    return Served(built, venv, root / "worker-cwd")


def with_client(served: Served, body: Callable[[Client], Awaitable[T]], *extra: str) -> T:
    """Start the server as a subprocess, connect, run ``body``, close everything."""
    parameters = StdioServerParameters(
        command=str(served.venv.python), args=[*SERVER, *extra], cwd=served.cwd
    )

    async def session() -> T:
        async with Client(parameters, mode="legacy", read_timeout_seconds=60) as client:
            return await body(client)

    return anyio.run(session)


def text_of(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


def answered(served: Served, result: CallToolResult, message: str) -> None:
    assert not result.is_error, text_of(result)
    expected = served.built.result_json(message)
    assert json.loads(text_of(result)) == expected
    assert result.structured_content == expected


def test_tools_mirror_the_methods_and_suit_jobworkerp(served: Served) -> None:
    async def listing(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = with_client(served, listing)
    plugin_says = json.loads(served.venv.run("-c", READ_METHODS).stdout)
    assert [tool.name for tool in tools] == list(METHODS)
    for tool in tools:
        description, args_schema = plugin_says[tool.name]
        assert tool.description == description
        assert tool.input_schema == args_schema
        assert tool_name_problems(tool.name) == []
        assert schema_problems(tool.input_schema) == []
    rich = tools[0].input_schema["properties"]
    assert {"count", "tags", "labels", "options", "level", "loud", "weight", "blob"} <= set(rich)


def test_every_tool_answers_and_bad_args_are_error_results(served: Served) -> None:
    async def calls(client: Client) -> dict[str, CallToolResult]:
        results = {name: await client.call_tool(name, {"name": "Ada"}) for name in METHODS}
        # As JobWorkerP sends them: 64-bit integers as strings; schema-less objects (a map, a
        # message past the schema's depth limit) are string fields there, so JSON text.
        results["rich"] = await client.call_tool(
            "run",
            {
                "name": "Grace",
                "count": "9007199254740993",
                "tags": ["a"],
                "labels": '{"k": "v"}',
                "options": {"depth": 2, "children": [{"depth": 1}, '{"depth": 3}']},
                "level": "LEVEL_HIGH",
                "loud": True,
                "weight": 0.5,
                "blob": "AP8=",
            },
        )
        results["no-args"] = await client.call_tool("summarize_text", None)
        results["wrong-type"] = await client.call_tool("run", {"name": 5})
        results["unknown-field"] = await client.call_tool("summarize_text", {"nam": "x"})
        results["bad-map-text"] = await client.call_tool("run", {"labels": "{not json"})
        return results

    results = with_client(served, calls)
    for name in METHODS:
        answered(served, results[name], "Hello, Ada!")
    answered(served, results["rich"], "Hello, Grace!")
    answered(served, results["no-args"], "Hello, world!")
    for case, fragment in {
        "wrong-type": "args are not a valid RunArgs",
        "unknown-field": '"nam"',
        "bad-map-text": "labels",
    }.items():
        assert results[case].is_error, case
        assert fragment in text_of(results[case]), case
        assert results[case].structured_content is None


def test_an_unknown_tool_is_a_protocol_error(served: Served) -> None:
    async def call(client: Client) -> str:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("nope", {})
        return raised.value.message

    assert "Unknown tool 'nope'" in with_client(served, call)


def test_settings_reach_load(served: Served) -> None:
    async def call(client: Client) -> CallToolResult:
        return await client.call_tool(METHODS[1], {"name": "Ada"})

    result = with_client(served, call, "--settings", '{"greeting": "Hi"}')
    answered(served, result, "Hi, Ada!")


def test_what_the_plugin_prints_does_not_break_the_protocol(served: Served) -> None:
    async def call(client: Client) -> list[CallToolResult]:
        return [await client.call_tool(name, {"name": "Ada"}) for name in METHODS]

    for result in with_client(served, call, "--settings", '{"greeting": "Noisy"}'):
        answered(served, result, "Noisy, Ada!")


def test_settings_that_do_not_fit_stop_the_server_with_a_reason(served: Served) -> None:
    done = subprocess.run(
        [str(served.venv.python), *SERVER, "--settings", '{"greting": "Hi"}'],
        cwd=served.cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert "greting" in done.stderr


def test_schema_check_refuses_what_jobworkerp_refuses() -> None:
    plain = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert schema_problems(plain) == []
    optional = {"anyOf": [{"type": "string"}, {"type": "null"}]}  # pydantic's Optional[str]
    assert schema_problems({"type": "object", "properties": {"a": optional}})
    assert schema_problems({"type": "object", "properties": {"a": {"type": "null"}}})
    assert schema_problems({"type": "object", "properties": {"a": {"type": ["string", "null"]}}})
    assert schema_problems({"type": "object", "properties": {"a": {"type": "array"}}})
    assert schema_problems({"type": "object", "properties": {"a": {"oneOf": []}}})
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(11):
        deep = {"type": "object", "properties": {"a": deep}}
    assert schema_problems(deep)
    assert tool_name_problems("summarize_text") == []
    assert tool_name_problems("system") and tool_name_problems("_x") and tool_name_problems("a b")
