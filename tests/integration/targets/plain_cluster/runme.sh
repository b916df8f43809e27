#!/usr/bin/env bash
# One plain sandbox cluster shared by the tests that need a Kubernetes API and no cloud or mesh
# (docs/testing.md): awx_credentials, galaxy_artifact, then cluster_info (last: it stops the
# cluster to test the unreachable case). Each of them also runs on its own cluster when run alone
# (MESH_IT_TARGETS=cluster_info ...). The cluster is stopped in a trap.
#   tests/integration/targets/plain_cluster/runme.sh [-v ...]   (extra args go to ansible-playbook)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init plain-cluster
trap it_clouds_down EXIT
t=$(date +%s)
"$PY" -m meshsandbox up it-plain:plain
echo "plain cluster up: $(( $(date +%s) - t ))s"
export MESH_IT_PLAIN_CLUSTER=it-plain
for member in awx_credentials galaxy_artifact cluster_info; do
    grep -qx 'group/plain_cluster' "$HERE/../$member/aliases" || fail "$member is not marked group/plain_cluster"
    step "$member (on the shared cluster it-plain)"
    t=$(date +%s)
    MESH_REPO="$REPO" "$HERE/../$member/runme.sh" "$@" || fail "$member failed after $(( $(date +%s) - t ))s"
    echo "$member: passed in $(( $(date +%s) - t ))s"
done
step "passed"
