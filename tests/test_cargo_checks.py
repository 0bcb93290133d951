"""The Rust flavor's post-generation checks tell a dependency out of reach from a real failure.

A crate whose dependency cannot be fetched is kept (the summary says what to run once it can);
any other cargo failure is a failed check, and the hook then removes the project. Cargo's own
words decide, and their case changes between cargo versions.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jwp_generator.cargo_checks import build_and_test, unreachable

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo")

# A git source nothing listens on: cargo fails to fetch it at once.
OUT_OF_REACH = """[package]
name = "out-of-reach"
version = "0.1.0"
edition = "2021"

[dependencies]
nothing-here = { git = "https://127.0.0.1:9/nothing-here.git" }
"""


@pytest.fixture
def crate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "out-of-reach"
    (project / "src").mkdir(parents=True)
    (project / "src" / "lib.rs").write_text("", "utf-8")
    (project / "Cargo.toml").write_text(OUT_OF_REACH, "utf-8")
    # A cargo home of the test's: the failed clone leaves nothing in the user's.
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "cargo-home"))
    monkeypatch.setenv("CARGO_NET_RETRY", "0")
    return project


def test_cargo_s_own_fetch_failure_reads_as_out_of_reach(crate: Path) -> None:
    fetched = subprocess.run(
        ["cargo", "fetch"], cwd=crate, capture_output=True, text=True, check=False, timeout=300
    )
    assert fetched.returncode != 0
    assert unreachable(fetched.stderr), fetched.stderr


def test_a_crate_whose_dependencies_are_out_of_reach_is_kept(crate: Path) -> None:
    summary = build_and_test(crate, "out-of-reach")
    assert summary.startswith("Checks skipped: cargo could not fetch the dependencies"), summary
    assert "cargo build --release && cargo test" in summary
    assert (crate / "Cargo.toml").is_file()


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("error: failed to get `x`\n\nCaused by:\n  Unable to update https://h/x", True),
        ("error: failed to get `x`\n\nCaused by:\n  unable to update https://h/x", True),
        ("error: FAILED TO DOWNLOAD from `https://h/x`", True),
        ("error: failed to parse manifest at `/p/Cargo.toml`", False),
    ],
)
def test_the_markers_match_in_any_case(stderr: str, expected: bool) -> None:
    assert unreachable(stderr) is expected
