#!/usr/bin/env bash
# cluster_info against a real local cluster: reads it, then fails clearly against a
# wrong token, an untrusted CA and a stopped cluster. Starts and stops its own cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
py=${MESH_PYTHON:-$repo/.venv/bin/python}
export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$repo/.cache/sandbox-it-cluster-info}
export PYTHONPATH="$repo/sandbox"
export ANSIBLE_COLLECTIONS_PATH="$repo/.cache/collections"
cleanup() { "$py" -m meshsandbox down it-info >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$py" -m meshsandbox up it-info:plain
kubeconfig=$("$py" -m meshsandbox kubeconfig it-info)
"$(dirname "$py")/ansible-playbook" -i localhost, -c local "$here/playbook.yml" \
  -e "it_kubeconfig=$kubeconfig" -e "it_python=$py" "$@"
