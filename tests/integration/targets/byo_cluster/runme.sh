#!/usr/bin/env bash
# A bring-your-own cluster in the mesh (issue 18; docs/architecture.md, inventories/byo.example.yml):
#   1. clouds up, a plain sandbox cluster byo-1 (no cloud of ours), an inventory = inventories/sandbox
#      + byo-1 in group mesh only (mesh_cloud: byo, its kubeconfig, its network, frontend)
#   2. site.yml: byo-1 gets cacerts, Istio (linked to the others) and the greeter
#   3. teardown.yml: the cloud clusters are deleted; in byo-1 nothing of the mesh is left (Istio's CRDs and
#      webhooks, istio-system, the greeter), the cluster still answers and its kubeconfig is kept; the
#      orphan check says what it checked for byo-1
#   tests/integration/targets/byo_cluster/runme.sh [-v ...]   (extra args go to ansible-playbook)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init byo
it_need_istioctl
cd "$REPO"

step "1. clouds up, the user's cluster byo-1, the inventory"
it_clouds_up
"$PY" -m meshsandbox up byo-1:plain
byo_kubeconfig=$("$PY" -m meshsandbox kubeconfig byo-1)
cat >"$MESH_SANDBOX_HOME/byo.yml" <<YAML
all:
  children:
    mesh:
      hosts:
        byo-1:
          mesh_cloud: byo
          mesh_network: network-byo
          mesh_role: frontend
          mesh_kubeconfig: $byo_kubeconfig
YAML
INV=(-i inventories/sandbox -i "$MESH_SANDBOX_HOME/byo.yml")
byo() {  # what of the mesh is in byo-1: "crds=N ns=0|1 webhooks=N greeter=0|1 cacerts=0|1 remote_secrets=N"
    "$PY" - "$byo_kubeconfig" <<'PYEOF'
import sys
from kubernetes import client, config
api = config.new_client_from_config(sys.argv[1])
core, ext, apps, adm = client.CoreV1Api(api), client.ApiextensionsV1Api(api), client.AppsV1Api(api), client.AdmissionregistrationV1Api(api)
crds = [c.metadata.name for c in ext.list_custom_resource_definition().items if c.metadata.name.endswith(".istio.io")]
ns = [n.metadata.name for n in core.list_namespace().items]
hooks = [w.metadata.name for w in adm.list_mutating_webhook_configuration().items + adm.list_validating_webhook_configuration().items
         if "istio" in w.metadata.name]
greeter = [d.metadata.name for d in apps.list_namespaced_deployment("default").items if d.metadata.name == "greeter"]
secrets = [s.metadata.name for s in core.list_namespaced_secret("istio-system").items] if "istio-system" in ns else []
print("crds=%d ns=%d webhooks=%d greeter=%d cacerts=%d remote_secrets=%d default=%d" % (
    len(crds), int("istio-system" in ns), len(hooks), len(greeter), int("cacerts" in secrets),
    len([s for s in secrets if s.startswith("istio-remote-secret-")]), int("default" in ns)))
PYEOF
}

step "2. site.yml with byo-1 in the mesh"
run site playbooks/site.yml "${INV[@]}" "$@" >/dev/null || { tail -n 60 "$LOGS/site.log"; fail "site.yml failed"; }
sed -n '/^PLAY RECAP/,$p' "$LOGS/site.log"
got=$(byo); echo "byo-1 after site.yml: $got"
grep -qE '^crds=[1-9][0-9]* ns=1 webhooks=[1-9][0-9]* greeter=1 cacerts=1 remote_secrets=2 default=1$' <<<"$got" \
    || fail "byo-1 did not join the mesh (Istio, cacerts, the greeter, linked to mesh-1 and mesh-2): $got"

step "3. teardown.yml"
run teardown playbooks/teardown.yml "${INV[@]}" "$@" >/dev/null || { tail -n 60 "$LOGS/teardown.log"; fail "teardown.yml failed"; }
sed -n '/^PLAY RECAP/,$p' "$LOGS/teardown.log"
got=$(byo); echo "byo-1 after teardown.yml: $got"
[ "$got" = "crds=0 ns=0 webhooks=0 greeter=0 cacerts=0 remote_secrets=0 default=1" ] \
    || fail "teardown.yml left the mesh's objects in byo-1 (or removed the cluster's own): $got"
[ -f "$byo_kubeconfig" ] || fail "teardown.yml deleted the kubeconfig of the user's cluster"
tr -s ' \n' '  ' <"$LOGS/teardown.log" | grep -qE "orphan check passed for byo-1 \(byo\); checked: Istio'+s CRDs, namespace istio-system" \
    || fail "the orphan check did not say what it checked for byo-1"
tr -s ' \n' '  ' <"$LOGS/teardown.log" | grep -qE "ORPHAN CHECK PASSED: nothing of mesh-1, mesh-2 is left in the clouds; nothing of the mesh is left in byo-1 \(clusters kept\)" \
    || fail "the orphan check's summary does not name byo-1 apart"
[ -z "$(emulator_clusters)" ] || fail "clusters left in the emulators: $(emulator_clusters)"
step "passed"
