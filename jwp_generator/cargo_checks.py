"""The Rust flavor's post-generation checks: ``cargo build`` and the crate's own tests.

The crate's tests run the framework's contract suite in-process, and ``tests/library.rs``
builds the ``.so`` itself and drives it through a V2 test host, so ``cargo test`` is the smoke
test. Without cargo, or when its dependencies cannot be fetched (offline, or GitHub out of
reach: the ABI crates come from JobWorkerP's repository), the project is still complete and
kept: the summary says what to run. A build or a test that fails is a failed check.
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


# What cargo says when a source is out of reach, as opposed to a manifest it refuses. Cargo's
# wording changes case between versions ("Unable to update", "unable to update"): matched
# without case.
UNREACHABLE_MARKERS = ("unable to update", "failed to fetch", "failed to download")


def unreachable(stderr: str) -> bool:
    folded = stderr.casefold()
    return any(marker in folded for marker in UNREACHABLE_MARKERS)


# The one build command the summary prints, whether the checks ran, were skipped or failed.
BUILD_AND_TEST = "cargo build --release && cargo test"


def by_hand(folder: str) -> str:
    return f"  cd {shlex.quote(folder)}\n  {BUILD_AND_TEST}"


def next_steps(answers: Mapping[str, str], folder: str) -> str:
    return (
        "Next steps:\n"
        f"  cd {shlex.quote(folder)}\n"
        f"  {BUILD_AND_TEST}\n"
        "Edit src/runner.rs and the files in protos/. Deploy: "
        "PLUGINS_RUNNER_DIR=<JobWorkerP's plugin folder> deploy/install-plugin.sh "
        f"(installs target/release/lib{answers['package_name']}.so; never cp over a loaded library)."
    )


def tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-SHOWN_OUTPUT_LINES:])


def run_cargo(arguments: list[str], project: Path) -> subprocess.CompletedProcess[str]:
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
    return child


def checked(arguments: list[str], project: Path) -> None:
    child = run_cargo(arguments, project)
    if child.returncode != 0:
        raise CargoError(f"cargo {' '.join(arguments)} failed:\n{tail(child.stderr)}")


def format_sources(project: Path) -> str | None:
    """Lay the new crate's Rust files out as ``cargo fmt`` does; what to report if it cannot.

    The template writes the Rust files close to rustfmt's layout, but how rustfmt wraps a line
    depends on the names in it (a method list, a runner name), so the layout is finished here,
    with the user's own rustfmt: ``cargo fmt --check`` then passes from the first commit.
    """
    binary = shutil.which("rustfmt")
    if binary is None:
        return "rustfmt not found: run `cargo fmt` once it is installed."
    sources = [project / "src" / "lib.rs", *sorted((project / "tests").glob("*.rs"))]
    child = subprocess.run(
        [binary, "--edition", "2024", *map(str, sources)],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=CARGO_TIMEOUT_SECONDS,
    )
    if child.returncode != 0:
        raise CargoError(f"rustfmt failed on the new crate:\n{tail(child.stderr)}")
    return None


def build_and_test(project: Path, folder: str) -> str:
    """Build the crate and run its tests; returns what to report."""
    if shutil.which("cargo") is None:
        return (
            "Checks skipped: cargo not found. The project is complete; to build and test it:\n"
            f"{by_hand(folder)}"
        )
    fetched = run_cargo(["fetch", "--quiet"], project)
    if fetched.returncode != 0 and not unreachable(fetched.stderr):
        raise CargoError(f"cargo fetch failed:\n{tail(fetched.stderr)}")
    if fetched.returncode != 0:
        reason = tail(fetched.stderr).splitlines()[-1:] or ["no reason given"]
        return (
            f"Checks skipped: cargo could not fetch the dependencies ({reason[0].strip()}).\n"
            f"The project is complete; once they can be fetched, build and test it:\n"
            f"{by_hand(folder)}"
        )
    checked(["test", "--quiet"], project)
    return "Crate built; its tests (the contract suite, and the V2 test host on the .so) passed."
