"""Rendering, building and testing the Rust flavor's crate with cargo.

A render skips the post-generation checks (their ``cargo fetch`` needs GitHub, out of reach
here): the crate gets a ``Cargo.lock`` of the vendored ABI (``tests/native_support.py``), and
cargo is then run by the tests themselves with the patch on its command line. The patch is also
written to ``.cargo/config.toml`` in the folder *above* the crate (cargo reads the config of
every parent folder), for the cargo that the crate's own ``tests/library.rs`` runs: nothing of
it is in the crate. The crates share
a target folder of their own (``.cache/cargo-target-rust``): their dependencies differ from the
bridge's, and a crate's library must not overwrite the bridge's of the same package name.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.native_support import (
    ABI_CRATES,
    GIT_SOURCE,
    VENDOR,
    cargo_run,
    keep_library,
    kept_library,
    patch_options,
    write_lockfile,
)
from tests.support import SKIP_VARIABLE, TEMPLATE, render

RUST_TARGET_DIR = TEMPLATE / ".cache" / "cargo-target-rust"


@dataclass
class Crate:
    project: Path
    package: str

    @property
    def library(self) -> Path:
        """The library of this crate's last ``cargo build`` (see ``keep_library``)."""
        return kept_library(self.package, "debug", self.project)

    @property
    def target_library(self) -> Path:
        """Where cargo writes the debug library, shared by every render of the package name."""
        return RUST_TARGET_DIR / "debug" / f"lib{self.package}.so"

    def release_library(self) -> Path:
        self.cargo("build", "--release")
        return kept_library(self.package, "release", self.project)

    def cargo(self, *arguments: str, env: dict[str, str] | None = None) -> float:
        """One cargo command with the vendored ABI patch (before any ``--``); its seconds."""
        command, *rest = arguments
        extra = {"CARGO_TARGET_DIR": str(RUST_TARGET_DIR), **(env or {})}
        started = time.time()
        _, seconds = cargo_run([command, *patch_options(), *rest], self.project, None, extra)
        profile = "release" if "--release" in rest else "debug"
        built = RUST_TARGET_DIR / profile / f"lib{self.package}.so"
        # `cargo test` may build the library too (the crate's tests/library.rs runs cargo build).
        if command == "build" or (command == "test" and built.stat().st_mtime >= started):
            keep_library(RUST_TARGET_DIR, self.package, profile, self.project)
        return seconds

    def output(self, *arguments: str) -> str:
        command, *rest = arguments
        extra = {"CARGO_TARGET_DIR": str(RUST_TARGET_DIR)}
        done, _ = cargo_run([command, *patch_options(), *rest], self.project, None, extra)
        return done.stdout

    def build_and_test(self) -> dict[str, float]:
        """``cargo build`` (the tests open the library it writes), then ``cargo test``."""
        return {"build": self.cargo("build"), "test": self.cargo("test")}

    def lint(self) -> None:
        self.cargo("clippy", "--all-targets", "--", "-D", "warnings")
        # cargo fmt resolves nothing, so it takes no patch.
        cargo_run(["fmt", "--check"], self.project, None)


def render_crate(out: Path, **answers: str) -> Crate:
    """A Rust render of ``answers`` with its lock file written, not yet built."""
    previous = os.environ.get(SKIP_VARIABLE)
    os.environ[SKIP_VARIABLE] = "1"
    try:
        project = render(out, language="rust", **answers)
    finally:
        if previous is None:
            del os.environ[SKIP_VARIABLE]
        else:
            os.environ[SKIP_VARIABLE] = previous
    write_lockfile(project)
    write_patch_config(project.parent)
    manifest = (project / "Cargo.toml").read_text("utf-8")
    found = re.search(r'(?m)^\[lib\]\nname = "([^"]+)"', manifest)
    assert found, manifest
    return Crate(project, found.group(1))


def write_patch_config(folder: Path) -> None:
    """``folder/.cargo/config.toml`` pointing cargo at the vendored ABI crate."""
    crate = ABI_CRATES[0]
    config = folder / ".cargo" / "config.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        f'[patch."{GIT_SOURCE}"]\n{crate} = {{ path = "{VENDOR / crate}" }}\n', "utf-8"
    )


# The slow edit of the default method's work, for the timeout scenarios: a job whose name is
# "slow:3s" sleeps 3 s (tests/v2_library.py's SLOW_NAME), in plain jobs and streams alike.
SLOW_RUST = """    if args.name == "slow:3s" {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
"""


def add_slow_edit(crate: Crate, method: str = "run") -> None:
    runner = crate.project / "src" / "runner.rs"
    text = runner.read_text("utf-8")
    for kind in ("answer", "stream"):
        pattern = re.compile(rf"(async fn {kind}_{method}\([^{{]*\{{\n)")
        text = pattern.sub(lambda found: found.group(1) + SLOW_RUST, text, count=1)
    runner.write_text(text, "utf-8")


# The blocking edit: in the default method's plain answer, a job named "block:8s" blocks its
# thread for 8 s without awaiting, and one named "panic" panics with a message.
BLOCKING_RUST = """    if args.name == "block:8s" {
        std::thread::sleep(std::time::Duration::from_secs(8));
    }
    if args.name == "panic" {
        panic!("boom on request");
    }
"""


def add_blocking_edit(crate: Crate, method: str = "run") -> None:
    runner = crate.project / "src" / "runner.rs"
    text = runner.read_text("utf-8")
    pattern = re.compile(rf"(async fn answer_{method}\([^{{]*\{{\n)")
    edited, count = pattern.subn(lambda found: found.group(1) + BLOCKING_RUST, text, count=1)
    assert count == 1, text
    runner.write_text(edited, "utf-8")


# A test file dropped into a crate: prints the plugin's published schemas through its own
# `PluginV2` implementation, with the keys native/identity.py prints for the Python flavor.
# The host decodes `method_json_schema_map`'s bytes as JobWorkerP's `MethodJsonSchema`, declared
# here with the host's field numbers rather than taken from the crate's framework.
PRINT_SCHEMAS = """\
// The host's messages, from the file the crate itself compiles.
#[path = "../src/framework/schema.rs"]
#[allow(dead_code)]
mod schema;

use jobworkerp_plugin_abi::PluginV2;
use prost::Message;
use schema::MethodJsonSchema;

#[test]
fn print_schemas() {
    let plugin = PACKAGE::Plugin::default();
    let mut json_schemas = serde_json::Map::new();
    for (method, bytes) in plugin.method_json_schema_map().expect("a JSON Schema map") {
        let schema = MethodJsonSchema::decode(bytes.as_slice()).expect("MethodJsonSchema bytes");
        let texts = serde_json::json!({
            "args_schema": schema.args_schema,
            "result_schema": schema.result_schema,
            "client_stream_data_schema": schema.client_stream_data_schema,
        });
        json_schemas.insert(method, texts);
    }
    let printed = serde_json::json!({
        "settings_schema": plugin.settings_schema(),
        "json_schemas": json_schemas,
    });
    println!("SCHEMAS {printed}");
}
"""


def published_schemas(crate: Crate) -> dict[str, Any]:
    """The crate's settings schema and ``method_json_schema_map()``, as texts.

    ``{"settings_schema": text, "json_schemas": {method: {"args_schema": text, ...}}}``, printed
    by a test file written into the crate for the run (builds the library if needed).
    """
    printer = crate.project / "tests" / "print_schemas.rs"
    printer.write_text(PRINT_SCHEMAS.replace("PACKAGE", crate.package), "utf-8")
    try:
        printed = crate.output("test", "--test", "print_schemas", "--", "--nocapture")
    finally:
        printer.unlink()
    line = next(line for line in printed.splitlines() if line.startswith("SCHEMAS "))
    found: dict[str, Any] = json.loads(line.removeprefix("SCHEMAS "))
    return found
