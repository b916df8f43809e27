#!/usr/bin/env bash
# Run the gke_cluster integration test with ansible-playbook.
#
# Uses the emulator at $MESH_GKE_EMULATOR_URL when set (and $GCP_SERVICE_ACCOUNT_FILE, or mints a
# key from it); otherwise starts its own emulator on a free port (real local clusters unless
# GKE_IT_CLUSTERS=none), and stops it (by its PID) at the end. GKE_IT_CLUSTERS (real|none, default
# real) is also what the playbook expects of the emulator's clusters: with an emulator of your own, set
# it to how that emulator was started. Local clusters live in MESH_SANDBOX_HOME (default
# .cache/sandbox-it-gke, this target's own), where the playbook looks them up.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
export PYTHONPATH="$repo/sandbox${PYTHONPATH:+:$PYTHONPATH}"
export MESH_SANDBOX_HOME="${MESH_SANDBOX_HOME:-$repo/.cache/sandbox-it-gke}"
export GKE_IT_CLUSTERS="${GKE_IT_CLUSTERS:-real}"
mkdir -p "$MESH_SANDBOX_HOME" && chmod 700 "$MESH_SANDBOX_HOME"
work="${GKE_IT_WORKDIR:-$(mktemp -d /tmp/gke-cluster-it.XXXXXX)}"
export GKE_IT_WORKDIR="$work"
mkdir -p "$work" && chmod 700 "$work"
emu_pid=""
cleanup() { if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [ -z "${MESH_GKE_EMULATOR_URL:-}" ]; then
  port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$py" -m meshsandbox gke-emulator --port "$port" --state-dir "$work/emulator" \
      --clusters "$GKE_IT_CLUSTERS" > "$work/emulator.log" 2>&1 &
  emu_pid=$!
  export MESH_GKE_EMULATOR_URL="http://127.0.0.1:$port"
  for _ in $(seq 50); do curl -fsS "$MESH_GKE_EMULATOR_URL/_emulator/state" >/dev/null 2>&1 && break; sleep 0.2; done
fi
export GCP_PROJECT="${GCP_PROJECT:-mesh-project}"
if [ -z "${GCP_SERVICE_ACCOUNT_FILE:-}" ]; then
  "$py" -m meshsandbox gke-key --emulator "$MESH_GKE_EMULATOR_URL" --project "$GCP_PROJECT" --out "$work/key.json" >/dev/null
  export GCP_SERVICE_ACCOUNT_FILE="$work/key.json"
fi
# multicloud.mesh and kubernetes.core: make venv installs/links them under .cache/collections
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$repo/.cache/collections:$repo}"
"$(dirname "$py")/ansible-playbook" "$here/run.yml" "$@"
