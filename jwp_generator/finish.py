"""Post-generation steps: per-method protos, protoc, the smoke test, and what to do next.

A missing tool (grpcio-tools or protobuf in the Python that runs cookiecutter) is not a failure:
the project is complete without compiled protos, because its build compiles them. The hook says
what is missing and how to finish by hand. A check that fails is a failure: the hook exits
non-zero and cookiecutter removes the half-made project. Either way the hook prints what went
wrong and the commands that finish the job by hand, never a bare traceback.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from jwp_generator import cargo_checks
from jwp_generator.flavors import language_of, remove_foreign_folders
from jwp_generator.naming import split_methods
from jwp_generator.recovery import shown_path
from jwp_generator.rendering import write_method_files

SKIP_VARIABLE = "JWP_TEMPLATE_SKIP_CHECKS"
# The smoke test takes about a second; this only stops a hung one.
SMOKE_TIMEOUT_SECONDS = 300


class FinishError(Exception):
    """A check of the new project failed."""


def load_protoc_module(project: Path, package: str) -> ModuleType:
    """The project's own ``framework/devtools/protoc.py``, loaded by path (the package is not installed)."""
    path = project / "src" / package / "framework" / "devtools" / "protoc.py"
    spec = importlib.util.spec_from_file_location(f"_{package}_protoc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_tools() -> list[str]:
    """Distributions the checks need that this Python lacks."""
    needed = {"grpcio-tools": "grpc_tools", "protobuf": "google.protobuf"}
    missing = []
    for distribution, module in needed.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(distribution)
    return missing


def compile_protos(project: Path, package: str) -> None:
    protoc = load_protoc_module(project, package)
    try:
        protoc.compile_package(project / "src", package)
    except protoc.ProtocError as error:
        raise FinishError(str(error)) from None


def last_words(output: str) -> str:
    """A child's failure in brief: the exception line of a traceback, else the whole output."""
    text = output.strip()
    lines = text.splitlines()
    if lines and lines[0].startswith("Traceback"):
        return lines[-1]
    return text


def smoke_test(project: Path, package: str) -> str:
    environment = dict(os.environ, PYTHONPATH=str(project / "src"), PYTHONDONTWRITEBYTECODE="1")
    try:
        child = subprocess.run(
            [sys.executable, "-m", package, "smoke"],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=SMOKE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise FinishError(
            f"the smoke test did not finish within {SMOKE_TIMEOUT_SECONDS} seconds"
        ) from None
    if child.returncode != 0:
        raise FinishError(f"the smoke test failed: {last_words(child.stderr or child.stdout)}")
    return child.stdout.strip()


def next_steps(answers: Mapping[str, str], folder: str) -> str:
    if language_of(answers) == "rust":
        return cargo_checks.next_steps(answers, folder)
    return (
        "Next steps:\n"
        f"{install_steps(answers, folder)}\n"
        "  python -m pytest\n"
        f"Edit src/{answers['package_name']}/runner.py and the files in "
        f"src/{answers['package_name']}/protos/.\n"
        "Native plugin library (needs Rust): cargo build --release --manifest-path native/Cargo.toml,\n"
        "then PLUGINS_RUNNER_DIR=<JobWorkerP's plugin folder> native/install.sh "
        "(never cp over a loaded library)."
    )


def install_steps(answers: Mapping[str, str], folder: str) -> str:
    """The commands that make the project's environment and install it, compiling the protos.

    The next steps and the checks by hand both start with them: one way to build the project.
    """
    return (
        f"  cd {shlex.quote(folder)}\n"
        f"  {venv_python(answers)} -m venv .venv && . .venv/bin/activate\n"
        '  python -m pip install -e ".[dev]"   # compiles the protos'
    )


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def venv_python(answers: Mapping[str, str]) -> str:
    """The Python to make the project's environment with: this one, unless it is too old."""
    if version(answers["python_min"]) > sys.version_info[:2]:
        return f"python{answers['python_min']}"
    return "python"


def python_warning(answers: Mapping[str, str]) -> str:
    """A warning when the plugin needs a newer Python than the one running this step."""
    wanted = answers["python_min"]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version(wanted) <= sys.version_info[:2]:
        return ""
    return (
        f"warning: python_min is {wanted} but this Python is {running}: the plugin cannot be "
        f"installed into a Python older than {wanted}. Make its environment with Python "
        f"{wanted} or newer (python{wanted} -m venv .venv), or render again with "
        f"python_min={running}.\n"
    )


def run_checks(project: Path, answers: Mapping[str, str], folder: str) -> str:
    """Compile and smoke-test; returns what to report. Raises ``FinishError`` on a failed check."""
    if language_of(answers) == "rust":
        try:
            # Part of writing the files, so it runs even when the checks are skipped.
            unformatted = cargo_checks.format_sources(project)
            if os.environ.get(SKIP_VARIABLE):
                report = f"Checks skipped ({SKIP_VARIABLE} is set): crate not built, tests not run."
            else:
                report = cargo_checks.build_and_test(project, folder)
        except cargo_checks.CargoError as error:
            raise FinishError(str(error)) from None
        return report if unformatted is None else f"{report}\n{unformatted}"
    if os.environ.get(SKIP_VARIABLE):
        return f"Checks skipped ({SKIP_VARIABLE} is set): protos not compiled, smoke test not run."
    missing = missing_tools()
    if missing:
        return (
            f"Checks skipped: {' and '.join(missing)} not installed in {sys.executable}.\n"
            "The project is complete; its build compiles the protos. To run the checks by hand, "
            f"follow the next steps; the smoke test is: python -m {answers['package_name']} smoke"
        )
    package = answers["package_name"]
    compile_protos(project, package)
    return "Protos compiled. " + smoke_test(project, package)


def by_hand(answers: Mapping[str, str], folder: str) -> str:
    """The commands that compile the protos and run the smoke test in the new project."""
    if language_of(answers) == "rust":
        return cargo_checks.by_hand(folder)
    return f"{install_steps(answers, folder)}\n  python -m {answers['package_name']} smoke"


def failure_report(error: BaseException, answers: Mapping[str, str], folder: str) -> str:
    """What a failed post-generation step prints: the cause and how to get the project anyway."""
    cause = str(error) if isinstance(error, FinishError) else f"{type(error).__name__}: {error}"
    return (
        f"error: post-generation check failed: {cause}\n"
        "The project was not kept. To keep it and finish by hand, run cookiecutter again with "
        f"{SKIP_VARIABLE}=1, then:\n{by_hand(answers, folder)}"
    )


def main(
    answers: Mapping[str, str], project: Path | None = None, invocation_dir: Path | None = None
) -> int:
    """The steps on ``project`` (default: the current folder, where cookiecutter runs hooks).

    ``invocation_dir`` is where the user ran the tool; the summary's paths are relative to it
    when that is shorter, else absolute (without it, absolute).
    """
    project = project or Path.cwd()
    folder = shown_path(project, invocation_dir) if invocation_dir else str(project.resolve())
    try:
        remove_foreign_folders(project, answers)
        write_method_files(project, answers)
        report = run_checks(project, answers, folder)
    except Exception as error:  # any failure is reported as text, never as a bare traceback
        print(failure_report(error, answers, folder), file=sys.stderr)
        return 1
    methods = ", ".join(split_methods(answers["methods"]))
    print(
        f"Created {folder}: runner {answers['runner_name']}, "
        f"methods {methods} ({answers['streaming_mode']}).\n{report}\n"
        f"{python_warning(answers) if language_of(answers) != 'rust' else ''}"
        f"{next_steps(answers, folder)}"
    )
    return 0
