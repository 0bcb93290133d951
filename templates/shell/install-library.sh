{#- The library installer of both flavors. The including file sets: library_kind (what it
    installs), script (its path in the project), crate_folder (the crate's folder, "" or
    "native/"), crate_from_script (the crate's folder from the script's) and build. -#}
#!/usr/bin/env bash
# Install the {{ library_kind }} into JobWorkerP's plugin folder, safely while the server runs.
#
# JobWorkerP maps every library it loads from PLUGINS_RUNNER_DIR (at start-up) into its own
# memory. `cp` of a new build over that file rewrites the pages the server has mapped, and the
# running server crashes at its next call into the library. This script copies the build to a
# temporary name in the same folder, then renames it over the old name (`mv`): the name then
# points at the new file, while the old file, which the server keeps mapped, stays intact until
# the server lets it go. A running server goes on with the old library; restart it to load the
# new one. The temporary name does not end in .so, so a server starting meanwhile never opens a
# half-written copy.
#
#   PLUGINS_RUNNER_DIR=/srv/jobworkerp/plugins {{ script }}
#
# PLUGINS_RUNNER_DIR  the folder to install into: one folder of the server's PLUGINS_RUNNER_DIR
#                     (required; the folder must exist).
# LIBRARY             the library to install; default: the release build,
#                     {{ crate_folder }}target/release/lib{{ cookiecutter.package_name }}.so ($CARGO_TARGET_DIR/release/... when
#                     CARGO_TARGET_DIR is set).
# Exits 0 once installed; 2 when a setting is wrong, with nothing changed.
set -euo pipefail
CRATE="$(cd "$(dirname "$0")/{{ crate_from_script }}" && pwd)"
NAME="lib{{ cookiecutter.package_name }}.so"
BUILD="{{ build }}"
EXAMPLE_LIBRARY="{{ crate_folder }}target/release/lib{{ cookiecutter.package_name }}.so"
DEFAULT_LIBRARY="${CARGO_TARGET_DIR:-$CRATE/target}/release/$NAME"
PLUGINS_RUNNER_DIR="${PLUGINS_RUNNER_DIR:-}"
LIBRARY="${LIBRARY:-$DEFAULT_LIBRARY}"
EXAMPLE_DIR=/srv/jobworkerp/plugins

# One line naming the setting, its value, the rule broken (with its code) and a valid example.
refuse() {
    echo "error: $1 = '$2': $3 [$4]. Valid example: $5" >&2
    echo "Nothing was installed." >&2
    exit 2
}

if [ -z "$PLUGINS_RUNNER_DIR" ]; then
    refuse PLUGINS_RUNNER_DIR "" "is not set: name the folder JobWorkerP loads plugins from" \
        plugins-dir-unset "PLUGINS_RUNNER_DIR=$EXAMPLE_DIR $0"
fi
if [[ "$PLUGINS_RUNNER_DIR" == *,* ]]; then
    refuse PLUGINS_RUNNER_DIR "$PLUGINS_RUNNER_DIR" \
        "names several folders; give the one folder to install into" \
        plugins-dir-list "PLUGINS_RUNNER_DIR=${PLUGINS_RUNNER_DIR%%,*}"
fi
if [ ! -d "$PLUGINS_RUNNER_DIR" ]; then
    refuse PLUGINS_RUNNER_DIR "$PLUGINS_RUNNER_DIR" \
        "is not an existing folder (create it, or give the server's PLUGINS_RUNNER_DIR)" \
        plugins-dir-missing "PLUGINS_RUNNER_DIR=$EXAMPLE_DIR"
fi
if [ ! -f "$LIBRARY" ]; then
    refuse LIBRARY "$LIBRARY" "no such file: build the library first ($BUILD) or name a built one" \
        library-not-built "LIBRARY=$EXAMPLE_LIBRARY"
fi

target="$PLUGINS_RUNNER_DIR/$NAME"
replaced=""
if [ -e "$target" ]; then
    replaced=1
fi
# A temporary name in the same folder (the same file system, so `mv` is a rename), without the
# .so ending the server looks for.
temporary="$(mktemp "$PLUGINS_RUNNER_DIR/.$NAME.XXXXXX")"
trap 'rm -f "$temporary"' EXIT
cp "$LIBRARY" "$temporary"
chmod 0755 "$temporary"
mv -f "$temporary" "$target"
trap - EXIT

if [ -n "$replaced" ]; then
    echo "installed $target (replaced the previous file by a rename: a running server keeps the library it loaded; restart it to load this one)"
else
    echo "installed $target (restart the server to load it, or register it now with: jobworkerp-client runner create -n {{ cookiecutter.runner_name }} -d '...' -r PLUGIN --definition $target)"
fi
