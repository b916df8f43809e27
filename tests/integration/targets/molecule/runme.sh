#!/usr/bin/env bash
# Every role's molecule scenario (molecule/<role>: create, converge, idempotence, verify, destroy)
# against the sandbox, in one sandbox home shared by the scenarios: the cloud emulators and the
# mesh roles' two clusters are started once here, each scenario's create finds them running and
# keeps them (its destroy runs the role's absent path and leaves them), the EXIT trap stops them.
# The order puts each mesh role's prerequisites first (mesh_ca, istio, postcard, mesh_link).
#   tests/integration/targets/molecule/runme.sh [SCENARIO ...]     (default: mesh_link; all six in the full tier)
# MESH_MOLECULE_SCENARIOS="mesh_ca istio" narrows it under scripts/test.sh (which passes no argument).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init molecule
it_need_istioctl   # the istio, postcard and mesh_link scenarios render Istio with the sandbox's istioctl
cd "$REPO"   # molecule finds molecule/<scenario>/molecule.yml from the collection root
PATH="$(dirname "$PY"):$PATH"; export PATH
export MESH_MOLECULE_SANDBOX_HOME=$MESH_SANDBOX_HOME
export MOLECULE_NO_LOG=false ANSIBLE_FORCE_COLOR=0 NO_COLOR=1

scenarios=("$@")
# The default tier runs one scenario (the molecule harness and a role's create/converge/idempotence/
# verify/destroy; site.yml in target playbooks runs every role); the full tier runs all six.
all_scenarios="eks_cluster gke_cluster mesh_ca istio postcard mesh_link"
if [ ${#scenarios[@]} -eq 0 ]; then
    if [ -n "${MESH_MOLECULE_SCENARIOS:-}" ]; then read -r -a scenarios <<<"$MESH_MOLECULE_SCENARIOS"
    elif [ "${MESH_TEST_TIER:-default}" = full ]; then read -r -a scenarios <<<"$all_scenarios"
    else
        scenarios=(mesh_link)
        echo "SKIPPED scenarios ${all_scenarios% mesh_link} (default tier: MESH_TEST_TIER=full runs every role's scenario)"
    fi
fi

for s in "${scenarios[@]}"; do
    [ -f "molecule/$s/molecule.yml" ] || fail "no scenario molecule/$s"
done

step "shared sandbox: cloud emulators and clusters mesh-1, mesh-2"
t0=$(date +%s)
it_clouds_up
"$PY" -m meshsandbox up mesh-1:eks mesh-2:gke

passed=0; failed=()
for s in "${scenarios[@]}"; do
    step "molecule test -s $s"
    t=$(date +%s)
    # the scenario's ephemeral directory inside the run's sandbox home (default: .ansible/tmp)
    if MOLECULE_EPHEMERAL_DIRECTORY="$MESH_SANDBOX_HOME/molecule/$s" molecule test -s "$s" 2>&1 | tee "$LOGS/molecule-$s.log"; then
        passed=$((passed+1)); echo "molecule $s: passed in $(( $(date +%s) - t ))s"
    else
        failed+=("$s"); echo "molecule $s: FAILED in $(( $(date +%s) - t ))s"
    fi
    # each scenario's destroy leaves the shared sandbox running: it must still be there
    st=$("$PY" -m meshsandbox status)
    if ! grep -qE "^mesh-1 .* ok$" <<<"$st" || ! grep -qE "^mesh-2 .* ok$" <<<"$st"; then
        fail "scenario $s stopped the shared clusters: $st"
    fi
done
echo "molecule scenarios: ${#scenarios[@]} in $(( $(date +%s) - t0 ))s"
echo "${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ] || fail "molecule scenarios failed: ${failed[*]}"
step "passed"
