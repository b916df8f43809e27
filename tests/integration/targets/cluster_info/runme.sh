#!/usr/bin/env bash
# cluster_info against a real local cluster: reads it, then fails clearly against a
# wrong token, an untrusted CA and a stopped cluster. Starts and stops its own cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/../../lib.sh"
it_init cluster-info
trap it_clouds_down EXIT
"$PY" -m meshsandbox up it-info:plain
kubeconfig=$("$PY" -m meshsandbox kubeconfig it-info)
"$(dirname "$PY")/ansible-playbook" -i localhost, -c local "$here/playbook.yml" \
  -e "it_kubeconfig=$kubeconfig" -e "it_python=$PY" "$@"
