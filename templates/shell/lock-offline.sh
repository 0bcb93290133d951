{#- The offline lock of both flavors. The including file sets: crate_kind (whose crate),
    script (its path in the project), crate_from_script (the crate's folder from the script's;
    the script's own folder is one below the project's) and build (the build command, run in
    the project's folder). -#}
#!/usr/bin/env bash
# Lock the {{ crate_kind }}'s dependencies against a local copy of JobWorkerP's ABI crates, for a
# build that cannot reach GitHub.
#
# Cargo.toml names jobworkerp-plugin-abi by git (jobworkerp-rs, a pinned rev). A `[patch]` that
# points that source at a local copy is not enough on its own: without a Cargo.lock, cargo
# fetches the git source to resolve the graph before it applies the patch. This script
#   1. writes that Cargo.lock: it resolves a scratch copy of the manifest whose ABI dependency
#      is the local copy (crates.io must be reachable), and puts the lock beside Cargo.toml;
#   2. writes the patch into the project's .cargo/config.toml, which every cargo command run in
#      the project reads (those that tests start too, unlike a `--config` option).
# .cargo/config.toml then holds this machine's path to the copy: keep it out of version control.
#
#   ABI_COPY=/src/jobworkerp-rs/modules {{ script }}
#
# ABI_COPY  the folder that holds the jobworkerp-plugin-abi crate and its macros crate
#           (jobworkerp-plugin-abi/ and jobworkerp-plugin-abi-macros/ of a checkout of
#           jobworkerp-rs at the pinned rev).
# Exits 0 with both files written; 2 when a setting is wrong, with nothing changed.
set -euo pipefail
CRATE="$(cd "$(dirname "$0")/{{ crate_from_script }}" && pwd)"
PROJECT="$(cd "$(dirname "$0")/.." && pwd)"
CONFIG="$PROJECT/.cargo/config.toml"
GIT_SOURCE="https://github.com/jobworkerp-rs/jobworkerp-rs"
ABI=jobworkerp-plugin-abi
ABI_COPY="${ABI_COPY:-}"
EXAMPLE="ABI_COPY=/src/jobworkerp-rs/modules $0"

# One line naming the setting, its value, the rule broken (with its code) and a valid example.
refuse() {
    echo "error: $1 = '$2': $3 [$4]. Valid example: $5" >&2
    echo "Nothing was changed." >&2
    exit 2
}

if [ -z "$ABI_COPY" ] || [ ! -f "$ABI_COPY/$ABI/Cargo.toml" ]; then
    refuse ABI_COPY "$ABI_COPY" "must be a folder holding $ABI/Cargo.toml (and $ABI-macros/)" \
        abi-copy-missing "$EXAMPLE"
fi
copy="$(cd "$ABI_COPY/$ABI" && pwd)"
if [ -f "$CONFIG" ]; then
    refuse CONFIG "$CONFIG" "exists already; add the patch to it yourself:" \
        cargo-config-exists "[patch.\"$GIT_SOURCE\"] $ABI = { path = \"$copy\" }"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/src"
touch "$scratch/src/lib.rs"
# The manifest with the ABI dependency as a path; no build script (the scratch crate is never
# built, only resolved).
sed -e "s|git = \"$GIT_SOURCE\", rev = \"[0-9a-f]*\"|path = \"$copy\"|" \
    -e '/^build = /d' "$CRATE/Cargo.toml" >"$scratch/Cargo.toml"
if grep -q "git = \"$GIT_SOURCE\"" "$scratch/Cargo.toml"; then
    refuse Cargo.toml "$CRATE/Cargo.toml" "names $GIT_SOURCE in a form this script does not rewrite" \
        abi-spec-unknown "$ABI = { git = \"$GIT_SOURCE\", rev = \"<rev>\" }"
fi
cargo generate-lockfile --quiet --manifest-path "$scratch/Cargo.toml"
cp "$scratch/Cargo.lock" "$CRATE/Cargo.lock"
mkdir -p "$PROJECT/.cargo"
printf '[patch."%s"]\n%s = { path = "%s" }\n' "$GIT_SOURCE" "$ABI" "$copy" >"$CONFIG"

echo "wrote $CRATE/Cargo.lock and $CONFIG; cargo now builds the {{ crate_kind }} without GitHub:"
echo "  {{ build }}"
