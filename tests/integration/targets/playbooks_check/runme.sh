#!/usr/bin/env bash
# site.yml --check --diff where an earlier stage is only predicted, in its own sandbox home:
#   clouds up -> site.yml --tags clusters -> (A) site.yml --check --diff on clusters without the mesh
#   -> site.yml --tags mesh_ca -> (B) site.yml --check --diff with the mesh CA but without Istio.
# Each check run must pass (rc 0), predict changes on both mesh hosts (mesh CA, Istio, postcard, link)
# and create nothing: the clusters' istio-system, mesh-ca and postcard namespaces, Istio's CRDs and
# istio-system's Secrets/Deployments/Services are read with the Kubernetes client before and after.
# (The fresh-sandbox and deployed-mesh check runs are in the `playbooks` target.) clouds down in a trap.
#   tests/integration/targets/playbooks_check/runme.sh [-v ...]   (extra args go to ansible-playbook)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init playbooks-check
it_need_istioctl   # the check run renders Istio with the sandbox's istioctl build
cd "$REPO"

state() { "$PY" "$HERE/cluster_state.py" mesh-1 mesh-2; }
recap_changed_all() {  # both mesh hosts predict changes, none failed
    local recap h; recap=$(sed -n '/^PLAY RECAP/,$p' "$1")
    for h in mesh-1 mesh-2; do
        grep -qE "^$h +: ok=[0-9]+ +changed=[1-9][0-9]* +unreachable=0 +failed=0 " <<<"$recap" \
            || fail "$h: expected predicted changes and no failure in $1: $(grep "^$h " <<<"$recap")"
    done
}
task_out() {  # LOG TASK: the output of that task (up to the next TASK or PLAY line)
    awk -v t="TASK [$2]" 'index($0, t) == 1 {on = 1; next} /^(TASK|PLAY) \[/ {on = 0} on' "$LOGS/$1.log"
}
task_changed() {  # LOG TASK PATTERN: the task reported changed and its output (diff) matches PATTERN
    local out; out=$(task_out "$1" "$2")
    grep -q '^changed: ' <<<"$out" || fail "$1: task '$2' did not predict a change"
    grep -qE -- "$3" <<<"$out" || fail "$1: task '$2' does not show '$3'"
}
expect() {  # LOG PATTERN WHAT
    grep -qE -- "$2" "$LOGS/$1.log" || fail "$1: $3 (no '$2' in the output)"
}

# check_run LOG LABEL ARGS...: site.yml --check --diff, timed; every host must predict a change
check_run() {
    local name=$1 label=$2 t; shift 2
    t=$(date +%s)
    run "$name" playbooks/site.yml --check --diff "$@" || fail "$label site.yml --check --diff failed"
    echo "$label check run: $(( $(date +%s) - t ))s"
    recap_changed_all "$LOGS/$name.log"
}
# unchanged_since STATE LABEL: the clusters are as they were before the check run
unchanged_since() {
    local after; after=$(state)
    [ "$after" = "$1" ] || fail "$2 check mode changed the clusters: before $1, after $after"
}

step "clouds up"
it_clouds_up

step "site.yml --tags clusters"
t=$(date +%s)
run clusters playbooks/site.yml --tags clusters "$@" || fail "site.yml --tags clusters failed"
echo "site.yml --tags clusters: $(( $(date +%s) - t ))s"
before=$(state)
grep -q '"istio_crds": \[\], "istio_system_deployments": \[\], "istio_system_secrets": \[\], "istio_system_services": \[\], "namespaces": \[\]' <<<"$before" \
    || fail "the clusters already hold mesh objects: $before"

step "(A) site.yml --check --diff on clusters without the mesh"
check_run checkA "(A)" "$@"
task_changed checkA "multicloud.mesh.mesh_ca : Mesh CA for every cluster, once" 'subject: CN=Intermediate CA mesh-2'
task_changed checkA "multicloud.mesh.istio : Istio in every cluster of the mesh, linked, once" '^\+ +name: istiod$'
expect checkA 'check mode: cluster mesh-1 has no Secret istio-system/cacerts' "istio did not say it predicts without cacerts"
expect checkA 'check mode: predicted as created in mesh-2, namespace postcard' "the postcard's messenger was not predicted"
expect checkA "check mode: predicted as created in mesh-1, namespace postcard.*" "the postcard's greeter was not predicted"
expect checkA 'a real run links' "the link was not predicted"
unchanged_since "$before" "(A)"

step "site.yml --tags mesh_ca (the mesh CA only)"
run meshca playbooks/site.yml --tags mesh_ca "$@" || fail "site.yml --tags mesh_ca failed"
before=$(state)
for h in mesh-1 mesh-2; do
    "$PY" -c 'import json,sys; s=json.loads(sys.argv[1])[sys.argv[2]]; sys.exit(not (s["istio_system_secrets"] == ["cacerts"] and s["istio_system_deployments"] == [] and s["istio_crds"] == []))' "$before" "$h" \
        || fail "$h: after --tags mesh_ca expected only istio-system/cacerts: $before"
done

# verify.yml without the mesh checks: the clusters, and the kubeconfigs written again from the cloud APIs (EKS
# tokens live 15 minutes, and a check run writes no kubeconfig; on a busy machine (A) can take that long)
step "verify.yml -e mesh_verify_expect_mesh=false (clusters and mesh CA; fresh kubeconfigs)"
run verify playbooks/verify.yml -e mesh_verify_expect_mesh=false "$@" || fail "verify.yml (clusters only) failed"
for h in mesh-1 mesh-2; do
    grep -qE "^ +$h .* cacerts +(off|-)$" "$LOGS/verify.log" || fail "$h: no cacerts (MESH-CA) in the summary"
done

step "(B) site.yml --check --diff with the mesh CA, without Istio"
check_run checkB "(B)" "$@"
if grep -q 'has no Secret istio-system/cacerts' "$LOGS/checkB.log"; then fail "(B) istio did not see the cacerts"; fi
task_changed checkB "multicloud.mesh.istio : Istio in every cluster of the mesh, linked, once" '^\+ +name: istiod$'
expect checkB 'check mode: predicted as created in mesh-1, namespace postcard' "(B) the greeter was not predicted"
expect checkB 'a real run links' "(B) the link was not predicted"
unchanged_since "$before" "(B)"
step "passed"
