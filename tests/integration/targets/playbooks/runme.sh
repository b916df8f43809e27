#!/usr/bin/env bash
# The main job end to end on ONE deployed sandbox mesh, which also serves every check that needs no
# fresh start (docs/testing.md): what were the targets playbooks, playbooks_check and faults.
#   1. clouds up -> site.yml --check --diff on the empty clouds creates nothing
#   2. site.yml --tags clusters -> (A) --check --diff on clusters without the mesh -> --tags mesh_ca
#      -> (full tier only: verify.yml without the mesh checks -> (B) --check --diff with the mesh CA,
#      without Istio); each check run predicts changes on both hosts and leaves the clusters as they were
#   3. site.yml --tags mesh before the app (Istio; the link warns, links nothing) -> site.yml (the
#      rest: postcard, link) -> site.yml again (changed=0 every host)
#      -> --check --diff on the deployed mesh (no change predicted)
#   4. LoadBalancer Services -> verify.yml (postcard check against a local stand-in page, passing
#      and failing)
#   5. API faults (vars/rows.yml through faults.yml; the default tier runs one fault of each kind,
#      MESH_TEST_TIER=full / MESH_RESILIENCE_FULL=1 every row)
#   6. playbooks/awx/configure.yml --check -vvv against the AWX stand-in (awx_check.sh), then the
#      secrets scan (scan_secrets.py) of everything steps 1-6 printed (ansible-playbook -vvv)
#      and wrote: no key or token outside 0600 files; scan_output.py: no value verify.yml reads (cacerts
#      keys, remote secrets and their tokens) nor the mesh root key in any log (teardown.yml's too, step 7)
#   7. teardown.yml -vvv -e mesh_teardown_root_store=true (orphan check; output scanned; the cluster roles'
#      kubeconfig files and the mesh root file gone) -> teardown.yml
#      again (re-runnable, changed=0) -> site.yml --check --diff (passes, creates nothing, writes no kubeconfig);
#      clouds down in a trap.
#   tests/integration/targets/playbooks/runme.sh [-v ...]      (extra args go to ansible-playbook)
# MESH_IT_CHECK_LIMIT: hosts of the first check-mode run (default all; e.g. gcp or aws to narrow it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init playbooks
it_need_istioctl   # the mesh stage renders Istio with the sandbox's istioctl build
cd "$REPO"   # ansible.cfg: inventories/sandbox, forks

# What this run writes to temp folders and Ansible's home lands where the secrets scan sees all of it.
export TMPDIR="$MESH_SANDBOX_HOME/tmp" ANSIBLE_HOME="$MESH_SANDBOX_HOME/ansible-home"
mkdir -p "$TMPDIR" "$ANSIBLE_HOME"
marker="$MESH_SANDBOX_HOME/.scan-since"
touch "$marker"

# runv LOG ARGS...: ansible-playbook -vvv (its output is scanned for secrets in step 6), kept in
# $LOGS/LOG.log; only the recap is echoed (the tail of the log on failure)
runv() {
    local name=$1; shift
    if "${PLAYBOOK[@]}" -vvv "$@" >"$LOGS/$name.log" 2>&1; then
        sed -n '/^PLAY RECAP/,$p' "$LOGS/$name.log"
    else
        tail -n 80 "$LOGS/$name.log"; return 1
    fi
}
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

step "1. clouds up (EKS and GKE tokens accepted for 60 s only)"
# Real EKS accepts a token for 15 minutes and GKE for an hour; a slow create or a long Istio stage outlives
# them. Here they live 60 s, and every run of this target outlives that: the kubeconfigs the roles write
# (kubeconfig_auth builtin) must renew their tokens (checked in step 3: none refused, each one renewed).
export MESH_AWS_EMULATOR_TOKEN_MAX_AGE=60 MESH_GKE_EMULATOR_TOKEN_TTL=60
it_clouds_up
[ "$(stat -c %a "$MESH_SANDBOX_HOME/clouds/env.sh")" = 600 ] || fail "env.sh is not 0600"
# (output captured first: grep -q closing the pipe early would break the writer under pipefail)
out=$("$PY" -m meshsandbox clouds up)
grep -q "kept" <<<"$out" || fail "a second 'clouds up' did not keep the running emulators: $out"

step "1. site.yml with an istio_version that has no release: refused in the preflight, nothing created"
if run badistio playbooks/site.yml -e istio_version=1.30.44 "$@" >/dev/null; then
    fail "site.yml with istio_version 1.30.44 passed"
fi
expect badistio "istio_version 1\.30\.44 has no known istioctl checksum" "the preflight did not name istio_version"
grep -q "TASK \[multicloud.mesh.eks_cluster : VPC\]" "$LOGS/badistio.log" && fail "the VPC task ran after a bad istio_version"
[ -z "$(emulator_clusters)" ] || fail "a bad istio_version created clusters: $(emulator_clusters)"
"$PY" - <<'PYEOF' || fail "a bad istio_version created AWS resources"
import boto3, os, sys
ec2 = boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
sys.exit("VPCs: %s" % vpcs if vpcs else 0)
PYEOF

limit=${MESH_IT_CHECK_LIMIT:-all}
step "1. site.yml --check --diff on a fresh sandbox (hosts: $limit)"
run check playbooks/site.yml --check --diff --limit "$limit" "$@" || fail "site.yml --check --diff failed"
[ -z "$(emulator_clusters)" ] || fail "check mode created clusters: $(emulator_clusters)"
[ ! -e "$MESH_SANDBOX_HOME/kubeconfigs" ] || fail "check mode wrote kubeconfigs"

step "2. site.yml -vvv --tags clusters"
t_site=$(date +%s)
runv clusters playbooks/site.yml --tags clusters "$@" || fail "site.yml --tags clusters failed"
echo "site.yml --tags clusters: $(( $(date +%s) - t_site ))s"
[ "$(emulator_clusters | wc -w)" -eq 2 ] || fail "expected 2 clusters in the emulators, got: $(emulator_clusters)"
before=$(state)
grep -q '"istio_crds": \[\], "istio_system_deployments": \[\], "istio_system_secrets": \[\], "istio_system_services": \[\], "namespaces": \[\]' <<<"$before" \
    || fail "the clusters already hold mesh objects: $before"

step "2. (A) site.yml --check --diff on clusters without the mesh"
check_run checkA "(A)" "$@"
task_changed checkA "multicloud.mesh.mesh_ca : Mesh CA for every cluster, once" 'subject: CN=Intermediate CA mesh-2'
task_changed checkA "multicloud.mesh.istio : Istio in every cluster of the mesh, linked, once" '^\+ +name: istiod$'
expect checkA 'check mode: cluster mesh-1 has no Secret istio-system/cacerts' "istio did not say it predicts without cacerts"
task_changed checkA "multicloud.mesh.postcard : The postcard's objects on this cluster (greeter on a frontend, messenger on the backend)" '^changed: \[mesh-2\]'
expect checkA "check mode: predicted as created in mesh-1, namespace default.*" "the postcard's greeter was not predicted"
expect checkA 'a real run links' "the link was not predicted"
unchanged_since "$before" "(A)"

step "2. site.yml -vvv --tags mesh_ca (the mesh CA only)"
runv meshca playbooks/site.yml --tags mesh_ca "$@" || fail "site.yml --tags mesh_ca failed"
before=$(state)
for h in mesh-1 mesh-2; do
    "$PY" -c 'import json,sys; s=json.loads(sys.argv[1])[sys.argv[2]]; sys.exit(not (s["istio_system_secrets"] == ["cacerts"] and s["istio_system_deployments"] == [] and s["istio_crds"] == []))' "$before" "$h" \
        || fail "$h: after --tags mesh_ca expected only istio-system/cacerts: $before"
done

# Full tier only (MESH_TEST_TIER=full): verify.yml without the mesh checks, then check run (B) on clusters that
# hold the mesh CA but no Istio. The default tier keeps the check runs on a fresh sandbox, on clusters without
# the mesh (A), on the deployed mesh and after teardown.
if [ "${MESH_TEST_TIER:-default}" = full ]; then
    # verify.yml without the mesh checks: the clusters, and the kubeconfigs written again from the cloud APIs
    # (EKS tokens live 15 minutes, and a check run writes no kubeconfig)
    step "2. verify.yml -vvv -e mesh_verify_expect_mesh=false (clusters and mesh CA; fresh kubeconfigs)"
    runv verify_clusters playbooks/verify.yml -e mesh_verify_expect_mesh=false "$@" || fail "verify.yml (clusters only) failed"
    for h in mesh-1 mesh-2; do
        grep -qE "^ +$h .* cacerts +(off|-)$" "$LOGS/verify_clusters.log" || fail "$h: no cacerts (MESH-CA) in the summary"
    done

    step "2. (B) site.yml --check --diff with the mesh CA, without Istio"
    check_run checkB "(B)" "$@"
    if grep -q 'has no Secret istio-system/cacerts' "$LOGS/checkB.log"; then fail "(B) istio did not see the cacerts"; fi
    task_changed checkB "multicloud.mesh.istio : Istio in every cluster of the mesh, linked, once" '^\+ +name: istiod$'
    expect checkB 'check mode: predicted as created in mesh-1, namespace default' "(B) the greeter was not predicted"
    expect checkB 'a real run links' "(B) the link was not predicted"
    unchanged_since "$before" "(B)"
else
    echo "SKIPPED in the default tier: verify.yml -e mesh_verify_expect_mesh=false and check run (B) (MESH_TEST_TIER=full runs them)"
fi

step "3. site.yml -vvv --tags mesh before the app exists (Istio; the link says it links nothing yet)"
runv mesh playbooks/site.yml --tags mesh "$@" || fail "site.yml --tags mesh failed"
# (the message is folded over lines in the output: compare with white space collapsed)
tr -s ' \n' '  ' <"$LOGS/mesh.log" | grep -q 'WARNING: Service default/messenger does not exist in mesh-2 yet, so the frontends are NOT linked' \
    || fail "--tags mesh before the app did not say that it links nothing (no WARNING ... NOT linked in $LOGS/mesh.log)"
"$PY" -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(not all(s[h]["service_entries"] == [] for h in s))' "$(state)" \
    || fail "--tags mesh before the app created ServiceEntries: $(state)"

step "3. site.yml -vvv (the rest of the mesh: postcard, link)"
t=$(date +%s)
runv site1 playbooks/site.yml "$@" || fail "site.yml failed"
echo "site.yml (after clusters and mesh CA): $(( $(date +%s) - t ))s; from nothing: $(( $(date +%s) - t_site ))s"
[ "$(emulator_clusters | wc -w)" -eq 2 ] || fail "expected 2 clusters in the emulators, got: $(emulator_clusters)"

step "3. site.yml again (must change nothing)"
t=$(date +%s)
run site2 playbooks/site.yml "$@" || fail "second site.yml failed"
echo "site.yml no-op run: $(( $(date +%s) - t ))s"
recap_changed_zero "$LOGS/site2.log" || fail "the second site.yml run changed something"

step "3. tokens: no token refused by either cloud's webhook, and each cluster's token renewed"
"$PY" - <<'PYEOF' || fail "token renewal (60 s tokens): see above"
import json, os, sys, urllib.request
aws = json.load(urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/_sandbox/stats"))["requests"]
gke = json.load(urllib.request.urlopen(os.environ["GKE_API_ENDPOINT"] + "/_emulator/stats"))["requests"]
refused = {k: n for k, n in list(aws.items()) + list(gke.items()) if k.startswith("webhook:token-review:refused")}
renewed = {"mesh-1 (EKS)": aws.get("webhook:token-review:new-token:mesh-1", 0),
           "mesh-2 (GKE)": gke.get("webhook:token-review:new-token", 0)}
print("distinct tokens accepted: %s; refused: %s" % (renewed, refused or "none"))
sys.exit(("tokens refused (a 401 for a client): %s" % refused) if refused else
         ("a cluster saw one token only (not renewed): %s" % renewed) if min(renewed.values()) < 2 else 0)
PYEOF

step "3. site.yml --check --diff on the deployed mesh (must predict no change)"
run check2 playbooks/site.yml --check --diff "$@" || fail "site.yml --check --diff on the deployed mesh failed"
recap_changed_zero "$LOGS/check2.log" || fail "check mode on the deployed mesh predicts changes"

step "4. LoadBalancer Services (cloud load balancers for teardown to remove)"
run lb "$HERE/lb.yml" "$@" || fail "lb.yml failed"

# verify.yml's postcard check (GET http://<ingress>/greeter) is off on the sandbox (mesh_verify_http=auto: kwok
# pods run no containers, no greeter answers). Here it is forced on against a local stand-in for the greeter's
# page (postcard_page.py) to test the check's logic; the real end-to-end fetch through the ingress gateway is
# only exercised on real clouds (docs/deviations.md).
step "4. verify.yml -vvv (postcard check forced on, against a local stand-in for the greeter's page)"
"$PY" "$HERE/postcard_page.py" "$LOGS/page.port" "All good in cluster 2." &
page_pid=$!
page_down() { local rc=$?; kill "$page_pid" 2>/dev/null || true; (exit "$rc"); it_clouds_down; }
trap page_down EXIT
for _ in $(seq 300); do [ -s "$LOGS/page.port" ] && break; sleep 0.1; done
[ -s "$LOGS/page.port" ] || fail "postcard_page.py did not start"
page="http://127.0.0.1:$(cat "$LOGS/page.port")"
runv verify playbooks/verify.yml -e mesh_verify_http=true -e "mesh_verify_greeter_url=$page/ok/greeter" "$@" \
    || fail "verify.yml failed"
grep -qE 'mesh-1 .* cacerts +ok$' "$LOGS/verify.log" || fail "mesh-1 (frontend): no POSTCARD ok in the summary"
grep -qE 'mesh-2 .* cacerts +-$' "$LOGS/verify.log" || fail "mesh-2 (backend): POSTCARD is not '-' in the summary"
# each link's reader token expiry (TokenRequest, 90 days by default): a date, not "never"
for h in mesh-1 mesh-2; do
  grep -qE "^ +$h +remote secret +istio-remote-secret-[a-z0-9-]+ \(cluster [a-z0-9-]+\) token expires 20[0-9]{2}-[0-9]{2}-[0-9]{2}T" "$LOGS/verify.log" \
    || fail "$h: no reader token expiry for its link in verify.yml's MESH CA table"
done

step "4. verify.yml against the greeter's error page (must fail, naming the cause)"
if run verify_err playbooks/verify.yml --limit mesh-1 -e mesh_verify_http=true \
        -e "mesh_verify_greeter_url=$page/error/greeter" -e mesh_verify_http_retries=1 -e mesh_verify_http_delay=1 "$@"; then
    fail "verify.yml passed although the greeter shows its error page"
fi
grep -q 'the greeter shows its error text "Oops we received nothing!"' "$LOGS/verify_err.log" \
    || fail "verify.yml failed without naming the greeter's error text"
kill "$page_pid" || true
trap it_clouds_down EXIT
grep -qE 'mesh-1 +aws +127\.0\.0\.1:[0-9]+ +v[0-9.]+ +[1-9][0-9]*/' "$LOGS/verify.log" || fail "no mesh-1 line in the summary"
grep -qE 'mesh-2 +gcp +127\.0\.0\.1:[0-9]+ +v[0-9.]+ +[1-9][0-9]*/' "$LOGS/verify.log" || fail "no mesh-2 line in the summary"
for h in mesh-1 mesh-2; do  # ISTIO ready, LINKED to the other cluster, MESH-CA
    grep -qE "$h .* ready [0-9]+/[0-9]+ +1/1 +cacerts" "$LOGS/verify.log" || fail "$h: Istio not ready or not linked in the summary"
done

step "5. API faults (rows.yml) on the deployed mesh"
if [ "${MESH_RESILIENCE_FULL:-0}" = 1 ]; then
    echo "MESH_RESILIENCE_FULL=1: running every row"
else
    echo "SKIPPED rows $("$PY" -c 'import sys, yaml; print(" ".join(r["id"] for r in yaml.safe_load(open(sys.argv[1]))["faults_rows"] if r.get("full")))' "$HERE/vars/rows.yml")" \
         "(full tier only: the default tier keeps faults of each kind; MESH_TEST_TIER=full runs them)"
fi
"$PY" - "$LOGS/clusters.json" <<'PYEOF'
import json, os, sys, yaml
from meshsandbox.clusters import ClusterManager
home = os.environ["MESH_SANDBOX_HOME"]
local = {c["server"]: c for c in ClusterManager(home).list()}
out = {}
for host in ("mesh-1", "mesh-2"):
    path = os.path.join(home, "kubeconfigs", host)
    with open(path) as handle:
        server = yaml.safe_load(handle)["clusters"][0]["cluster"]["server"]
    out[host] = {"kubeconfig": path, "local": local[server]["name"], "port": local[server]["ports"]["apiserver"]}
json.dump({"it_clusters": out}, open(sys.argv[1], "w"))
PYEOF
t=$(date +%s)
run faults "$HERE/faults.yml" -e @"$LOGS/clusters.json" -e it_results="$LOGS/faults-results.json" "$@" \
    || fail "a fault row did not end as expected (see above)"
echo "fault rows: $(( $(date +%s) - t ))s"
"$PY" - "$LOGS/faults-results.json" "$LOGS/faults-table.md" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1]))
lines = ["| # | fault | module | outcome | time | faults met |", "| --- | --- | --- | --- | --- | --- |"]
for r in rows:
    if r["outcome"] == "ok":
        outcome = "success" + (" after retries" if r["hits"] or r["down_seconds"] else "") + (" (changed)" if r["changed"] else "")
    else:
        outcome = "fails: `%s`" % r["message"].replace("|", "\\|")
    met = str(r["hits"]) if r["hits"] else ("API server down %ss" % r["down_seconds"] if r["down_seconds"] else "-")
    lines.append("| %s | %s | %s | %s | %.1f s | %s |" % (r["id"], r["fault"], r["module"], outcome, r["seconds"], met))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF

step "6. playbooks/awx/configure.yml --check --diff -vvv against the AWX stand-in (zero writes, no secret printed)"
roots=("$MESH_SANDBOX_HOME"/mesh-ca/*/root-ca.pem)
[ -f "${roots[0]}" ] || fail "no mesh root file under $MESH_SANDBOX_HOME/mesh-ca (the sandbox's default root store)"
PY="$PY" REPO="$REPO" bash "$HERE/awx_check.sh" "$LOGS/awx_configure_check.log" "${roots[0]}" \
    || fail "the AWX configure check failed (log: $LOGS/awx_configure_check.log)"

step "6. secrets scan (everything printed at -vvv and written since clouds up)"
"$PY" "$HERE/scan_secrets.py" --home "$MESH_SANDBOX_HOME" --logs "$LOGS" --tmp "$TMPDIR" --tmp "$ANSIBLE_HOME" \
    --since "$marker" --extra /tmp --extra "$REPO/.cache" --extra-skip "$REPO/.cache/bin" \
    --extra-skip "$REPO/.cache/collections" --json "$LOGS/secrets-scan.json" \
    || fail "key material outside 0600 files (see above)"
# and every log for the values verify.yml reads (cacerts' keys, the remote secrets' kubeconfigs and the
# tokens inside their base64) and the mesh root's key, kept (0600) to scan teardown.yml's output too
kc=(); for k in "$MESH_SANDBOX_HOME"/clusters/*/admin.kubeconfig; do kc+=(--kubeconfig "$k"); done
kf=(); for k in "$MESH_SANDBOX_HOME"/mesh-ca/*/root-ca.pem; do kf+=(--key-file "$k"); done
[ ${#kf[@]} -gt 0 ] || fail "no mesh root file under $MESH_SANDBOX_HOME/mesh-ca (the sandbox's default root store)"
"$PY" "$REPO/tests/integration/scan_output.py" "$LOGS"/*.log "${kc[@]}" "${kf[@]}" --min-values 8 \
    --save-values "$MESH_SANDBOX_HOME/scan-values" || fail "a playbook printed a secret (see above)"

step "7. teardown.yml -vvv"
# The kubeconfig files the cluster roles wrote, as the inventory names them (mesh_kubeconfig and the roles'
# eks_cluster_kubeconfig / gke_cluster_kubeconfig); each must exist now, so the check after teardown checks something.
kc_expr='[mesh_kubeconfig, eks_cluster_kubeconfig | default(mesh_kubeconfig), gke_cluster_kubeconfig | default(mesh_kubeconfig)]'
mapfile -t kubeconfigs < <(ANSIBLE_CALLBACK_RESULT_FORMAT=json ANSIBLE_CALLBACK_FORMAT_PRETTY=0 \
    "$(dirname "$PY")/ansible" mesh -m ansible.builtin.debug -a "{\"msg\": \"{{ $kc_expr | unique }}\"}" \
    | "$PY" -c 'import json, sys; print("\n".join(sorted({p for l in sys.stdin if " => " in l for p in json.loads(l.split(" => ", 1)[1])["msg"]})))')
[ "${#kubeconfigs[@]}" -ge 2 ] || fail "expected a kubeconfig path per mesh host from the inventory, got: ${kubeconfigs[*]:-none}"
for k in "${kubeconfigs[@]}"; do
    [ -f "$k" ] || fail "before teardown: no kubeconfig $k (the cluster roles should have written it)"
done
t=$(date +%s)
roots=("$MESH_SANDBOX_HOME"/mesh-ca/*/root-ca.pem)
[ -f "${roots[0]}" ] || fail "before teardown: no mesh root file under $MESH_SANDBOX_HOME/mesh-ca"
runv teardown playbooks/teardown.yml -e mesh_teardown_root_store=true "$@" || fail "teardown.yml failed"
echo "teardown.yml: $(( $(date +%s) - t ))s"
for k in "${kubeconfigs[@]}"; do
    [ ! -e "$k" ] || fail "teardown.yml left the kubeconfig $k of a deleted cluster"
done
"$PY" "$REPO/tests/integration/scan_output.py" "$LOGS/teardown.log" --values "$MESH_SANDBOX_HOME/scan-values" --min-values 8 \
    || fail "teardown.yml printed a secret (see above)"
grep -q "ORPHAN CHECK PASSED" "$LOGS/teardown.log" || fail "the orphan check did not pass"
for r in "${roots[@]}"; do
    [ ! -e "$r" ] || fail "teardown.yml -e mesh_teardown_root_store=true left the mesh root file $r"
done
[ -z "$(emulator_clusters)" ] || fail "clusters left in the emulators: $(emulator_clusters)"

step "7. teardown.yml again (re-runnable, nothing left to do)"
run teardown2 playbooks/teardown.yml -e mesh_teardown_root_store=true "$@" || fail "second teardown.yml failed"
grep -q "ORPHAN CHECK PASSED" "$LOGS/teardown2.log" || fail "the orphan check did not pass on the re-run"
recap_changed_zero "$LOGS/teardown2.log" || fail "the second teardown changed something"

# Whether a cluster exists is the clouds' answer, not a kubeconfig file's: the check run after teardown predicts
# from empty clouds, and neither retries a deleted cluster's API server nor writes a kubeconfig.
step "7. site.yml --check --diff after teardown (creates nothing, writes no kubeconfig, quick)"
t=$(date +%s)
run check_after_teardown playbooks/site.yml --check --diff "$@" || fail "site.yml --check --diff after teardown failed"
secs=$(( $(date +%s) - t ))
echo "site.yml --check --diff after teardown: ${secs}s"
[ -z "$(emulator_clusters)" ] || fail "check mode after teardown created clusters: $(emulator_clusters)"
for k in "${kubeconfigs[@]}"; do
    [ ! -e "$k" ] || fail "check mode after teardown wrote the kubeconfig $k"
done
recap_changed_all "$LOGS/check_after_teardown.log"
describe=$(task_out check_after_teardown "Read the cluster's version, nodes, namespaces and Istio CRDs")
for h in mesh-1 mesh-2; do  # the clouds said: no cluster, so nothing reads one
    grep -q "^skipping: \[$h\]" <<<"$describe" || fail "check mode after teardown looked for cluster $h: $describe"
done
step "passed"
