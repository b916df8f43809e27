#!/usr/bin/env bash
# istio_multicluster against 3 real local control planes (kwok fake nodes): install 2, re-run
# unchanged, check mode, add a 3rd (linked both ways), remove it, uninstall; bad input.
# Starts and stops its own clusters; builds nothing: the Istio build must exist
# (sandbox/build/build.sh istio).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
py=${MESH_PYTHON:-$repo/.venv/bin/python}
# shellcheck source=/dev/null
. "$repo/sandbox/build/istio/version.env"
bin=${MESH_SANDBOX_BIN:-$repo/.cache/bin}
if [ ! -x "$bin/istio-$ISTIO_VERSION/istioctl" ]; then
  echo "istio_multicluster: $bin/istio-$ISTIO_VERSION/istioctl is missing; build it first with" \
       "'bash sandbox/build/build.sh istio' (this test builds nothing)" >&2
  exit 1
fi
export MULTICLOUD_MESH_ISTIO_BIN="$bin"
export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$repo/.cache/sandbox-it-istio}
export PYTHONPATH="$repo/sandbox"
export ANSIBLE_COLLECTIONS_PATH="$repo/.cache/collections"
work="$MESH_SANDBOX_HOME/work"
names=(it-istio-1 it-istio-2 it-istio-3)
cleanup() {
  [ -n "${KEEP_CLUSTERS:-}" ] && return 0
  for n in it-istio-1 it-istio-2; do "$py" -m meshsandbox.istiod stop "$n" >/dev/null 2>&1 || true; done
  "$py" -m meshsandbox down "${names[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$py" -m meshsandbox up it-istio-1:eks it-istio-2:gke it-istio-3:gke
mkdir -p "$work"
extra=()
for i in 1 2 3; do
  extra+=(-e "it_kubeconfig_$i=$("$py" -m meshsandbox kubeconfig "it-istio-$i")")
done
# cacerts: made by the playbook with multicloud.mesh.mesh_ca (root in a file store under $work/pki),
# for clusters 1 and 2 first, cluster 3's after the missing-cacerts check.
extra+=(-e "it_python=$py" -e "it_work=$work" -e "it_files=$here/files" -e "it_istio_version=$ISTIO_VERSION")
for playbook in playbook.yml primary_remote.yml; do
  "$(dirname "$py")/ansible-playbook" -i localhost, -c local "$here/$playbook" "${extra[@]}" "$@"
done
