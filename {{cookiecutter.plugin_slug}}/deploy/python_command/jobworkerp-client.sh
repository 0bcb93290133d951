#!/usr/bin/env bash
# Run {{ cookiecutter.runner_name }} in JobWorkerP through its built-in PYTHON_COMMAND runner.
#
# 1. Creates a worker on the PYTHON_COMMAND runner whose settings install this plugin.
# 2. Enqueues one job: the script is script.py, the input data is input.json (the envelope).
# The job's result is a PythonCommandResult: `output` holds the plugin's JSON envelope. The job
# itself is SUCCESS even when the plugin failed, so read the envelope's "status" field.
#
# EDIT the values marked below (or set them in the environment), then run this file.
# DRY_RUN=1 prints each command as a JSON list of its arguments instead of running it.
# The worker host needs `uv` on its PATH: the runner builds the job's virtual environment with it.
set -euo pipefail
cd "$(dirname "$0")"

# EDIT: the numeric id of the built-in PYTHON_COMMAND runner on your JobWorkerP server.
RUNNER_ID="${RUNNER_ID:-<PYTHON_COMMAND runner id>}"
# EDIT: what the worker host installs: a wheel path on the worker host
# (/path/to/{{ cookiecutter.package_name }}-0.1.0-py3-none-any.whl) or a VCS URL.
PLUGIN_PACKAGE="${PLUGIN_PACKAGE:-{{ cookiecutter.plugin_slug }} @ git+https://github.com/<owner>/{{ cookiecutter.plugin_slug }}@<tag>}"
# EDIT: the Python version of the job's virtual environment ({{ cookiecutter.python_min }} or newer).
PYTHON_VERSION="${PYTHON_VERSION:-{{ cookiecutter.python_min }}}"
ADDRESS="${ADDRESS:-http://localhost:9000}"
WORKER="${WORKER:-{{ cookiecutter.plugin_slug }}-python-command}"
CLIENT="${CLIENT:-jobworkerp-client}"

json() {
    python3 -c "$1" "${@:2}"
}

# PythonCommandRunnerSettings: the Python version and the packages to install.
settings=$(json 'import json, sys
print(json.dumps({"python_version": sys.argv[1], "packages": {"list": [sys.argv[2]]}}))' \
    "$PYTHON_VERSION" "$PLUGIN_PACKAGE")

# PythonCommandArgs: the script and the input file's content.
job_args=$(json 'import json, pathlib
read = lambda name: pathlib.Path(name).read_text("utf-8")
print(json.dumps({"script_content": read("script.py"), "data_body": read("input.json")}))')

run() {
    if [ -n "${DRY_RUN:-}" ]; then
        json 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"
    else
        "$@"
    fi
}

if [ -z "${DRY_RUN:-}" ] && [[ "$RUNNER_ID$PLUGIN_PACKAGE" == *"<"* ]]; then
    echo "edit RUNNER_ID and PLUGIN_PACKAGE in $0 (or set them in the environment) first" >&2
    exit 2
fi

# --use-static keeps the virtual environment between jobs (one per pool slot); without it the
# runner rebuilds it for every job. Either way every job runs in a new Python process.
run "$CLIENT" --address "$ADDRESS" worker create -n "$WORKER" \
    -d "{{ cookiecutter.runner_name }} through PYTHON_COMMAND" \
    -r "$RUNNER_ID" -s "$settings" --use-static
run "$CLIENT" --address "$ADDRESS" job enqueue -w "$WORKER" -a "$job_args"
