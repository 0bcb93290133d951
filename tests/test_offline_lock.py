"""The offline recipe of both flavors (``native/lock-offline.sh``, ``deploy/lock-offline.sh``),
run as the generated READMEs give it.

This machine reaches crates.io but not GitHub, where the ABI crate lives: the recipe works here
only if it really builds without GitHub. The script locks the graph against a local copy
(``../shared/vendor``), writes the patch into the project's ``.cargo/config.toml`` and prints
the build command. The default lane resolves the graph in the project's folder (``cargo tree
--locked``, no build); the full lane runs the printed commands (a release build of the bridge;
the Rust flavor's library test, whose own ``cargo build`` must read the patch too).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.native_support import TARGET_DIR, VENDOR, cargo
from tests.rust_support import RUST_TARGET_DIR
from tests.support import SKIP_VARIABLE, Venv, render, run

# Each flavor's crate folder in a render, and its script there.
SCRIPTS = {"python": "native/lock-offline.sh", "rust": "deploy/lock-offline.sh"}

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)


def rendered(out: Path, language: str, name: str) -> Path:
    """A render's crate folder (the bridge's ``native/``, or the Rust flavor's project), with no
    lock file and no cargo config around it: nothing but the script points cargo at the copy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SKIP_VARIABLE, "1")  # the post-generation checks' cargo fetch needs GitHub
        project = render(out, plugin_name=name, language=language)
    return project if language == "rust" else project / "native"


def lock(crate: Path, language: str, copy: Path) -> subprocess.CompletedProcess[str]:
    # The bridge's script is in its crate folder, the Rust flavor's in the project's deploy/.
    script = crate / ("deploy/lock-offline.sh" if language == "rust" else "lock-offline.sh")
    return subprocess.run(
        ["bash", script],
        env={**os.environ, "ABI_COPY": str(copy)},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def locked_crate(out: Path, language: str, name: str) -> tuple[Path, str]:
    """A render's crate locked against the vendored copy; (crate, the printed command)."""
    crate = rendered(out, language, name)
    done = lock(crate, language, VENDOR)
    assert done.returncode == 0, done.stderr
    assert (crate / "Cargo.lock").is_file()
    config = project_of(crate, language) / ".cargo" / "config.toml"
    assert str(VENDOR / "jobworkerp-plugin-abi") in config.read_text("utf-8")
    printed = done.stdout.strip().splitlines()[-1].strip()
    assert printed.startswith("cargo build --release"), printed
    return crate, printed


def project_of(crate: Path, language: str) -> Path:
    return crate if language == "rust" else crate.parent


@pytest.mark.parametrize("language", list(SCRIPTS))
def test_a_wrong_copy_is_refused_and_changes_nothing(tmp_path: Path, language: str) -> None:
    crate = rendered(tmp_path, language, "Offline Refused")
    done = lock(crate, language, tmp_path / "no-such-copy")
    assert done.returncode == 2
    assert re.search(r"error: ABI_COPY = '.*no-such-copy': must be a folder", done.stderr)
    assert "[abi-copy-missing]. Valid example: ABI_COPY=" in done.stderr
    assert not (crate / "Cargo.lock").exists()
    assert not (project_of(crate, language) / ".cargo").exists()


@pytest.mark.parametrize("language", list(SCRIPTS))
def test_the_lock_and_the_config_resolve_without_github(tmp_path: Path, language: str) -> None:
    """In the project's folder, cargo settles the graph from the lock and the patch alone."""
    crate, _ = locked_crate(tmp_path, language, "Offline Lock")
    tree = run(
        ["cargo", "tree", "--locked", "--manifest-path", crate / "Cargo.toml"],
        cwd=project_of(crate, language),
    )
    assert "jobworkerp-plugin-abi v" in tree.stdout
    assert str(VENDOR / "jobworkerp-plugin-abi") in tree.stdout
    # Run again, the script keeps the config it wrote and says how to change it.
    again = lock(crate, language, VENDOR)
    assert again.returncode == 2 and "[cargo-config-exists]" in again.stderr, again.stderr


@pytest.mark.full
def test_the_printed_command_builds_the_bridge(tmp_path: Path) -> None:
    native, printed = locked_crate(tmp_path, "python", "Offline Build")
    venv = Venv(tmp_path / "venv")
    venv.install("-e", native.parent)
    env = {**os.environ, "VIRTUAL_ENV": str(venv.path), "CARGO_TARGET_DIR": str(TARGET_DIR)}
    run(["bash", "-c", printed], cwd=native.parent, env=env)
    assert (TARGET_DIR / "release" / "liboffline_build.so").is_file()


@pytest.mark.full
def test_the_rust_library_test_builds_without_github(tmp_path: Path) -> None:
    """tests/library.rs runs cargo itself: it reads the patch from .cargo/config.toml."""
    crate, _ = locked_crate(tmp_path, "rust", "Offline Rust")
    env = {**os.environ, "CARGO_TARGET_DIR": str(RUST_TARGET_DIR)}
    done = run(["cargo", "test", "--test", "library"], cwd=crate, env=env)
    assert "test result: ok" in done.stdout
