#!/usr/bin/env bash
# Run {{ cookiecutter.runner_name }} in JobWorkerP as an MCP server (the MCP_SERVER runner).
#
# 1. Finds the runner named RUNNER; when there is none (the server is not in JobWorkerP's
#    MCP_CONFIG file, see mcp-settings.toml), registers it from runner-definition.toml.
# 2. Creates a worker on it with --use-static; an MCP_SERVER runner has no settings, so they
#    are {}. A worker of that name made by an earlier run is deleted first, so the script can be
#    run again. (To change runner-definition.toml afterwards, delete the runner first:
#    jobworkerp-client runner delete --id <id>.)
# 3. Enqueues one job: the method USING with the args ARGS.
# The job's result is an McpServerResult: `content` holds the result as JSON text and `is_error`
# tells whether the plugin failed (the job itself is SUCCESS either way).
#
# EDIT `command` in runner-definition.toml first (the Python that has the plugin installed).
# Run this file from a shell whose `python3` has the plugin installed, or set PYTHON.
# DRY_RUN=1 prints each command as a JSON list of its arguments instead of running it (the
# look-ups then find nothing).
# If `runner create` fails with only "Internal server error", the plugin's MCP server did not
# start: its reason is in the JobWorkerP server's log (the server's stderr). Check the settings
# first with the same Python: python -m {{ cookiecutter.package_name }} check-settings --settings '<JSON>'.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

ADDRESS="${ADDRESS:-http://localhost:9000}"
RUNNER="${RUNNER:-{{ cookiecutter.runner_name }}}"
WORKER="${WORKER:-{{ cookiecutter.plugin_slug }}-mcp}"
CLIENT="${CLIENT:-jobworkerp-client}"
# The job: its method (a tool) and its args as JSON with the args proto's field names. Unset,
# they come from the plugin itself (python -m {{ cookiecutter.package_name }} sample-args, run by PYTHON), so they
# follow your protos: the default method, with a value in every field of its args message (map
# fields as JSON text, as the MCP tool's args proto holds them).
USING="${USING:-}"
ARGS="${ARGS:-}"
PYTHON="${PYTHON:-python3}"

json() {
    python3 -c "$1" "${@:2}"
}

# jobworkerp-client writes an empty jobworkerp-client_<hex>.log into its working folder on every
# call: it runs from a scratch folder, removed at exit, so that no log lands here or in yours.
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

# A dry run prints on the script's stdout (file descriptor 3), even from inside $(...).
exec 3>&1
client() {
    if [ -n "${DRY_RUN:-}" ]; then
        json 'import json, sys; print(json.dumps(sys.argv[1:]))' "$CLIENT" --address "$ADDRESS" "$@" >&3
    else
        (cd "$SCRATCH" && exec "$CLIENT" --address "$ADDRESS" "$@")
    fi
}

# A command whose long answer (the created record) is left out.
quiet() {
    if [ -n "${DRY_RUN:-}" ]; then client "$@"; else client "$@" >/dev/null; fi
}

# The "id" of what a find-by-name printed as JSON; empty when nothing was found.
id_of() {
    if [ -n "${DRY_RUN:-}" ]; then
        client "$@" --format json
        return 0
    fi
    client "$@" --format json | json 'import json, sys
try:
    print(json.load(sys.stdin)["id"])
except ValueError:
    pass  # "... not found" is printed as text'
}

# The job's method and args, unless given: asked of the plugin (see USING and ARGS above).
USING="${USING:-$("$PYTHON" -m {{ cookiecutter.package_name }} sample-args --default-method)}"
ARGS="${ARGS:-$("$PYTHON" -m {{ cookiecutter.package_name }} sample-args --mcp "$USING")}"

runner_id="$(id_of runner find-by-name -n "$RUNNER")"
if [ -z "$runner_id" ]; then
    quiet runner create -n "$RUNNER" \
        -d "{{ cookiecutter.runner_name }} as an MCP server" -r MCP_SERVER \
        --definition "@$HERE/runner-definition.toml"
    runner_id="$(id_of runner find-by-name -n "$RUNNER")"
    runner_id="${runner_id:-<MCP_SERVER runner id>}"
fi
old_worker="$(id_of worker find-by-name -n "$WORKER")"
if [ -n "$old_worker" ]; then
    quiet worker delete --id "$old_worker"
    echo "replaced the worker $WORKER (id $old_worker)"
fi
# --use-static keeps one MCP server process per pool slot, started once; without it every job
# starts a new Python process, imports the plugin and loads it (about a second a job, against
# tens of milliseconds).
quiet worker create -n "$WORKER" \
    -d "{{ cookiecutter.runner_name }} as an MCP server" -r "$runner_id" -s '{}' --use-static
client job enqueue -w "$WORKER" --using "$USING" -a "$ARGS"
