"""The Rust flavor's crate: rendered, built, its own tests run, clippy and rustfmt clean.

The default lane builds the defaults once per session (``rust_crate``); the full lane adds
every streaming mode, several method lists (names prost-build renames, a long runner name for
rustfmt's wrapping) and the post-generation check itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from tests.native_support import VENDOR, cargo, write_lockfile
from tests.rust_support import RUST_TARGET_DIR, Crate, render_crate, write_patch_config
from tests.support import SKIP_VARIABLE, render_cli

SKIP = {SKIP_VARIABLE: "1"}

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)


@pytest.fixture(scope="session")
def rust_crate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crate]:
    """The defaults after ``cargo test`` alone: it builds the ``.so`` it checks itself."""
    crate = render_crate(tmp_path_factory.mktemp("rust-default"))
    seconds = crate.cargo("test")
    print(f"Rust defaults: cargo test {seconds:.1f} s")
    yield crate


def passed(printed: str, *names: str) -> None:
    """Each named test of ``cargo test``'s output passed."""
    for name in names:
        assert re.search(rf"^test {name} \.\.\. ok$", printed, re.MULTILINE), (name, printed)


def test_the_rust_defaults_pass_the_contract_suite_and_the_library_checks(
    rust_crate: Crate,
) -> None:
    """A fresh render's ``cargo test`` (no ``cargo build`` before it) built the ``.so``."""
    assert rust_crate.library.is_file()
    printed = rust_crate.output("test", "--test", "plugin", "--test", "library")
    passed(
        printed,
        "the_plugin_keeps_the_v2_contract",
        "run_greets_with_the_settings",
        "run_streams_the_greeting_word_by_word",
        "the_library_exports_the_v2_entry_points_and_no_v1_one",
        "the_library_names_the_table_s_runner_and_methods",
        "every_method_runs_through_the_ffi_layer",
    )


def test_the_library_test_rebuilds_a_stale_library(rust_crate: Crate, tmp_path: Path) -> None:
    """An edit after the last build: ``cargo test`` checks the edited ``.so``, not the old one.

    A render of its own (its own library name), so the defaults' library stays as it was.
    """
    crate = render_crate(tmp_path, plugin_name="Stale Check")
    crate.cargo("build")
    runner = crate.project / "src" / "runner.rs"
    text = runner.read_text("utf-8")
    name = 'const NAME: &str = "StaleCheck";'
    assert name in text
    runner.write_text(text.replace(name, 'const NAME: &str = "StaleEdited";'), "utf-8")
    printed = crate.output("test", "--test", "library")
    passed(printed, "the_library_names_the_table_s_runner_and_methods")
    assert b"StaleEdited" in crate.target_library.read_bytes()


def test_the_rust_defaults_pass_clippy_and_rustfmt(rust_crate: Crate) -> None:
    rust_crate.lint()


def test_the_manifest_names_the_crate_the_library_and_the_pinned_abi(rust_crate: Crate) -> None:
    manifest = tomllib.loads((rust_crate.project / "Cargo.toml").read_text("utf-8"))
    assert manifest["package"]["name"] == "hello-world"
    assert manifest["package"]["edition"] == "2024"
    assert manifest["package"]["rust-version"] == "1.85", "edition 2024 needs 1.85"
    assert manifest["lib"] == {"name": "hello_world", "crate-type": ["cdylib", "rlib"]}
    abi = manifest["dependencies"]["jobworkerp-plugin-abi"]
    assert set(abi) == {"git", "rev"}, "git with a pinned rev, never git and path together"
    assert manifest["profile"]["release"]["panic"] == "unwind"
    framework = (rust_crate.project / "src" / "framework" / "mod.rs").read_text("utf-8")
    recorded = manifest["package"]["metadata"]["jobworkerp-plugin"]["framework_version"]
    assert f'pub const FRAMEWORK_VERSION: &str = "{recorded}";' in framework


def test_the_library_exports_the_v2_entry_points_and_no_v1_ones(rust_crate: Crate) -> None:
    """JobWorkerP probes ``load_multi_method_plugin_v2`` first; a V1 symbol would need its rustc."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    symbols = subprocess.run(
        [nm, "-D", "--defined-only", str(rust_crate.library)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    exported = {line.split()[-1] for line in symbols.splitlines() if " T " in line}
    plugin_symbols = {name for name in exported if "multi_method_plugin" in name}
    assert plugin_symbols == {"load_multi_method_plugin_v2", "free_multi_method_plugin_v2"}


def test_a_proto_that_imports_another_is_refused_by_the_build(
    rust_crate: Crate, tmp_path: Path
) -> None:
    """JobWorkerP compiles each text alone: the build says so instead of the server."""
    project = tmp_path / "crate"
    shutil.copytree(rust_crate.project, project)
    args = project / "protos" / "run_args.proto"
    text = args.read_text("utf-8").replace(
        'syntax = "proto3";', 'syntax = "proto3";\nimport "run_result.proto";'
    )
    args.write_text(text, "utf-8")
    with pytest.raises(AssertionError, match=r"protos/run_args\.proto imports run_result\.proto"):
        Crate(project, rust_crate.package).cargo("build")


def test_a_helper_message_name_two_files_share_is_explained_by_the_build(
    rust_crate: Crate, tmp_path: Path
) -> None:
    """One package, one Rust module: two top-level ``Item`` messages cannot both be in it."""
    project = tmp_path / "crate"
    shutil.copytree(rust_crate.project, project)
    for role in ("args", "result"):
        proto = project / "protos" / f"run_{role}.proto"
        proto.write_text(proto.read_text("utf-8") + "\nmessage Item {\n  string x = 1;\n}\n")
    with pytest.raises(AssertionError, match=r"(?s)already defined.*hint: .*distinct names"):
        Crate(project, rust_crate.package).cargo("build")


# Full lane -----------------------------------------------------------------------------


@pytest.mark.full
@pytest.mark.parametrize(
    "answers",
    [
        {"streaming_mode": "non_streaming", "methods": "run, count_words"},
        {"streaming_mode": "streaming", "methods": "summarize, run"},
        # No `run` method: a job without `using` is refused (several) or gets the only method.
        {"streaming_mode": "both", "methods": "a_b, http2_get, x9y_z"},
        {"streaming_mode": "streaming", "methods": "summarize"},
        {
            "plugin_name": "A Very Long Plugin Name For Wrapping",
            "methods": "run, a_rather_long_method_name_here",
        },
    ],
    ids=["non-streaming", "streaming", "renamed-by-prost", "only-method", "long-names"],
)
def test_more_renders_build_and_pass_their_tests_and_lints(
    tmp_path: Path, answers: dict[str, str]
) -> None:
    crate = render_crate(tmp_path, **{"plugin_name": "Rust Mode Tools", **answers})
    crate.build_and_test()
    crate.lint()


@pytest.mark.full
def test_the_printed_next_steps_work_as_written_on_a_fresh_render(tmp_path: Path) -> None:
    """The summary's commands, run as printed: a release build, then ``cargo test``."""
    result = render_cli(tmp_path, {"language": "rust", "plugin_name": "Next Steps"}, SKIP)
    assert result.returncode == 0, result.stderr
    steps = [line.strip() for line in result.stdout.split("Next steps:\n", 1)[1].splitlines()]
    assert steps[0].startswith("cd ") and steps[1] == "cargo build --release && cargo test"
    project = tmp_path / "next-steps"
    write_lockfile(project)
    write_patch_config(tmp_path)  # what GitHub would give: the ABI crates
    done = subprocess.run(
        ["sh", "-c", f"{steps[0]} && {steps[1]}"],
        cwd=tmp_path,
        env={**os.environ, "CARGO_TARGET_DIR": str(RUST_TARGET_DIR), "CARGO_TERM_COLOR": "never"},
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    passed(
        done.stdout, "the_plugin_keeps_the_v2_contract", "every_method_runs_through_the_ffi_layer"
    )


@pytest.mark.full
def test_the_post_generation_check_keeps_the_project_when_cargo_cannot_fetch(
    tmp_path: Path,
) -> None:
    """With cargo present and checks on: built and tested, or (GitHub out of reach) kept."""
    checks_on = {key: value for key, value in os.environ.items() if key != SKIP_VARIABLE}
    result = render_cli(tmp_path, {"language": "rust"}, inherit=checks_on)
    assert result.returncode == 0, result.stderr
    assert (
        "Crate built; its tests" in result.stdout
        or "cargo could not fetch the dependencies" in result.stdout
    ), result.stdout
    assert (tmp_path / "hello-world" / "Cargo.toml").is_file()
