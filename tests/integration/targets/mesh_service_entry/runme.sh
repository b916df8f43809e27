#!/usr/bin/env bash
# mesh_service_entry against two real local control planes: c1 acts as EKS (LoadBalancer
# hostnames), c2 as GKE (LoadBalancer IPs), plus a plain c3 without Istio's CRDs. Installs
# Istio's real ServiceEntry/DestinationRule/Gateway CRDs (extracted from the pinned Istio Go
# module), fake east-west gateway Services, then runs playbook.yml; c1's view is checked through a
# real istiod run locally against c1 (meshsandbox.istiod). Builds nothing: the sandbox's Istio build
# (sandbox/build/build.sh istio: pilot-discovery, xds-probe) must exist, else the target fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/../../lib.sh"
it_init service-entry
work="$MESH_SANDBOX_HOME/work"
names=(it-se-c1 it-se-c2 it-se-c3)
cleanup() {
  [ -n "${KEEP_CLUSTERS:-}" ] && return
  "$PY" "$here/files/fixture.py" istiod-stop it-se-c1 >/dev/null 2>&1 || true
  "$PY" -m meshsandbox down "${names[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$work"
# shellcheck source=/dev/null
. "$REPO/sandbox/build/istio/version.env"
istio_bin=${MESH_SANDBOX_BIN:-$REPO/.cache/bin}/istio-$ISTIO_VERSION
missing=()
for f in "$istio_bin/pilot-discovery" "$istio_bin/xds-probe"; do [ -x "$f" ] || missing+=("$f"); done
[ -f "$REPO/sandbox/meshsandbox/istiod.py" ] || missing+=("$REPO/sandbox/meshsandbox/istiod.py")
if [ ${#missing[@]} -gt 0 ]; then
  echo "mesh_service_entry: ${missing[*]} missing: the istiod/xDS view checks cannot run; build Istio first with" \
       "'bash sandbox/build/build.sh istio' or scripts/bootstrap.sh (this test builds nothing)" >&2
  exit 1
fi
"$PY" "$here/files/fixture.py" crds "$REPO/sandbox/build/istio/go.mod" "$work/istio-crds.yaml"
"$PY" -m meshsandbox up it-se-c1:eks it-se-c2:gke it-se-c3:plain
"$(dirname "$PY")/ansible-playbook" -i localhost, -c local "$here/playbook.yml" \
  -e "it_python=$PY" -e "it_files=$here/files" -e "it_crds=$work/istio-crds.yaml" \
  -e "it_kubeconfig_1=$("$PY" -m meshsandbox kubeconfig it-se-c1)" \
  -e "it_kubeconfig_2=$("$PY" -m meshsandbox kubeconfig it-se-c2)" \
  -e "it_kubeconfig_3=$("$PY" -m meshsandbox kubeconfig it-se-c3)" \
  "$@"
