"""The Rust flavor's post-generation checks: ``cargo build`` and the crate's own tests.

The crate's tests drive the built library through a V2 test host, so together they are the
smoke test. Without cargo the project is still complete: the summary says what to run.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

# A cold build compiles tokio, prost and protoc's vendored binary: minutes on a small machine.
CARGO_TIMEOUT_SECONDS = 1800
SHOWN_OUTPUT_LINES = 30


class CargoError(Exception):
    """A cargo step of the new crate failed."""


def by_hand(folder: str) -> str:
    return f"  cd {shlex.quote(folder)}\n  cargo build && cargo test"


def next_steps(answers: Mapping[str, str], folder: str) -> str:
    return (
        "Next steps:\n"
        f"  cd {shlex.quote(folder)}\n"
        "  cargo build --release && cargo test\n"
        "Edit src/runner.rs and the files in protos/. Deploy: copy "
        f"target/release/lib{answers['package_name']}.so into JobWorkerP's PLUGINS_RUNNER_DIR."
    )


def tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-SHOWN_OUTPUT_LINES:])


def run_cargo(arguments: list[str], project: Path) -> None:
    binary = shutil.which("cargo")
    assert binary is not None
    try:
        child = subprocess.run(
            [binary, *arguments],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
            timeout=CARGO_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise CargoError(
            f"cargo {' '.join(arguments)} did not finish within {CARGO_TIMEOUT_SECONDS} seconds"
        ) from None
    if child.returncode != 0:
        raise CargoError(f"cargo {' '.join(arguments)} failed:\n{tail(child.stderr)}")


def build_and_test(project: Path, folder: str) -> str:
    """Build the crate and run its tests; returns what to report."""
    if shutil.which("cargo") is None:
        return (
            "Checks skipped: cargo not found. The project is complete; to build and test it:\n"
            f"{by_hand(folder)}"
        )
    run_cargo(["build", "--quiet"], project)
    run_cargo(["test", "--quiet"], project)
    return "Crate built; its tests (the V2 test host on the built library) passed."
