# Shared preamble of the playbook-level integration targets (source it from a runme.sh):
#   HERE="$(cd "$(dirname "$0")" && pwd)"; . "$HERE/../../lib.sh"; it_init NAME
# it_init NAME: REPO, PY, PLAYBOOK (array), MESH_SANDBOX_HOME (default .cache/sandbox-it-NAME,
#   emptied), LOGS, PYTHONPATH, ANSIBLE_COLLECTIONS_PATH; checks the collection link.
# it_join_plain_cluster: the same variables inside target plain_cluster (its home kept, MESH_IT_PLAIN_CLUSTER
#   names its running cluster).
# it_need_istioctl: fails (builds nothing) unless the sandbox's istioctl build exists.
# it_clouds_up: starts the cloud emulators (`meshsandbox clouds up`), sources their env.sh and
#   installs an EXIT trap (reached on TERM/INT too) that stops emulators and clusters (keeping the exit code;
#   after a failure the clusters' component logs are first copied to $LOGS/clusters).
# step / fail / run LOG ARGS... (ansible-playbook, output kept in $LOGS/LOG.log and echoed)
# recap_changed_zero LOGFILE / emulator_clusters (names of the clusters both emulators hold)
# shellcheck shell=bash

it_init() {
    local name=$1
    REPO=${MESH_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    PY=${MESH_PYTHON:-$REPO/.venv/bin/python}
    PLAYBOOK=("$(dirname "$PY")/ansible-playbook")
    export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$REPO/.cache/sandbox-it-$name}
    export PYTHONPATH="$REPO/sandbox"
    export ANSIBLE_COLLECTIONS_PATH="$REPO/.cache/collections"
    LOGS="$MESH_SANDBOX_HOME/it-logs"
    [ -e "$REPO/.cache/collections/ansible_collections/multicloud/mesh" ] || {
        echo "multicloud.mesh is not linked under .cache/collections: run scripts/bootstrap.sh" >&2; exit 1; }
    # A fresh home: stop the emulators and clusters an earlier run may have left, then start from nothing.
    "$PY" -m meshsandbox clouds down >/dev/null 2>&1 || true
    "$PY" -m meshsandbox down --all >/dev/null 2>&1 || true
    rm -rf "$MESH_SANDBOX_HOME"
    mkdir -p "$LOGS" && chmod 700 "$MESH_SANDBOX_HOME"
}

it_join_plain_cluster() {  # inside target plain_cluster: its home and cluster, nothing wiped or started
    REPO=${MESH_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    PY=${MESH_PYTHON:-$REPO/.venv/bin/python}
    PLAYBOOK=("$(dirname "$PY")/ansible-playbook")
    : "${MESH_SANDBOX_HOME:?MESH_IT_PLAIN_CLUSTER is set but MESH_SANDBOX_HOME is not: run target plain_cluster}"
    export PYTHONPATH="$REPO/sandbox"
    export ANSIBLE_COLLECTIONS_PATH="$REPO/.cache/collections"
    LOGS="$MESH_SANDBOX_HOME/it-logs"
}

it_need_istioctl() {
    # shellcheck source=/dev/null
    . "$REPO/sandbox/build/istio/version.env"
    [ -x "$REPO/.cache/bin/istio-$ISTIO_VERSION/istioctl" ] || {
        echo "$(basename "$(dirname "$0")"): .cache/bin/istio-$ISTIO_VERSION/istioctl is missing: run" \
             "scripts/bootstrap.sh (or 'bash sandbox/build/build.sh istio'); this test builds nothing" >&2; exit 1; }
}

it_keep_cluster_logs() {  # a failed run keeps its clusters' component logs (the clusters' folders go with them)
    local dir
    for dir in "$MESH_SANDBOX_HOME"/clusters/*/; do
        [ -d "$dir" ] || continue
        mkdir -p "$LOGS/clusters/$(basename "$dir")"
        cp -p "$dir"*.log "$LOGS/clusters/$(basename "$dir")/" 2>/dev/null || true
        [ -d "$dir/istiod" ] && cp -p "$dir"istiod/*.log "$LOGS/clusters/$(basename "$dir")/" 2>/dev/null
    done
    echo "component logs of the clusters kept in $LOGS/clusters" >&2
}

it_clouds_down() {
    local rc=$?
    [ "$rc" -eq 0 ] || it_keep_cluster_logs
    "$PY" -m meshsandbox clouds down || true
    "$PY" -m meshsandbox down --all >/dev/null 2>&1 || true
    exit $rc
}

it_clouds_up() {
    trap it_clouds_down EXIT
    trap 'exit 143' TERM   # a killed test (e.g. by timeout) still runs the EXIT trap: nothing left running
    trap 'exit 130' INT
    "$PY" -m meshsandbox clouds up "$@"
    # shellcheck disable=SC1091
    . "$MESH_SANDBOX_HOME/clouds/env.sh"
}

step() { echo "=== $* ($(date +%T))"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
run() { local name=$1; shift; "${PLAYBOOK[@]}" "$@" 2>&1 | tee "$LOGS/$name.log"; return "${PIPESTATUS[0]}"; }

recap_changed_zero() {  # every host line of the PLAY RECAP has changed=0
    local recap; recap=$(sed -n '/^PLAY RECAP/,$p' "$1" | grep -E ' : ok=')
    [ -n "$recap" ] || fail "no PLAY RECAP in $1"
    if grep -vqE ' changed=0 ' <<<"$recap"; then echo "$recap"; return 1; fi
}

emulator_clusters() {
    "$PY" - <<'PYEOF'
import json, os, urllib.request
names = []
for url in (os.environ["AWS_ENDPOINT_URL"] + "/_sandbox/status", os.environ["GKE_API_ENDPOINT"] + "/_emulator/state"):
    with urllib.request.urlopen(url, timeout=10) as resp:
        names += [c["name"] for c in json.load(resp).get("clusters", [])]
print(" ".join(names))
PYEOF
}
