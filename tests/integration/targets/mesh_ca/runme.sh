#!/usr/bin/env bash
# mesh_ca against three real local clusters and the sandbox's AWS emulator:
#   1. playbook.yml - the module: root in an explicitly named cluster Secret (warned about), idempotence,
#      check mode, a third cluster, a file root store, rotation, bad input, removal.
#   2. stores.yml - the role with each root store: file (the default, under HOME), aws (AWS Secrets
#      Manager of the emulator), awx (the root injected as extra vars by the AWX credential type of
#      playbooks/awx/vars/main.yml), secret (asked for by name): a mesh of 2 clusters, a 3rd joins (one
#      new intermediate), a re-run (PLAY RECAP changed=0, the root key not read), removal.
#   3. reader.yml - a second cluster's istiod reader identity (reads Secrets cluster-wide) finds no root
#      in cluster 1 with the default store, and does find it with the secret store.
# Starts and stops its own clusters and emulators (.cache/sandbox-it-mesh-ca).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init mesh-ca
it_need_openssl() { command -v openssl >/dev/null || fail "openssl is needed (the AWX root, chain checks)"; }
it_need_openssl
clusters=(it-ca-1 it-ca-2 it-ca-3)
work="$MESH_SANDBOX_HOME/work"
mkdir -p "$work" && chmod 700 "$work"
step "clusters and the AWS emulator"
it_clouds_up
"$PY" -m meshsandbox up "${clusters[@]/%/:plain}"
kc() { "$PY" -m meshsandbox kubeconfig "$1"; }

step "1. the module (playbook.yml)"
run module -i localhost, -c local "$HERE/playbook.yml" \
  -e "it_kc1=$(kc it-ca-1) it_kc2=$(kc it-ca-2) it_kc3=$(kc it-ca-3)" \
  -e "it_python=$PY it_dir=$work" "$@"

# Inventories as a user writes them: one host per cluster in group mesh; 2 clusters, then 3.
inventory() {
  echo "mesh:"
  echo "  hosts:"
  for c in "$@"; do echo "    $c: {mesh_kubeconfig: $(kc "$c")}"; done
  echo "  vars: {ansible_connection: local, ansible_python_interpreter: $PY}"
}
inventory it-ca-1 it-ca-2 >"$work/inventory-2.yml"
inventory it-ca-1 it-ca-2 it-ca-3 >"$work/inventory-3.yml"

# The AWX job's extra vars: the injectors of the "Mesh root CA" credential type (playbooks/awx/vars/main.yml)
# rendered as AWX renders them, with a root made by openssl (what an operator pastes into the credential).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/O=Istio/OU=it-awx/CN=Root CA" \
  -addext "basicConstraints=critical,CA:true,pathlen:1" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$work/awx-root.key" -out "$work/awx-root.pem" 2>/dev/null
chmod 600 "$work/awx-root.key"
"$PY" - "$REPO/playbooks/awx/vars/main.yml" "$work" <<'PYEOF'
import os, sys, yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment
class Loader(yaml.SafeLoader):
    pass
Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
with open(sys.argv[1]) as handle:
    awx = yaml.load(handle, Loader=Loader)  # noqa: S506 - SafeLoader subclass
work = sys.argv[2]
fields = awx["awx_mesh_root_ca_inputs"]["fields"]
secret = sorted(f["id"] for f in fields if f.get("secret"))
assert secret == ["root_key"], "the credential type's secret fields are %s, not [root_key]" % secret
inputs = {"root_cert": open(os.path.join(work, "awx-root.pem")).read(),
          "root_key": open(os.path.join(work, "awx-root.key")).read()}
env = ImmutableSandboxedEnvironment()
extra = {k: env.from_string(v).render(**inputs) for k, v in awx["awx_mesh_root_ca_injectors"]["extra_vars"].items()}
assert sorted(extra) == ["mesh_ca_root_cert", "mesh_ca_root_key"], sorted(extra)
fd = os.open(os.path.join(work, "awx-extra-vars.yml"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as handle:
    yaml.safe_dump(extra, handle)
PYEOF

stores() {  # STORE [extra ansible-playbook arguments]: create (2 clusters), add (3rd), rerun (changed 0)
  local store=$1; shift
  step "2. store $store: a mesh of 2 clusters"
  run "$store-create" -i "$work/inventory-2.yml" "$HERE/stores.yml" -e "it_store=$store it_phase=create it_dir=$work" "$@"
  step "2. store $store: a third cluster joins"
  run "$store-add" -i "$work/inventory-3.yml" "$HERE/stores.yml" -e "it_store=$store it_phase=add it_dir=$work" "$@"
  step "2. store $store: re-run"
  run "$store-rerun" -i "$work/inventory-3.yml" "$HERE/stores.yml" -e "it_store=$store it_phase=rerun it_dir=$work" "$@"
  recap_changed_zero "$LOGS/$store-rerun.log" || fail "store $store: the re-run changed something"
}
absent() {
  local store=$1; shift
  step "2. store $store: removal"
  run "$store-absent" -i "$work/inventory-3.yml" "$HERE/stores.yml" -e "it_store=$store it_phase=absent it_dir=$work" "$@"
}

# The default store: HOME is a test folder, so the role's ~/.multicloud-mesh/<mesh_id>/root-ca.pem is under it.
mkdir -p "$work/home" && chmod 700 "$work/home"
HOME="$work/home" stores file "$@"
step "3. the reader identity of a linked istiod, default store"
run reader-file -i localhost, -c local "$HERE/reader.yml" -e "it_expect=absent it_kc1=$(kc it-ca-1)" \
  -e "it_root_file=$work/home/.multicloud-mesh/it-file/root-ca.pem it_python=$PY it_dir=$work" "$@"
HOME="$work/home" absent file "$@"

stores aws "$@"
absent aws "$@"

stores awx -e "@$work/awx-extra-vars.yml" "$@"
absent awx -e "@$work/awx-extra-vars.yml" "$@"

stores secret "$@"
step "3. the reader identity of a linked istiod, secret store"
run reader-secret -i localhost, -c local "$HERE/reader.yml" -e "it_expect=readable it_kc1=$(kc it-ca-1)" \
  -e "it_python=$PY it_dir=$work" "$@"
absent secret "$@"

rm -rf "$work"
step "mesh_ca: passed"
