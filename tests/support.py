"""Shared helpers of the template's tests: render, build, and run in fresh virtual environments.

Everything here drives the real tools: cookiecutter's API or CLI, ``python -m build`` in an
isolated environment, and ``uv`` for fresh virtual environments (uv only creates the
environments and installs into them quickly; what runs inside is plain CPython).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
CHOICES: dict[str, list[str]] = {
    key: value
    for key, value in json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8")).items()
    if isinstance(value, list) and not key.startswith("_")
}
# Cookiecutter reads its user config from the file this variable names. tests/conftest.py points
# it at a config in a session temp folder, so no test writes to ``~/.cookiecutter_replay/`` or
# ``~/.cookiecutters/``; the subprocesses the tests start inherit it.
CONFIG_VARIABLE = "COOKIECUTTER_CONFIG"


def write_cookiecutter_config(folder: Path) -> Path:
    """A cookiecutter config whose replay and clone folders are inside ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    # JSON strings are YAML strings, whatever the path holds.
    config.write_text(
        f"replay_dir: {json.dumps(str(folder / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(folder / 'cookiecutters'))}\n",
        "utf-8",
    )
    return config


def cookiecutter_config() -> str:
    """The session's cookiecutter config (set by tests/conftest.py)."""
    config = os.environ.get(CONFIG_VARIABLE)
    if not config:
        raise RuntimeError(
            f"{CONFIG_VARIABLE} is not set: run the tests with pytest, whose conftest.py sets it"
        )
    return config


def render(output_dir: Path, **answers: str) -> Path:
    """Render through cookiecutter's API, hooks included; returns the project folder."""
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(output_dir),
            extra_context=answers,
            config_file=cookiecutter_config(),
        )
    )


class RenderCache:
    """Each distinct answer set rendered once per session, hooks included, checks run.

    The projects are shared between tests and files: read them, never change them (copy one
    with ``shutil.copytree`` first). tests/conftest.py sets the session's cache up.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.projects: dict[tuple[tuple[str, str], ...], Path] = {}

    def project(self, answers: Mapping[str, str]) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in self.projects:
            # A test that skips the checks for its own renders must not leave the shared
            # project without compiled protos.
            skipped = os.environ.pop(SKIP_VARIABLE, None)
            try:
                self.projects[key] = render(self.root / str(len(self.projects)), **answers)
            finally:
                if skipped is not None:
                    os.environ[SKIP_VARIABLE] = skipped
        return self.projects[key]


SKIP_VARIABLE = "JWP_TEMPLATE_SKIP_CHECKS"
RENDERS: list[RenderCache] = []  # the session's cache, set by tests/conftest.py


def rendered_project(**answers: str) -> Path:
    """The session's render of ``answers`` (read-only; see ``RenderCache``)."""
    if not RENDERS:
        raise RuntimeError("no render cache: run the tests with pytest, whose conftest.py sets it")
    return RENDERS[0].project(answers)


def render_cli(
    output_dir: Path,
    answers: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    inherit: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Render through the ``cookiecutter`` command, as a user would; never raises.

    The command runs in ``inherit`` (default: this process's environment) updated by ``env``.
    """
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir)]
    command += [str(TEMPLATE), *(f"{key}={value}" for key, value in answers.items())]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env={**(os.environ if inherit is None else inherit), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def uv() -> str:
    """The uv binary (installed from PyPI with the test requirements)."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise RuntimeError("uv is missing: python -m pip install -r requirements/test.txt")
    return found


def run(command: Sequence[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, raising with its output when it fails."""
    result: subprocess.CompletedProcess[str] = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )  # type: ignore[call-overload]
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def build_wheel(project: Path, out_dir: Path) -> Path:
    """``python -m build --wheel`` in an isolated environment; returns the wheel."""
    run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--installer",
            "uv",
            "--outdir",
            out_dir,
            project,
        ]
    )
    (wheel,) = out_dir.glob("*.whl")
    return wheel


class Venv:
    """A fresh virtual environment on the Python that runs the tests."""

    def __init__(self, path: Path) -> None:
        run([uv(), "venv", "--quiet", "--python", sys.executable, path])
        self.path = path
        self.python = path / ("Scripts" if os.name == "nt" else "bin") / "python"

    def install(self, *requirements: str | Path) -> None:
        run([uv(), "pip", "install", "--quiet", "--python", self.python, *requirements])

    def run(
        self, *arguments: str | Path, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run([self.python, *arguments], cwd=cwd)


def compile_protos(project: Path, package: str) -> None:
    """Compile a Python render's protos in place with its own framework's protoc step.

    For a render whose protos a test edited: no environment or install needed, the package
    then imports from ``project / "src"``.
    """
    script = (
        "import sys; from pathlib import Path;"
        f" sys.path.insert(0, 'src/{package}/framework/devtools');"
        f" import protoc; protoc.compile_package(Path('src'), {package!r})"
    )
    run([sys.executable, "-c", script], cwd=project)


# What the native bridge's build script bakes in (native/identity.py prints the same keys): the
# plugin's JSON Schemas as the texts its entry-point function's instance returns them.
_PUBLISHED_SCHEMAS = """\
import json, sys
from {package} import load_multi_method_plugin
plugin = load_multi_method_plugin()
json_map = plugin.method_json_schema_map()
print(json.dumps({{
    "settings_schema": plugin.settings_schema(),
    "json_schemas": None if json_map is None else {{
        name: {{
            "args_schema": schema.args_schema,
            "result_schema": schema.result_schema,
            "client_stream_data_schema": schema.client_stream_data_schema,
        }}
        for name, schema in json_map.items()
    }},
}}))
"""


def published_schemas(project: Path, package: str) -> dict[str, Any]:
    """A compiled Python render's settings schema and ``method_json_schema_map()``, as texts.

    ``{"settings_schema": text, "json_schemas": {method: {"args_schema": text, ...}}}``, from a
    fresh instance made by the plugin's entry-point function.
    """
    printed = run(
        [sys.executable, "-c", _PUBLISHED_SCHEMAS.format(package=package)],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
    )
    found: dict[str, Any] = json.loads(printed.stdout)
    return found


@contextmanager
def imported_render(
    project: Path, package: str, names: Sequence[str]
) -> Iterator[dict[str, ModuleType]]:
    """The render's modules ``<package>.<name>`` (``""``: the package itself), imported from its
    ``src/`` for the ``with`` block. Afterwards they leave ``sys.modules`` and ``sys.path``, so
    another render of the same package name is imported afresh."""
    src = str(project / "src")
    sys.path.insert(0, src)
    try:
        yield {
            name: importlib.import_module(f"{package}.{name}" if name else package)
            for name in names
        }
    finally:
        sys.path.remove(src)
        for name in [name for name in sys.modules if name.split(".")[0] == package]:
            del sys.modules[name]
