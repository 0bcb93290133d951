"""Building and testing a rendered plugin's native bridge (``native/``) with cargo.

The generated ``Cargo.toml`` names JobWorkerP's ABI crates by their git source, which these
machines cannot reach. Cargo fetches a git source even when ``[patch]`` replaces it, unless a
``Cargo.lock`` already settles the graph, so ``write_lockfile`` first locks a copy of the
manifest that names the ``../shared/vendor`` copies by path (a patched graph locks the same
way), and every cargo call then passes the patch on the command line. Nothing of this is
written into the project apart from its ``Cargo.lock``.

One target folder (git-ignored ``.cache/cargo-target`` in the template) serves every render and
every session, so the dependencies compile once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import TEMPLATE, Venv, render

VENDOR = TEMPLATE.parent / "shared" / "vendor"
TARGET_DIR = TEMPLATE / ".cache" / "cargo-target"
GIT_SOURCE = "https://github.com/jobworkerp-rs/jobworkerp-rs"
GIT_SPEC = f'git = "{GIT_SOURCE}", rev = "e01f9625157bca6419562e44ed677b31aefd1bdd"'
ABI_CRATES = ("jobworkerp-plugin-abi", "jobworkerp-plugin-abi-macros")
# A cold build of the bridge and its dependencies takes a few minutes on two busy cores.
CARGO_TIMEOUT_SECONDS = 1800


def cargo() -> str | None:
    return shutil.which("cargo")


def patch_options() -> list[str]:
    """``--config`` options pointing cargo at the vendored ABI crates."""
    # The manifest names only the ABI crate; it reaches the macros crate by a relative path.
    crate = ABI_CRATES[0]
    return ["--config", f'patch."{GIT_SOURCE}".{crate}.path="{VENDOR / crate}"']


def write_lockfile(native: Path) -> None:
    """``<crate>/Cargo.lock`` of the patched graph, locked from a path-dependency copy."""
    scratch = native.parent / f".lock-scratch-{native.name}"
    (scratch / "src").mkdir(parents=True, exist_ok=True)
    manifest = (native / "Cargo.toml").read_text("utf-8")
    assert GIT_SPEC in manifest, "the generated Cargo.toml no longer pins the ABI by git rev"
    manifest = manifest.replace(GIT_SPEC, f'path = "{VENDOR / ABI_CRATES[0]}"')
    manifest = re.sub(r'(?m)^build = ".*"\n', "", manifest)
    (scratch / "Cargo.toml").write_text(manifest, "utf-8")
    (scratch / "src" / "lib.rs").write_text("", "utf-8")
    cargo_run(["generate-lockfile"], scratch, None)
    shutil.copy(scratch / "Cargo.lock", native / "Cargo.lock")
    shutil.rmtree(scratch)


def cargo_env(venv: Path | None) -> dict[str, str]:
    environment = dict(os.environ, CARGO_TARGET_DIR=str(TARGET_DIR), CARGO_TERM_COLOR="never")
    environment.pop("JOBWORKERP_PYTHON_VENV", None)
    if venv is not None:
        # The venv the bridge is built for: build.rs reads it (identity, and the workers' venv).
        environment["VIRTUAL_ENV"] = str(venv)
    return environment


def cargo_run(
    arguments: Sequence[str],
    cwd: Path,
    venv: Path | None,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run cargo, raising with its output when it fails; returns the run and its seconds."""
    binary = cargo()
    assert binary is not None
    started = time.monotonic()
    result = subprocess.run(
        [binary, *arguments],
        cwd=cwd,
        env={**cargo_env(venv), **(extra_env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=CARGO_TIMEOUT_SECONDS,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise AssertionError(
            f"cargo {' '.join(arguments)} exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-20000:]}\n--- stderr\n{result.stderr[-20000:]}"
        )
    return result, seconds


def keep_library(target: Path, package: str, profile: str, project: Path) -> Path:
    """Copies the library cargo just built out of the shared ``target`` folder, beside
    ``project``, and returns the copy. Every render of one package name builds to the same path
    there (a test's broken variant of a plugin, say), so a test registers its own crate's copy.
    """
    kept = kept_library(package, profile, project)
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target / profile / kept.name, kept)
    return kept


def kept_library(package: str, profile: str, project: Path) -> Path:
    """Where ``keep_library`` keeps the ``profile`` library of the crate in ``project``."""
    return project.parent / f"{project.name}-built" / profile / f"lib{package}.so"


@dataclass
class Bridge:
    project: Path
    venv: Path
    package: str

    @property
    def native(self) -> Path:
        return self.project / "native"

    @property
    def library(self) -> Path:
        """The bridge library of the last ``cargo build`` (see ``keep_library``)."""
        return kept_library(self.package, "debug", self.native)

    def release_library(self) -> Path:
        self.cargo("build", "--release")
        return kept_library(self.package, "release", self.native)

    def cargo(self, *arguments: str, env: dict[str, str] | None = None) -> float:
        # The patch goes before any `--`, which starts the test binaries' own options.
        command, *rest = arguments
        _, seconds = cargo_run([command, *patch_options(), *rest], self.native, self.venv, env)
        if command == "build":
            profile = "release" if "--release" in rest else "debug"
            keep_library(TARGET_DIR, self.package, profile, self.native)
        return seconds

    def test(self, *arguments: str, env: dict[str, str] | None = None) -> None:
        """``cargo build`` (the test host loads the library it builds) and ``cargo test``."""
        seconds = self.cargo("build", env=env)
        print(f"cargo build of {self.package}: {seconds:.1f} s")
        self.cargo("test", *arguments, env=env)


def prepare_bridge(out: Path, edit: Callable[[Path], None] | None = None, **answers: str) -> Bridge:
    """A Python render of ``answers`` in a venv of its own, ready for cargo.

    ``edit`` gets the project's ``runner.py`` before the install, to add a test's edits.
    """
    project = render(out, **answers)
    package = project.name.replace("-", "_")
    if edit is not None:
        edit(project / "src" / package / "runner.py")
    venv = Venv(out / "venv")
    venv.install("-e", project)
    write_lockfile(project / "native")
    return Bridge(project, venv.path, package)
