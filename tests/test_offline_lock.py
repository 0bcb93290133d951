"""The bridge's offline recipe (``native/lock-offline.sh``), run as the generated README gives it.

This machine reaches crates.io but not GitHub, where the bridge's ABI crate lives: the recipe
works here only if it really builds without GitHub. The script locks the graph against a local
copy (``../shared/vendor``) and prints the build command; the default lane resolves the graph
with that command's patch (``cargo tree --locked``, no build), the full lane runs the printed
command itself (a release build).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.native_support import TARGET_DIR, VENDOR, cargo
from tests.support import Venv, render, run

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)


def lock(native: Path, copy: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", native / "lock-offline.sh"],
        env={**os.environ, "ABI_COPY": str(copy)},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A render's native/ locked against the vendored copy; (native, the printed command)."""
    project = render(tmp_path_factory.mktemp("offline"), plugin_name="Offline Lock")
    native = project / "native"
    done = lock(native, VENDOR)
    assert done.returncode == 0, done.stderr
    assert (native / "Cargo.lock").is_file()
    printed = done.stdout.strip().splitlines()[-1]
    command = shlex.split(printed)
    assert command[:3] == ["cargo", "build", "--release"], printed
    return native, command


def test_a_wrong_copy_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    project = render(tmp_path, plugin_name="Offline Refused")
    native = project / "native"
    done = lock(native, tmp_path / "no-such-copy")
    assert done.returncode == 2
    assert re.search(r"error: ABI_COPY = '.*no-such-copy': must be a folder", done.stderr)
    assert "[abi-copy-missing]. Valid example: ABI_COPY=" in done.stderr
    assert not (native / "Cargo.lock").exists()


def test_the_printed_command_resolves_without_github(locked: tuple[Path, list[str]]) -> None:
    """The lock and the printed patch settle the graph: cargo fetches nothing from GitHub."""
    native, command = locked
    options = command[command.index("--config") :]
    tree = run(["cargo", "tree", "--locked", "--manifest-path", native / "Cargo.toml", *options])
    assert "jobworkerp-plugin-abi v" in tree.stdout
    assert str(VENDOR / "jobworkerp-plugin-abi") in tree.stdout


@pytest.mark.full
def test_the_printed_command_builds_the_bridge(
    locked: tuple[Path, list[str]], tmp_path: Path
) -> None:
    native, command = locked
    venv = Venv(tmp_path / "venv")
    venv.install("-e", native.parent)
    env = {**os.environ, "VIRTUAL_ENV": str(venv.path), "CARGO_TARGET_DIR": str(TARGET_DIR)}
    run(command, env=env)
    assert (TARGET_DIR / "release" / "liboffline_lock.so").is_file()
