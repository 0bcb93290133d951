"""The generated deployment files: they parse, follow the documented formats, agree with each
other and carry the plugin's own names.

The shell scripts run for real with ``DRY_RUN=1`` (they print each ``jobworkerp-client``
command as a JSON list instead of running it) and, with placeholders left, without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy_support import dry_run, interpolate, option
from tests.support import SKIP_VARIABLE, render

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


def with_plugin(project: Path, **env: str) -> dict[str, str]:
    """``env`` plus a Python that imports the rendered plugin: the scripts derive the job's
    method and args from it (``sample-args``)."""
    return {"PYTHON": sys.executable, "PYTHONPATH": str(project / "src"), **env}


def worker_entry(project: Path, env: dict[str, str]) -> dict[str, Any]:
    text = (project / "deploy" / "python_command" / "manifest.yaml").read_text("utf-8")
    manifest = yaml.safe_load(interpolate(text, env))
    assert set(manifest) == {"workers"}
    assert set(manifest["workers"]) == {"defaults", "entries"}
    assert set(manifest["workers"]["defaults"]) <= WORKER_KEYS
    (entry,) = manifest["workers"]["entries"]
    assert set(entry) <= WORKER_KEYS
    return dict(entry)


def test_python_command_commands_and_manifest_agree(project: Path) -> None:
    script = project / "deploy" / "python_command" / "jobworkerp-client.sh"
    find_worker, create, enqueue = dry_run(script, **with_plugin(project, **ENV))
    assert find_worker[3:] == ["worker", "find-by-name", "-n", "text-worker", "--format", "json"]
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
    script_py = (project / "deploy" / "python_command" / "script.py").read_text("utf-8")
    assert job_args["script_content"] == script_py
    assert script_py.startswith(
        "from text_tools import PLUGIN\nfrom text_tools.framework.adapters.python_command import main"
    )
    # The envelope: input.json, and the job's method and args derived from the plugin.
    assert json.loads(job_args["data_body"]) == {
        "metadata": {"source": "deploy/python_command/input.json"},
        "settings": {},
        "using": "run",
        "args": {"name": "Sample Text"},
    }


def test_the_scripts_take_the_method_and_args_from_using_and_args(project: Path) -> None:
    """Given USING and ARGS, the scripts send them, and need no Python with the plugin."""
    chosen = {"USING": "summarize_text", "ARGS": '{"name": "Grace"}', "PYTHON": "/nonexistent"}
    pc = project / "deploy" / "python_command" / "jobworkerp-client.sh"
    *_, enqueue = dry_run(pc, **ENV, **chosen)
    envelope = json.loads(json.loads(option(enqueue, "-a"))["data_body"])
    assert (envelope["using"], envelope["args"]) == ("summarize_text", {"name": "Grace"})
    *_, enqueue = dry_run(project / "deploy" / "mcp" / "jobworkerp-client.sh", **chosen)
    assert option(enqueue, "--using") == "summarize_text"
    assert json.loads(option(enqueue, "-a")) == {"name": "Grace"}


def test_without_a_runner_id_the_script_looks_it_up_by_name(project: Path) -> None:
    script = project / "deploy" / "python_command" / "jobworkerp-client.sh"
    env = {key: value for key, value in ENV.items() if key != "RUNNER_ID"}
    find_runner, _, create, _ = dry_run(script, **with_plugin(project, **env))
    assert find_runner[3:] == ["runner", "find-by-name", "-n", "PYTHON_COMMAND", "--format", "json"]
    # A dry run finds nothing, so the id stays a visible placeholder.
    assert option(create, "-r") == "<PYTHON_COMMAND runner id>"


def test_the_defaults_are_marked_placeholders_with_the_plugins_names(project: Path) -> None:
    text = (project / "deploy" / "python_command" / "manifest.yaml").read_text("utf-8")
    # No default for the package: jobworkerp-client refuses the manifest until it is set.
    assert '- "%{PLUGIN_PACKAGE}"' in text
    with pytest.raises(AssertionError, match="PLUGIN_PACKAGE"):
        worker_entry(project, {})
    entry = worker_entry(project, {"PLUGIN_PACKAGE": "x.whl"})
    assert entry["name"] == "text-tools-python-command"
    # Any installed Python the plugin supports, not exactly python_min.
    assert entry["settings"]["python_version"] == ">=3.11"

    script = project / "deploy" / "python_command" / "jobworkerp-client.sh"
    (*_, create, _) = dry_run(script, **with_plugin(project))
    assert json.loads(option(create, "-s"))["python_version"] == ">=3.11"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "edit PLUGIN_PACKAGE" in done.stderr
    assert done.stdout == ""


def test_every_percent_brace_in_the_manifest_is_a_known_variable(project: Path) -> None:
    # jobworkerp-client interpolates the whole text, comments included.
    text = (project / "deploy" / "python_command" / "manifest.yaml").read_text("utf-8")
    names = set(re.findall(r"%\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert names == {"WORKER", "PYTHON_VERSION", "PLUGIN_PACKAGE", "NAME"}
    assert "%{NAME:-default}" in text and "%{NAME}" not in text


def test_the_generated_gitignore_ignores_client_logs(project: Path) -> None:
    assert "*.log" in (project / ".gitignore").read_text("utf-8").splitlines()


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
    commands = dry_run(script, **with_plugin(project))
    find_runner, create_runner, refind, find_worker, create_worker, enqueue = commands
    assert find_runner[3:] == ["runner", "find-by-name", "-n", "TextTools", "--format", "json"]
    assert refind == find_runner
    assert create_runner[3:5] == ["runner", "create"]
    assert option(create_runner, "-n") == "TextTools"
    assert option(create_runner, "-r") == "MCP_SERVER"
    # An absolute path: the client runs from a scratch folder, away from its log files.
    definition = option(create_runner, "--definition")
    assert definition == f"@{project / 'deploy' / 'mcp' / 'runner-definition.toml'}"
    assert find_worker[3:6] == ["worker", "find-by-name", "-n"]
    assert option(create_worker, "-r") == "<MCP_SERVER runner id>"
    # The server refuses empty settings on a worker (-s ''): an empty JSON object.
    assert option(create_worker, "-s") == "{}"
    # One MCP server process per pool slot instead of one per job.
    assert "--use-static" in create_worker
    assert option(enqueue, "-w") == option(create_worker, "-n") == "text-tools-mcp"
    assert option(enqueue, "--using") == "run"
    assert json.loads(option(enqueue, "-a")) == {"name": "Sample Text"}


def test_the_readme_deploys_from_local_files_and_says_where_errors_show(project: Path) -> None:
    readme = (project / "README.md").read_text("utf-8")
    deploy = readme[readme.index("## Deploy") : readme.index("### What each path keeps")]
    # Local install forms for the MCP extra: the package is not published.
    assert "python -m pip install '/path/to/text_tools-0.1.0-py3-none-any.whl[mcp]'" in deploy
    assert "'/path/to/text-tools[mcp]'" in deploy
    assert "pip install 'text-tools[mcp]'" not in deploy
    # The runner id, the manifest's name, and where the real errors are.
    assert "runner find-by-name -n PYTHON_COMMAND" in deploy
    assert "manifest apply deploy/python_command/manifest.yaml" in deploy
    assert "worker.yaml" not in deploy
    assert deploy.count("server's log") >= 2
    assert "python -m text_tools check-settings --settings" in deploy
    assert "--use-static" in deploy


def test_the_scalable_check_probes_the_plugin_s_channel_and_worker(project: Path) -> None:
    """``deploy/scalable/check-processes.sh`` (run for real by ``-m scalable``): its commands."""
    script = project / "deploy" / "scalable" / "check-processes.sh"
    assert script.stat().st_mode & 0o111, "the check must be executable"
    instances, probe = dry_run(script)
    assert instances[3:6] == ["worker-instance", "list", "--active-only"]
    assert option(instances, "--channel") == "text_tools"
    assert probe[3:5] == ["job", "enqueue"]
    assert option(probe, "-w") == "text-tools"
    assert option(probe, "--using") == "run"  # the default method
    assert option(probe, "-t") == "30000"
    overridden = dry_run(script, CHANNEL="gpu", WORKER="w", STREAM="1")
    assert option(overridden[0], "--channel") == "gpu"
    assert overridden[1][3:5] == ["job", "enqueue-for-stream"]


# The library installers: a rename over the old name, never a copy into the loaded file -------

INSTALLERS = {"python": "native/install.sh", "rust": "deploy/install-plugin.sh"}
LIBRARY_NAME = "libtext_tools.so"


@pytest.fixture(scope="module")
def rust_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Rust render of the same answers (no cargo: the checks are skipped)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SKIP_VARIABLE, "1")
        return render(tmp_path_factory.mktemp("deploy-files-rust"), language="rust", **ANSWERS)


def installer(flavor: str, project: Path, rust_project: Path) -> Path:
    return (project if flavor == "python" else rust_project) / INSTALLERS[flavor]


def install(script: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The installer as a user runs it, with only ``env`` of its settings set."""
    clean = {key: value for key, value in os.environ.items() if key not in INSTALL_SETTINGS}
    return subprocess.run(
        ["bash", str(script)],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


INSTALL_SETTINGS = ("PLUGINS_RUNNER_DIR", "LIBRARY", "CARGO_TARGET_DIR")


def refused(done: subprocess.CompletedProcess[str], variable: str, value: str, rule: str) -> str:
    """The one-line refusal: the setting, its value, the rule's code and a valid example."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    line = done.stderr.splitlines()[0]
    assert line.startswith(f"error: {variable} = '{value}': "), line
    assert f"[{rule}]. Valid example: {variable}=" in line, line
    assert "Nothing was installed." in done.stderr
    return line


@pytest.mark.parametrize("flavor", ["python", "rust"])
def test_the_installer_refuses_a_missing_folder_or_an_unbuilt_library(
    project: Path, rust_project: Path, tmp_path: Path, flavor: str
) -> None:
    script = installer(flavor, project, rust_project)
    assert script.stat().st_mode & 0o111, "the installer must be executable"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    line = refused(install(script, tmp_path), "PLUGINS_RUNNER_DIR", "", "plugins-dir-unset")
    assert line.endswith(f"PLUGINS_RUNNER_DIR=/srv/jobworkerp/plugins {script}"), line
    missing = str(tmp_path / "nowhere")
    done = install(script, tmp_path, PLUGINS_RUNNER_DIR=missing)
    refused(done, "PLUGINS_RUNNER_DIR", missing, "plugins-dir-missing")
    several = f"{plugins},{tmp_path}"
    line = refused(
        install(script, tmp_path, PLUGINS_RUNNER_DIR=several), "PLUGINS_RUNNER_DIR", several,
        "plugins-dir-list",
    )  # fmt: skip
    assert line.endswith(f"PLUGINS_RUNNER_DIR={plugins}"), line

    # A fresh render has no build: the default library is the release build.
    crate = script.parent if flavor == "python" else script.parent.parent
    default = crate / "target" / "release" / LIBRARY_NAME
    done = install(script, tmp_path, PLUGINS_RUNNER_DIR=str(plugins))
    line = refused(done, "LIBRARY", str(default), "library-not-built")
    assert "cargo build --release" in line, line
    # cargo's own CARGO_TARGET_DIR moves the default, as it moves the build.
    target = tmp_path / "target"
    done = install(script, tmp_path, PLUGINS_RUNNER_DIR=str(plugins), CARGO_TARGET_DIR=str(target))
    refused(done, "LIBRARY", str(target / "release" / LIBRARY_NAME), "library-not-built")
    assert list(plugins.iterdir()) == [], "a refusal changes nothing"


@pytest.mark.parametrize("flavor", ["python", "rust"])
def test_the_installer_replaces_the_library_by_a_rename(
    project: Path, rust_project: Path, tmp_path: Path, flavor: str
) -> None:
    """A new file under the old name; the old file, held open as the server holds its mapped
    library, keeps its bytes. A ``cp`` over the name would have rewritten them."""
    script = installer(flavor, project, rust_project)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build = tmp_path / "target" / "release" / LIBRARY_NAME
    build.parent.mkdir(parents=True)
    build.write_bytes(b"first build")
    settings = {"PLUGINS_RUNNER_DIR": str(plugins), "CARGO_TARGET_DIR": str(tmp_path / "target")}
    done = install(script, tmp_path, **settings)
    assert done.returncode == 0, done.stderr
    installed = plugins / LIBRARY_NAME
    assert done.stdout.startswith(f"installed {installed} (restart the server"), done.stdout
    assert installed.read_bytes() == b"first build"
    assert installed.stat().st_mode & 0o755 == 0o755

    with installed.open("rb") as loaded:
        first_inode = os.fstat(loaded.fileno()).st_ino
        other = tmp_path / "other.so"
        other.write_bytes(b"second build")
        done = install(script, tmp_path, **settings, LIBRARY=str(other))
        assert done.returncode == 0, done.stderr
        assert "replaced the previous file by a rename" in done.stdout, done.stdout
        assert installed.read_bytes() == b"second build"
        assert installed.stat().st_ino != first_inode
        assert loaded.read() == b"first build", "the loaded file was changed in place"
        # Only the library is left: no temporary copy, and nothing else ending in .so.
        assert [path.name for path in plugins.iterdir()] == [LIBRARY_NAME]

        # What the installer avoids: cp writes into the very file a server holds.
        with installed.open("rb") as held:
            shutil.copyfile(build, installed)
            assert held.read() == b"first build", "cp kept the held file's bytes"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")
@pytest.mark.parametrize("flavor", ["python", "rust"])
def test_every_generated_shell_script_passes_shellcheck(
    project: Path, rust_project: Path, flavor: str
) -> None:
    root = project if flavor == "python" else rust_project
    scripts = sorted(root.rglob("*.sh"))
    assert root / INSTALLERS[flavor] in scripts
    done = subprocess.run(
        ["shellcheck", *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
