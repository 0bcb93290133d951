"""The generated deployment files: they parse, follow the documented formats, agree with each
other and carry the plugin's own names.

The shell scripts run for real with ``DRY_RUN=1`` (they print each ``jobworkerp-client``
command as a JSON list instead of running it) and, with placeholders left, without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy_support import dry_run, interpolate, option
from tests.support import render

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ANSWERS = {
    "plugin_name": "Text Tools",
    "description": 'Says "hello" with a back\\slash',
    "methods": "summarize_text,run",
    "python_min": "3.11",
}
# The keys jobworkerp-client's worker YAML and the MCP server entries accept.
WORKER_KEYS = {
    "name", "runner", "description", "settings", "channel", "queue_type", "response_type",
    "store_success", "store_failure", "use_static", "broadcast_results", "periodic_interval",
    "retry_policy",
}  # fmt: skip
SERVER_KEYS = {"name", "description", "transport", "command", "args", "envs"}
ENV = {
    "RUNNER_ID": "6",
    "PLUGIN_PACKAGE": "/wheels/text_tools-0.1.0-py3-none-any.whl",
    "PYTHON_VERSION": "3.12",
    "WORKER": "text-worker",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("deploy-files"), **ANSWERS)


def worker_entry(project: Path, env: dict[str, str]) -> dict[str, Any]:
    text = (project / "deploy" / "python_command" / "worker.yaml").read_text("utf-8")
    manifest = yaml.safe_load(interpolate(text, env))
    assert set(manifest) == {"workers"}
    assert set(manifest["workers"]) == {"defaults", "entries"}
    assert set(manifest["workers"]["defaults"]) <= WORKER_KEYS
    (entry,) = manifest["workers"]["entries"]
    assert set(entry) <= WORKER_KEYS
    return dict(entry)


def test_python_command_commands_and_manifest_agree(project: Path) -> None:
    create, enqueue = dry_run(project / "deploy" / "python_command" / "jobworkerp-client.sh", **ENV)
    assert create[:5] == [
        "jobworkerp-client",
        "--address",
        "http://localhost:9000",
        "worker",
        "create",
    ]
    assert option(create, "-n") == "text-worker" and option(create, "-r") == "6"
    settings = json.loads(option(create, "-s"))
    assert settings == {
        "python_version": "3.12",
        "packages": {"list": ["/wheels/text_tools-0.1.0-py3-none-any.whl"]},
    }
    assert "--use-static" in create

    entry = worker_entry(project, ENV)
    assert entry["name"] == "text-worker"
    assert entry["runner"] == "PYTHON_COMMAND"
    assert entry["settings"] == settings
    assert entry["use_static"] is True

    assert enqueue[3:7] == ["job", "enqueue", "-w", "text-worker"]
    job_args = json.loads(option(enqueue, "-a"))
    assert set(job_args) == {"script_content", "data_body"}
    script = (project / "deploy" / "python_command" / "script.py").read_text("utf-8")
    assert job_args["script_content"] == script
    assert script.startswith(
        "from text_tools import PLUGIN\nfrom text_tools.framework.adapters.python_command import main"
    )
    assert json.loads(job_args["data_body"])["using"] == "summarize_text"


def test_the_defaults_are_marked_placeholders_with_the_plugins_names(project: Path) -> None:
    entry = worker_entry(project, {})
    assert entry["name"] == "text-tools-python-command"
    assert entry["settings"]["python_version"] == "3.11"
    (package,) = entry["settings"]["packages"]["list"]
    assert package.startswith("text-tools @ git+https://github.com/<owner>/text-tools")

    script = project / "deploy" / "python_command" / "jobworkerp-client.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "edit RUNNER_ID and PLUGIN_PACKAGE" in done.stderr
    assert done.stdout == ""


def test_mcp_server_definitions_start_the_plugins_mcp_command(project: Path) -> None:
    mcp = project / "deploy" / "mcp"
    settings = tomllib.loads((mcp / "mcp-settings.toml").read_text("utf-8"))
    (server,) = settings["server"]
    assert set(server) == SERVER_KEYS
    assert server["name"] == "TextTools"
    assert server["description"] == ANSWERS["description"]
    assert server["transport"] == "stdio"
    assert server["command"].endswith("/bin/python")
    assert server["args"] == ["-m", "text_tools", "mcp"]
    assert server["envs"] == {}

    definition = tomllib.loads((mcp / "runner-definition.toml").read_text("utf-8"))
    assert definition == {key: server[key] for key in ("transport", "command", "args", "envs")}


def test_mcp_commands_register_the_runner_and_name_the_method(project: Path) -> None:
    script = project / "deploy" / "mcp" / "jobworkerp-client.sh"
    create_runner, create_worker, enqueue = dry_run(script, RUNNER_ID="12")
    assert create_runner[3:5] == ["runner", "create"]
    assert option(create_runner, "-n") == "TextTools"
    assert option(create_runner, "-r") == "MCP_SERVER"
    assert option(create_runner, "--definition") == "@runner-definition.toml"
    assert option(create_worker, "-r") == "12" and option(create_worker, "-s") == ""
    assert option(enqueue, "-w") == option(create_worker, "-n") == "text-tools-mcp"
    assert option(enqueue, "--using") == "summarize_text"
    assert json.loads(option(enqueue, "-a")) == {"name": "Ada"}
    assert len(dry_run(script, RUNNER_ID="12", SKIP_RUNNER="1")) == 2
