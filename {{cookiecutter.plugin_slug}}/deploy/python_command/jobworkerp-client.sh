#!/usr/bin/env bash
# Run {{ cookiecutter.runner_name }} in JobWorkerP through its built-in PYTHON_COMMAND runner.
#
# 1. Finds the PYTHON_COMMAND runner's id (runner find-by-name -n PYTHON_COMMAND).
# 2. Creates the worker, whose settings install this plugin; a worker of that name made by an
#    earlier run is deleted first, so the script can be run again after any change.
# 3. Enqueues one job: the script is script.py, the input data is the envelope: input.json
#    with the job's method (USING) and args (ARGS) added.
# The job's result is a PythonCommandResult: `output` holds the plugin's JSON envelope. The job
# itself is SUCCESS even when the plugin failed, so read the envelope's "status" field.
#
# EDIT PLUGIN_PACKAGE below (or set it in the environment), then run this file from a shell
# whose `python3` has the plugin installed (your virtual environment), or set PYTHON.
# DRY_RUN=1 prints each command as a JSON list of its arguments instead of running it (the
# look-ups then find nothing).
# The worker host needs `uv` on the PATH of the JobWorkerP server: the runner builds the job's
# virtual environment with it. When a job fails before the script runs (no Python that fits
# PYTHON_VERSION, a package that does not install), the client prints only a decode error
# and the reason is in the server's log.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

# EDIT: what the worker host installs: the wheel's path on the worker host
# (/path/to/{{ cookiecutter.package_name }}-0.1.0-py3-none-any.whl, from `python -m build`), the
# project folder, or a VCS URL ('{{ cookiecutter.plugin_slug }} @ git+https://...@<tag>').
PLUGIN_PACKAGE="${PLUGIN_PACKAGE:-<wheel path, project folder or VCS URL>}"
# The Python of the job's virtual environment, as uv reads it: ">={{ cookiecutter.python_min }}" takes any Python
# on the worker host that the plugin supports (uv downloads one only when none is installed),
# where a bare "{{ cookiecutter.python_min }}" makes uv download that version on a host that has only a newer
# one, and the job fails (FATAL_ERROR) where it may not download.
PYTHON_VERSION="${PYTHON_VERSION:->={{ cookiecutter.python_min }}}"
ADDRESS="${ADDRESS:-http://localhost:9000}"
WORKER="${WORKER:-{{ cookiecutter.plugin_slug }}-python-command}"
CLIENT="${CLIENT:-jobworkerp-client}"
# The numeric id of the built-in PYTHON_COMMAND runner; empty: looked up by name.
RUNNER_ID="${RUNNER_ID:-}"
# The job: its method and its args as JSON with the args proto's field names. Unset, they come
# from the plugin itself (python -m {{ cookiecutter.package_name }} sample-args, run by PYTHON), so they follow
# your protos: the default method, with a value in every field of its args message.
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

if [ -z "${DRY_RUN:-}" ] && [[ "$PLUGIN_PACKAGE" == *"<"* ]]; then
    echo "edit PLUGIN_PACKAGE in $0 (or set it in the environment) first" >&2
    exit 2
fi

# The job's method and args, unless given: asked of the plugin (see USING and ARGS above).
USING="${USING:-$("$PYTHON" -m {{ cookiecutter.package_name }} sample-args --default-method)}"
ARGS="${ARGS:-$("$PYTHON" -m {{ cookiecutter.package_name }} sample-args "$USING")}"

# PythonCommandRunnerSettings: the Python version and the packages to install.
settings=$(json 'import json, sys
print(json.dumps({"python_version": sys.argv[1], "packages": {"list": [sys.argv[2]]}}))' \
    "$PYTHON_VERSION" "$PLUGIN_PACKAGE")

# PythonCommandArgs: the script and the envelope (input.json, the method and the args).
job_args=$(json 'import json, pathlib, sys
read = lambda name: (pathlib.Path(sys.argv[1]) / name).read_text("utf-8")
envelope = {**json.loads(read("input.json")), "using": sys.argv[2], "args": json.loads(sys.argv[3])}
print(json.dumps({"script_content": read("script.py"), "data_body": json.dumps(envelope)}))' \
    "$HERE" "$USING" "$ARGS")

if [ -z "$RUNNER_ID" ]; then
    RUNNER_ID="$(id_of runner find-by-name -n PYTHON_COMMAND)"
    RUNNER_ID="${RUNNER_ID:-<PYTHON_COMMAND runner id>}"
fi
# `worker update -s` of jobworkerp-client 0.14 cannot encode settings: replace the worker.
old_worker="$(id_of worker find-by-name -n "$WORKER")"
if [ -n "$old_worker" ]; then
    quiet worker delete --id "$old_worker"
    echo "replaced the worker $WORKER (id $old_worker)"
fi
# --use-static keeps the virtual environment between jobs (one per pool slot); without it the
# runner rebuilds it for every job. Either way every job runs in a new Python process.
quiet worker create -n "$WORKER" \
    -d "{{ cookiecutter.runner_name }} through PYTHON_COMMAND" \
    -r "$RUNNER_ID" -s "$settings" --use-static
client job enqueue -w "$WORKER" -a "$job_args"
