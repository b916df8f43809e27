#!/usr/bin/env bash
# mesh_ca against three real local clusters: root in a Secret, idempotence, check mode, a third
# cluster, a file root store, rotation, bad input, removal; then the role. Starts and stops its
# own clusters.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
py=${MESH_PYTHON:-$repo/.venv/bin/python}
export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$repo/.cache/sandbox-it-mesh-ca}
export PYTHONPATH="$repo/sandbox"
export ANSIBLE_COLLECTIONS_PATH="$repo/.cache/collections"
clusters=(it-ca-1 it-ca-2 it-ca-3)
work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-ca-it.XXXXXX")
cleanup() { "$py" -m meshsandbox down "${clusters[@]}" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$py" -m meshsandbox up "${clusters[@]/%/:plain}"
kc() { "$py" -m meshsandbox kubeconfig "$1"; }
playbook="$(dirname "$py")/ansible-playbook"
"$playbook" -i localhost, -c local "$here/playbook.yml" \
  -e "it_kc1=$(kc it-ca-1) it_kc2=$(kc it-ca-2) it_kc3=$(kc it-ca-3)" \
  -e "it_python=$py it_dir=$work" "$@"
# The role: clusters from the inventory group `mesh` (one host per cluster with mesh_kubeconfig).
cat > "$work/inventory.yml" <<INV
mesh:
  hosts:
    it-ca-1: {mesh_kubeconfig: $(kc it-ca-1)}
    it-ca-2: {mesh_kubeconfig: $(kc it-ca-2)}
    it-ca-3: {mesh_kubeconfig: $(kc it-ca-3)}
  vars:
    ansible_connection: local
    ansible_python_interpreter: $py
INV
"$playbook" -i "$work/inventory.yml" "$here/role.yml" -e "it_dir=$work" "$@"
