#!/usr/bin/env bash
# The main job end to end, through the sandbox's cloud emulators, in its own sandbox home:
#   clouds up -> site.yml --check --diff creates nothing -> site.yml (clusters, mesh CA, Istio,
#   postcard, link) -> site.yml again (changed=0 for every host) -> LoadBalancer Services ->
#   verify.yml (Istio ready, linked) -> teardown.yml (app, link, Istio, clusters; orphan check passes)
#   -> teardown.yml again (re-runnable) ; clouds down in a trap.
#   tests/integration/targets/playbooks/runme.sh [-v ...]      (extra args go to ansible-playbook)
# MESH_IT_CHECK_LIMIT: hosts of the check-mode run (default all; e.g. gcp or aws to narrow it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init playbooks
it_need_istioctl   # the mesh stage renders Istio with the sandbox's istioctl build
cd "$REPO"   # ansible.cfg: inventories/sandbox, forks

step "clouds up"
it_clouds_up
[ "$(stat -c %a "$MESH_SANDBOX_HOME/clouds/env.sh")" = 600 ] || fail "env.sh is not 0600"
# (output captured first: grep -q closing the pipe early would break the writer under pipefail)
out=$("$PY" -m meshsandbox clouds up)
grep -q "kept" <<<"$out" || fail "a second 'clouds up' did not keep the running emulators: $out"

limit=${MESH_IT_CHECK_LIMIT:-all}
step "site.yml --check --diff on a fresh sandbox (hosts: $limit)"
run check playbooks/site.yml --check --diff --limit "$limit" "$@" || fail "site.yml --check --diff failed"
[ -z "$(emulator_clusters)" ] || fail "check mode created clusters: $(emulator_clusters)"
[ ! -e "$MESH_SANDBOX_HOME/kubeconfigs" ] || fail "check mode wrote kubeconfigs"

step "site.yml"
t=$(date +%s)
run site1 playbooks/site.yml "$@" || fail "site.yml failed"
echo "site.yml first run: $(( $(date +%s) - t ))s"
[ "$(emulator_clusters | wc -w)" -eq 2 ] || fail "expected 2 clusters in the emulators, got: $(emulator_clusters)"

step "site.yml again (must change nothing)"
t=$(date +%s)
run site2 playbooks/site.yml "$@" || fail "second site.yml failed"
echo "site.yml no-op run: $(( $(date +%s) - t ))s"
recap_changed_zero "$LOGS/site2.log" || fail "the second site.yml run changed something"

step "site.yml --check --diff on the deployed mesh (must predict no change)"
run check2 playbooks/site.yml --check --diff "$@" || fail "site.yml --check --diff on the deployed mesh failed"
recap_changed_zero "$LOGS/check2.log" || fail "check mode on the deployed mesh predicts changes"

step "LoadBalancer Services (cloud load balancers for teardown to remove)"
run lb "$HERE/lb.yml" "$@" || fail "lb.yml failed"

step "verify.yml"
run verify playbooks/verify.yml "$@" || fail "verify.yml failed"
grep -qE 'mesh-1 +aws +127\.0\.0\.1:[0-9]+ +v[0-9.]+ +[1-9][0-9]*/' "$LOGS/verify.log" || fail "no mesh-1 line in the summary"
grep -qE 'mesh-2 +gcp +127\.0\.0\.1:[0-9]+ +v[0-9.]+ +[1-9][0-9]*/' "$LOGS/verify.log" || fail "no mesh-2 line in the summary"
for h in mesh-1 mesh-2; do  # ISTIO ready, LINKED to the other cluster, MESH-CA
    grep -qE "$h .* ready [0-9]+/[0-9]+ +1/1 +cacerts" "$LOGS/verify.log" || fail "$h: Istio not ready or not linked in the summary"
done

step "teardown.yml"
t=$(date +%s)
run teardown playbooks/teardown.yml "$@" || fail "teardown.yml failed"
echo "teardown.yml: $(( $(date +%s) - t ))s"
grep -q "ORPHAN CHECK PASSED" "$LOGS/teardown.log" || fail "the orphan check did not pass"
[ -z "$(emulator_clusters)" ] || fail "clusters left in the emulators: $(emulator_clusters)"

step "teardown.yml again (re-runnable, nothing left to do)"
run teardown2 playbooks/teardown.yml "$@" || fail "second teardown.yml failed"
grep -q "ORPHAN CHECK PASSED" "$LOGS/teardown2.log" || fail "the orphan check did not pass on the re-run"
recap_changed_zero "$LOGS/teardown2.log" || fail "the second teardown changed something"
step "passed"
