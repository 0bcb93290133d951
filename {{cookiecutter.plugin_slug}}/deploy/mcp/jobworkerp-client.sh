#!/usr/bin/env bash
# Run {{ cookiecutter.runner_name }} in JobWorkerP as an MCP server (the MCP_SERVER runner).
#
# 1. Registers the runner from runner-definition.toml, then stops until RUNNER_ID is set to the
#    id it printed; run again with SKIP_RUNNER=1. (Skip this step as well when the server is
#    listed in JobWorkerP's MCP_CONFIG file instead: see mcp-settings.toml.)
# 2. Creates a worker on it; an MCP_SERVER runner has no settings, so they are ''.
# 3. Enqueues one job of the method `{{ cookiecutter.methods.split(',')[0] | trim }}`.
# The job's result is an McpServerResult: `content` holds the result as JSON text and `is_error`
# tells whether the plugin failed (the job itself is SUCCESS either way).
#
# EDIT the values marked below (or set them in the environment), then run this file.
# DRY_RUN=1 prints each command as a JSON list of its arguments instead of running it.
set -euo pipefail
cd "$(dirname "$0")"

# EDIT: the numeric id JobWorkerP gave the MCP_SERVER runner (printed by step 1, or listed by
# the server when it came from MCP_CONFIG).
RUNNER_ID="${RUNNER_ID:-<MCP_SERVER runner id>}"
ADDRESS="${ADDRESS:-http://localhost:9000}"
RUNNER="${RUNNER:-{{ cookiecutter.runner_name }}}"
WORKER="${WORKER:-{{ cookiecutter.plugin_slug }}-mcp}"
CLIENT="${CLIENT:-jobworkerp-client}"
# The job: which method, and its args as JSON with the args proto's field names.
USING="${USING:-{{ cookiecutter.methods.split(',')[0] | trim }}}"
EXAMPLE_ARGS='{"name": "Ada"}'
ARGS="${ARGS:-$EXAMPLE_ARGS}"

run() {
    if [ -n "${DRY_RUN:-}" ]; then
        python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"
    else
        "$@"
    fi
}

if [ -z "${SKIP_RUNNER:-}" ]; then
    run "$CLIENT" --address "$ADDRESS" runner create -n "$RUNNER" \
        -d "{{ cookiecutter.runner_name }} as an MCP server" -r MCP_SERVER \
        --definition @runner-definition.toml
fi
if [ -z "${DRY_RUN:-}" ] && [[ "$RUNNER_ID" == *"<"* ]]; then
    echo "set RUNNER_ID to the MCP_SERVER runner's id (edit $0 or the environment)" >&2
    exit 2
fi
run "$CLIENT" --address "$ADDRESS" worker create -n "$WORKER" \
    -d "{{ cookiecutter.runner_name }} as an MCP server" -r "$RUNNER_ID" -s ''
run "$CLIENT" --address "$ADDRESS" job enqueue -w "$WORKER" --using "$USING" -a "$ARGS"
