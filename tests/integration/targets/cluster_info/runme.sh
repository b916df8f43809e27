#!/usr/bin/env bash
# cluster_info against a real local cluster: reads it, then fails clearly against a
# wrong token, an untrusted CA and a stopped cluster. Starts and stops its own cluster, or (run by
# target plain_cluster) uses and stops that target's shared cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/../../lib.sh"
# Inside target plain_cluster (MESH_IT_PLAIN_CLUSTER set): its cluster, which this test stops at its end.
if [ -n "${MESH_IT_PLAIN_CLUSTER:-}" ]; then
  it_join_plain_cluster; name=$MESH_IT_PLAIN_CLUSTER
else
  it_init cluster-info
  trap it_clouds_down EXIT
  name=it-info
  "$PY" -m meshsandbox up "$name:plain"
fi
kubeconfig=$("$PY" -m meshsandbox kubeconfig "$name")
"$(dirname "$PY")/ansible-playbook" -i localhost, -c local "$here/playbook.yml" \
  -e "it_kubeconfig=$kubeconfig" -e "it_cluster=$name" -e "it_python=$PY" "$@"
