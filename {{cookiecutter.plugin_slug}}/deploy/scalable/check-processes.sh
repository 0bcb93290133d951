{%- set methods = cookiecutter.methods | method_names -%}
{%- set default = methods | sample_method -%}
#!/usr/bin/env bash
# Check that every JobWorkerP process that takes {{ cookiecutter.runner_name }}'s jobs has the plugin (Scalable mode).
#
# In Scalable mode every process whose WORKER_CHANNELS lists the worker's channel takes a share
# of its jobs from Redis. A process that lacks the plugin takes its share all the same and drops
# those jobs: no result is stored and a caller waits for its timeout. JobWorkerP does not say
# which process loaded which plugin, so this script asks in two ways:
# 1. `worker-instance list --active-only true --channel CHANNEL`: the processes serving the
#    channel (hostname, address); with PROCESSES set, exactly that many must serve it.
# 2. Probe jobs, PROBES_PER_PROCESS per process, PARALLEL at a time, on WORKER (a worker on the
#    channel whose response type is DIRECT, the default of `worker create`): they spread over
#    the processes, and every one must answer SUCCESS within TIMEOUT_MS. With 10 probes per
#    process, a process that takes its share misses all of them with a chance of
#    (1 - 1/processes)^probes: about 1 in 1,000,000 for two processes.
# Exits 0 when every probe answered, 1 otherwise (with what failed).
#
# DRY_RUN=1 prints each command as a JSON list of its arguments instead of running it.
set -euo pipefail

ADDRESS="${ADDRESS:-http://localhost:9000}"
CLIENT="${CLIENT:-jobworkerp-client}"
CHANNEL="${CHANNEL:-{{ cookiecutter.package_name }}}"
WORKER="${WORKER:-{{ cookiecutter.plugin_slug }}}"
USING="${USING:-{{ default }}}"
EXAMPLE_ARGS='{"name": "probe"}'
ARGS="${ARGS:-$EXAMPLE_ARGS}"
# A method that only streams is probed with enqueue-for-stream.
STREAM="${STREAM:-{% if cookiecutter.streaming_mode == 'streaming' %}1{% endif %}}"
PROCESSES="${PROCESSES:-}"
PROBES_PER_PROCESS="${PROBES_PER_PROCESS:-10}"
PARALLEL="${PARALLEL:-4}"
TIMEOUT_MS="${TIMEOUT_MS:-30000}"

json() {
    python3 -c "$1" "${@:2}"
}

# jobworkerp-client writes an empty jobworkerp-client_<hex>.log into its working folder on every
# call: it runs from a scratch folder, removed at exit, so that no log lands here or in yours.
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

client() {
    if [ -n "${DRY_RUN:-}" ]; then
        json 'import json, sys; print(json.dumps(sys.argv[1:]))' "$CLIENT" --address "$ADDRESS" "$@"
    else
        (cd "$SCRATCH" && exec "$CLIENT" --address "$ADDRESS" "$@")
    fi
}

probe_command() {
    if [ -n "$STREAM" ]; then
        echo job enqueue-for-stream
    else
        echo job enqueue
    fi
}

# One probe: prints "ok" or what went wrong, on one line.
probe() {
    local out status=0
    # shellcheck disable=SC2046
    out="$(timeout "$((TIMEOUT_MS / 1000 + 5))" "$CLIENT" --address "$ADDRESS" $(probe_command) \
        -w "$WORKER" --using "$USING" -a "$ARGS" -t "$TIMEOUT_MS" 2>&1)" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "no answer (exit $status): $(echo "$out" | grep -m1 -E 'Err|error|Error' || true)"
    elif [ -n "$STREAM" ] && echo "$out" | grep -q 'results received'; then
        echo ok
    elif [ -z "$STREAM" ] && echo "$out" | grep -q 'Status: SUCCESS'; then
        echo ok
    else
        echo "failed: $(echo "$out" | grep -m1 -E 'Status|Err|error' || true)"
    fi
}

if [ -n "${DRY_RUN:-}" ]; then
    client worker-instance list --active-only true --channel "$CHANNEL" --format json
    # shellcheck disable=SC2046
    client $(probe_command) -w "$WORKER" --using "$USING" -a "$ARGS" -t "$TIMEOUT_MS"
    exit 0
fi

instances="$(client worker-instance list --active-only true --channel "$CHANNEL" --format json)"
serving="$(json 'import json, sys
text = sys.argv[1].strip()
found = json.loads(text) if text[:1] in "[{" else []
found = found if isinstance(found, list) else [found]
channel = sys.argv[2]
serving = [i for i in found if any(c.get("name") == channel for c in i.get("channels", []))]
for i in serving:
    print("  instance", i["id"], "on", i.get("hostname"), i.get("ip_address"), file=sys.stderr)
print(len(serving))' "$instances" "$CHANNEL")"
echo "$serving active process(es) take jobs of channel $CHANNEL"
if [ "$serving" -eq 0 ]; then
    echo "no process serves channel $CHANNEL: start the processes that have the plugin with WORKER_CHANNELS=$CHANNEL" >&2
    exit 1
fi
if [ -n "$PROCESSES" ] && [ "$serving" -ne "$PROCESSES" ]; then
    echo "expected $PROCESSES process(es) on channel $CHANNEL, found $serving" >&2
    exit 1
fi

count=$((serving * PROBES_PER_PROCESS))
export -f probe probe_command
export CLIENT ADDRESS WORKER USING ARGS STREAM TIMEOUT_MS
answers="$(cd "$SCRATCH" && seq "$count" | xargs -P "$PARALLEL" -I{} bash -c probe)"
failed="$(echo "$answers" | grep -cv '^ok$' || true)"
if [ "$failed" -ne 0 ]; then
    echo "$failed of $count probe jobs on $WORKER failed or got no answer: a process on channel $CHANNEL lacks the plugin, or the plugin fails" >&2
    echo "$answers" | grep -v '^ok$' | sort | uniq -c >&2
    exit 1
fi
echo "all $count probe jobs on $WORKER answered SUCCESS"
