#!/usr/bin/env bash
# Lock the bridge's dependencies against a local copy of JobWorkerP's ABI crates, for a build
# that cannot reach GitHub.
#
# Cargo.toml names jobworkerp-plugin-abi by git (jobworkerp-rs, a pinned rev). A `[patch]` that
# points that source at a local copy is not enough on its own: without a Cargo.lock, cargo
# fetches the git source to resolve the graph before it applies the patch. This script writes
# that Cargo.lock: it resolves a scratch copy of the manifest whose ABI dependency is the local
# copy (crates.io must be reachable), then puts the lock file beside Cargo.toml and prints the
# build command, which carries the same patch.
#
#   ABI_COPY=/src/jobworkerp-rs/modules native/lock-offline.sh
#
# ABI_COPY  the folder that holds the jobworkerp-plugin-abi crate and its macros crate
#           (jobworkerp-plugin-abi/ and jobworkerp-plugin-abi-macros/ of a checkout of
#           jobworkerp-rs at the pinned rev).
# Exits 0 with the lock file written; 2 when ABI_COPY is wrong, with nothing changed.
set -euo pipefail
CRATE="$(cd "$(dirname "$0")" && pwd)"
GIT_SOURCE="https://github.com/jobworkerp-rs/jobworkerp-rs"
ABI=jobworkerp-plugin-abi
ABI_COPY="${ABI_COPY:-}"
EXAMPLE="ABI_COPY=/src/jobworkerp-rs/modules $0"

if [ -z "$ABI_COPY" ] || [ ! -f "$ABI_COPY/$ABI/Cargo.toml" ]; then
    echo "error: ABI_COPY = '$ABI_COPY': must be a folder holding $ABI/Cargo.toml" \
        "(and $ABI-macros/) [abi-copy-missing]. Valid example: $EXAMPLE" >&2
    echo "Nothing was changed." >&2
    exit 2
fi
copy="$(cd "$ABI_COPY/$ABI" && pwd)"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/src"
touch "$scratch/src/lib.rs"
# The manifest with the ABI dependency as a path; no build script (the scratch crate is never
# built, only resolved).
sed -e "s|git = \"$GIT_SOURCE\", rev = \"[0-9a-f]*\"|path = \"$copy\"|" \
    -e '/^build = /d' "$CRATE/Cargo.toml" >"$scratch/Cargo.toml"
if grep -q "git = \"$GIT_SOURCE\"" "$scratch/Cargo.toml"; then
    echo "error: Cargo.toml names $GIT_SOURCE in a form this script does not rewrite" \
        "(expected: git = \"...\", rev = \"...\"). Nothing was changed." >&2
    exit 2
fi
cargo generate-lockfile --quiet --manifest-path "$scratch/Cargo.toml"
cp "$scratch/Cargo.lock" "$CRATE/Cargo.lock"

echo "wrote $CRATE/Cargo.lock; build with:"
echo "  cargo build --release --manifest-path $CRATE/Cargo.toml --config 'patch.\"$GIT_SOURCE\".$ABI.path=\"$copy\"'"
