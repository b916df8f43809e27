#!/usr/bin/env bash
# Interrupted runs (issues 6 and 8): site.yml and teardown.yml killed at stage boundaries and in
# the middle of stages, then run again, through the sandbox's cloud emulators in its own home.
#   site case:     site.yml killed at the kill point -> then
#                    rerun:    site.yml again (must pass) -> verify.yml -> endstate.yml (one mesh
#                              root, app and link there) -> site.yml again (changed=0 every host)
#                    teardown: teardown.yml straight after the killed run (orphan check passes,
#                              the emulators hold no cluster)
#   teardown case: (a deployed mesh with LoadBalancer Services) teardown.yml killed at the kill
#                  point -> teardown.yml again (orphan check passes, no cluster, no load balancer)
# A site case starts from empty clouds (a teardown, checked the same way, runs first when a mesh
# is deployed); a teardown case from a deployed mesh (site.yml runs first when none is).
# The emulators get provisioning delays (MESH_AWS_EMULATOR_*_DELAY, MESH_GKE_EMULATOR_DELAY) so that
# "while CREATING/DELETING" is a window of seconds. interrupt.py (next to this file) runs the
# playbook and sends the signal (its header says what each does): TERM, INT (Ctrl-C), KILL (main
# process only: workers and modules run on) and KILLALL (the main process and every descendant).
#
# By default a representative subset runs (kill mid-creation + re-run, kill mid-deletion + re-run,
# a boundary kill + teardown; 263-435 s measured); MESH_RESILIENCE_FULL=1 runs the whole table (41 min measured, docs/resilience.md);
# MESH_RESILIENCE_CASES="id id ..." runs the named cases; MESH_RESILIENCE_SHARD=K/N every N-th selected case from the
# K-th (the full tier runs the table in three shards: this target and interrupted_shard2/3, 1/3 here by default);
# MESH_RESILIENCE_KEEP_GOING=1 goes on after a failed case (the clouds are reset) and fails at the
# end. The results (kill point, signal, outcomes, times) are printed as a table and kept in
# $MESH_SANDBOX_HOME/it-logs/results.md (docs/resilience.md has the last full run).
#   tests/integration/targets/interrupted/runme.sh [-v ...]      (extra args go to ansible-playbook)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init interrupted
it_need_istioctl
cd "$REPO"

# The kill points: one line per case, adding one is one line.
#   id | playbook (site/teardown) | kill at (interrupt.py --at) | seconds after that | signal | then | default run
CASES="
clusters-creating    | site     | aws:CREATING                                           | 0 | KILLALL | rerun    | yes
td-deleting          | teardown | aws:DELETING                                           | 0 | KILLALL | rerun    | yes
after-mesh-ca        | site     | task:TASK [Istio in every cluster                      | 0 | TERM    | teardown | yes
after-mesh-ca-rerun  | site     | task:TASK [Istio in every cluster                      | 0 | TERM    | rerun    | no
gke-provisioning-td  | site     | gke:PROVISIONING                                       | 0 | KILLALL | teardown | no
eks-nodegroup        | site     | aws-nodegroup:CREATING                                 | 0 | TERM    | rerun    | no
td-app-gone          | teardown | task:TASK [Remove Istio                                | 0 | TERM    | rerun    | no
after-clusters       | site     | task:TASK [Mesh CA]                                    | 0 | KILL    | rerun    | no
td-istio-mid         | teardown | task:istio : Istio in every cluster of the mesh        | 3 | KILLALL | rerun    | no
mesh-ca-mid          | site     | task:mesh_ca : Mesh CA for every cluster, once         | 1 | KILLALL | rerun    | no
td-network           | teardown | task:eks_cluster : Subnets                             | 0 | TERM    | rerun    | no
clusters-creating-td | site     | aws:CREATING                                           | 0 | TERM    | teardown | no
istio-mid            | site     | task:istio : Istio in every cluster of the mesh        | 6 | KILLALL | rerun    | no
istio-mid-td         | site     | task:istio : Istio in every cluster of the mesh        | 6 | KILL    | teardown | no
after-istio          | site     | task:TASK [Postcard]                                   | 0 | TERM    | rerun    | no
postcard-mid         | site     | task:postcard : The postcard's objects on this cluster | 2 | KILLALL | rerun    | no
td-stopping          | teardown | gke:STOPPING                                           | 0 | TERM    | rerun    | no
after-postcard       | site     | task:TASK [Mesh link]                                  | 0 | INT     | rerun    | no
link-mid             | site     | task:mesh_link : Expose the backend's Service          | 1 | KILLALL | rerun    | no
"

# Provisioning delays: wide windows for the CREATING/DELETING kill points.
export MESH_AWS_EMULATOR_READY_DELAY=${MESH_AWS_EMULATOR_READY_DELAY:-6}
export MESH_AWS_EMULATOR_DELETE_DELAY=${MESH_AWS_EMULATOR_DELETE_DELAY:-5}
export MESH_GKE_EMULATOR_DELAY=${MESH_GKE_EMULATOR_DELAY:-8}

trim() { local v=$1; v=${v#"${v%%[![:space:]]*}"}; printf '%s' "${v%"${v##*[![:space:]]}"}"; }
case_field() {  # case_field ID N: field N (1-based) of case ID, trimmed
    local line; line=$(grep -E "^$1 +[|]" <<<"$CASES")
    trim "$(cut -d'|' -f"$2" <<<"$line")"
}

full=${MESH_RESILIENCE_FULL:-0}
only=${MESH_RESILIENCE_CASES:-}
selected=() skipped=()
while IFS='|' read -r id _pb _at _delay _sig _then default; do
    id=$(trim "$id"); [ -n "$id" ] || continue
    if [ -n "$only" ]; then
        [[ " $only " == *" $id "* ]] && selected+=("$id") || skipped+=("$id")
    elif [ "$full" = 1 ] || [ "$(trim "$default")" = yes ]; then
        selected+=("$id")
    else
        skipped+=("$id")
    fi
done <<<"$CASES"
# The full tier splits the whole table over this target and interrupted_shard2/3 (three lanes, each with its own
# sandbox home): MESH_RESILIENCE_SHARD=K/N keeps every N-th selected case, starting with the K-th.
shard=${MESH_RESILIENCE_SHARD:-}
if [ -z "$shard" ] && [ "${MESH_TEST_TIER:-}" = full ] && [ -z "$only" ]; then shard=1/3; fi
if [ -n "$shard" ]; then
    if ! [[ "$shard" =~ ^([1-9][0-9]*)/([1-9][0-9]*)$ ]] || [ "${BASH_REMATCH[1]}" -gt "${BASH_REMATCH[2]}" ]; then
        fail "MESH_RESILIENCE_SHARD=$shard: use K/N with 1 <= K <= N"
    fi
    k=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]} kept=()
    for i in "${!selected[@]}"; do
        if [ $(( i % n )) -eq $(( k - 1 )) ]; then kept+=("${selected[$i]}"); else skipped+=("${selected[$i]}"); fi
    done
    selected=("${kept[@]}")
    echo "shard $shard of the selected cases: ${selected[*]} (the other shards run the rest)"
fi
[ ${#selected[@]} -gt 0 ] || fail "no case selected (MESH_RESILIENCE_CASES='$only'; ids: $(cut -d'|' -f1 <<<"$CASES" | tr -s ' \n' ' '))"
if [ ${#skipped[@]} -gt 0 ]; then
    echo "SKIPPED ${#skipped[@]} of $(( ${#selected[@]} + ${#skipped[@]} )) cases (${skipped[*]}): each takes ~1.5-3 min on an idle machine;" \
         "MESH_RESILIENCE_FULL=1 runs the whole table, MESH_RESILIENCE_CASES='id ...' the named ones (docs/resilience.md)"
fi


RESULTS="$LOGS/results.md"
printf '| case | playbook | kill at | +s | signal | killed after | stragglers | then | outcome | re-run | teardown |\n|---|---|---|---|---|---|---|---|---|---|---|\n' >"$RESULTS"

deployed=no
fail() { echo "FAILED: $*" >&2; echo "$*" >"$LOGS/.failure"; exit 1; }   # lib.sh's, keeping the message for the table
secs() { echo $(( $(date +%s) - $1 ))s; }

teardown_clean() {  # teardown_clean LOG: teardown.yml passes its orphan check, the emulators hold nothing
    local log=$1; shift
    run "$log" playbooks/teardown.yml "$@" || fail "$log: teardown.yml failed"
    grep -q "ORPHAN CHECK PASSED" "$LOGS/$log.log" || fail "$log: the orphan check did not pass"
    [ -z "$(emulator_clusters)" ] || fail "$log: clusters left in the emulators: $(emulator_clusters)"
    local elbs; elbs=$(emulator_elbs)
    [ -z "$elbs" ] || fail "$log: load balancers left in the AWS emulator: $elbs"
    deployed=no
}

converged() {  # converged ID: site.yml re-run, verify, end state, no-op; prints nothing on success
    local id=$1; shift
    run "$id-rerun" playbooks/site.yml "$@" || fail "$id: site.yml after the interruption failed"
    deployed=yes
    run "$id-verify" playbooks/verify.yml "$@" || fail "$id: verify.yml after the re-run failed"
    run "$id-endstate" "$HERE/endstate.yml" "$@" || fail "$id: the end state is not the converged one"
    run "$id-noop" playbooks/site.yml "$@" || fail "$id: the further site.yml run failed"
    recap_changed_zero "$LOGS/$id-noop.log" || fail "$id: a further site.yml run still changed something"
}

emulator_elbs() {  # classic ELBs the AWS emulator holds (every region the inventory uses)
    "$PY" - <<'PYEOF'
import boto3, os
elb = boto3.client("elb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
print(" ".join(d["LoadBalancerName"] for d in elb.describe_load_balancers()["LoadBalancerDescriptions"]))
PYEOF
}

step "clouds up (AWS ready/delete delay ${MESH_AWS_EMULATOR_READY_DELAY}/${MESH_AWS_EMULATOR_DELETE_DELAY}s, GKE ${MESH_GKE_EMULATOR_DELAY}s)"
it_clouds_up

run_case() {  # run_case ID NEXT-ID [ansible-playbook args]: one row of the table (run in a subshell)
    local id=$1 next=$2; shift 2
    local pb at delay sig after t out report killed strag rerun td outcome
    pb=$(case_field "$id" 2) at=$(case_field "$id" 3) delay=$(case_field "$id" 4)
    sig=$(case_field "$id" 5) after=$(case_field "$id" 6)
    if [ "$pb" = teardown ] && [ $deployed = no ]; then
        step "$id: site.yml and LoadBalancer Services first (a teardown case starts from a deployed mesh)"
        run "$id-pre-site" playbooks/site.yml "$@" || fail "$id: site.yml failed"
        deployed=yes
    fi
    if [ "$pb" = teardown ]; then
        run "$id-pre-lb" "$REPO/tests/integration/targets/playbooks/lb.yml" "$@" || fail "$id: lb.yml failed"
    fi

    step "$id: playbooks/$pb.yml, $sig at '$at' +${delay}s"
    t=$(date +%s)
    out=$("$PY" "$HERE/interrupt.py" --at "$at" --delay "$delay" --signal "$sig" --log "$LOGS/$id-killed.log" \
          -- "${PLAYBOOK[@]}" "playbooks/$pb.yml" "$@") || { echo "$out" | tail -20; fail "$id: not interrupted (see $LOGS/$id-killed.log)"; }
    report=$(grep '^INTERRUPT ' <<<"$out" | sed 's/^INTERRUPT //')
    echo "$report"
    killed=$("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); c=r["clouds_at_kill"]
print("%ss rc=%s (aws %s, gke %s)" % (r["killed_at"], r["rc"], "/".join(c.get("aws") or ["-"]), "/".join(c.get("gke") or ["-"])))' "$report")
    strag=$("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print("%d, drained in %ss%s" % (len(r["stragglers"]), r["drained_in"], ", %d killed" % r["killed_stragglers"] if r["killed_stragglers"] else ""))' "$report")
    [ "$pb" = site ] && deployed=yes   # something of the mesh may exist now

    rerun=- td=-
    if [ "$pb" = site ] && [ "$after" = rerun ]; then
        step "$id: site.yml again, verify.yml, end state, site.yml once more (changed=0)"
        t=$(date +%s); converged "$id" "$@"; rerun="converged in $(secs "$t") (verify, end state, changed=0)"
        outcome="re-run converged"
        if [ -n "$next" ] && [ "$(case_field "$next" 2)" = teardown ]; then
            td="(interrupted: case $next)"
        else
            step "$id: teardown.yml"
            t=$(date +%s); teardown_clean "$id-teardown" "$@"; td="clean in $(secs "$t")"
        fi
    elif [ "$pb" = site ]; then
        step "$id: teardown.yml straight after the interrupted run"
        t=$(date +%s); teardown_clean "$id-teardown" "$@"; td="clean in $(secs "$t")"
        outcome="teardown clean"
    else
        deployed=partly
        step "$id: teardown.yml again"
        t=$(date +%s); teardown_clean "$id-rerun" "$@"; rerun="clean in $(secs "$t")"; td="orphan check passed"
        outcome="re-run teardown clean"
    fi
    echo "| $id | $pb.yml | \`$at\` | $delay | $sig | $killed | $strag | $after | $outcome | $rerun | $td |" >>"$RESULTS"
    echo "$deployed" >"$LOGS/.deployed"
}

reset_clouds() {  # after a failed case (MESH_RESILIENCE_KEEP_GOING=1): empty emulators, no cluster
    "$PY" -m meshsandbox clouds down || true
    "$PY" -m meshsandbox down --all >/dev/null 2>&1 || true
    rm -rf "$MESH_SANDBOX_HOME/gke-emulator" "$MESH_SANDBOX_HOME/kubeconfigs"
    "$PY" -m meshsandbox clouds up
    # shellcheck disable=SC1091
    . "$MESH_SANDBOX_HOME/clouds/env.sh"
    deployed=no
}

failed=()
for i in "${!selected[@]}"; do
    id=${selected[$i]}
    rm -f "$LOGS/.failure"
    if ( run_case "$id" "${selected[$((i + 1))]:-}" "$@" ); then
        deployed=$(cat "$LOGS/.deployed")
        continue
    fi
    failed+=("$id")
    echo "| $id | $(case_field "$id" 2).yml | \`$(case_field "$id" 3)\` | $(case_field "$id" 4) | $(case_field "$id" 5) | | | $(case_field "$id" 6) | **FAILED**: $(cat "$LOGS/.failure" 2>/dev/null) | | |" >>"$RESULTS"
    [ "${MESH_RESILIENCE_KEEP_GOING:-0}" = 1 ] || { cat "$RESULTS"; fail "case $id failed"; }
    step "$id failed: resetting the clouds (MESH_RESILIENCE_KEEP_GOING=1)"
    reset_clouds
done


if [ $deployed != no ]; then
    step "final teardown.yml"
    t=$(date +%s); teardown_clean final-teardown "$@"; echo "final teardown clean in $(secs "$t")"
fi
step "results"
cat "$RESULTS"
[ ${#failed[@]} -eq 0 ] || fail "${#failed[@]} case(s) failed: ${failed[*]}"
step "passed"
