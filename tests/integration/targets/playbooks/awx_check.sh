#!/usr/bin/env bash
# playbooks/awx/configure.yml --check --diff -vvv against the AWX stand-in (sandbox/meshsandbox/awx_api.py),
# with real-looking secrets, and a scan of its output for them.
#   PY=.venv/bin/python REPO=. tests/integration/targets/playbooks/awx_check.sh LOG ROOT_FILE
# LOG: everything ansible-playbook printed (kept, for the collection's scan_output.py as well).
# ROOT_FILE: a PEM file with the mesh root certificate and its private key (awx_mesh_root_cert/key).
# Secrets: awx_aws_secret_key (40 random characters), awx_aws_session_token, awx_gce_private_key (a fresh
# RSA key), awx_mesh_root_key (ROOT_FILE's key) and the controller token; they go only into 0600 files
# of a temporary folder (removed on exit), to ansible-playbook with -e @file, never on a command line.
# Fails (one line on stderr, never a value) unless: the recap has failed=0, the three credential tasks are
# predicted changed, the stand-in got requests, all with the token, and not one write (non-GET), no
# version-mismatch warning, and no secret is in LOG as is, JSON-escaped, line by line (PEM bodies) or in
# base64.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: PY=... REPO=... $0 LOG ROOT_FILE" >&2; exit 2; }
LOG=$1 ROOT_FILE=$2
: "${PY:?PY (the venv python) is not set}" "${REPO:?REPO (the repository root) is not set}"
fail() { echo "awx_check: FAIL: $*" >&2; exit 1; }
[ -r "$ROOT_FILE" ] || fail "ROOT_FILE $ROOT_FILE is not readable"
PLAYBOOK_BIN="$(dirname "$PY")/ansible-playbook"
[ -x "$PLAYBOOK_BIN" ] || fail "$PLAYBOOK_BIN not found"

work=$(mktemp -d)
chmod 700 "$work"
api_pid=""
cleanup() {
    if [ -n "$api_pid" ]; then kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Secrets (extra vars), the stand-in's seed and, per secret, the strings that must not be in LOG.
(umask 077 && "$PY" - "$ROOT_FILE" "$REPO/playbooks/awx/vars/main.yml" "$work" <<'EOF'
import base64, json, re, secrets, string, sys
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

root_file, vars_file, work = sys.argv[1:]
pem = open(root_file, encoding="utf-8").read()
blocks = [(m.group(1), m.group(0)) for m in re.finditer(r"-----BEGIN ([A-Z ]+)-----\n.*?\n-----END \1-----\n?", pem, re.S)]
certs = "".join(t for b, t in blocks if b == "CERTIFICATE")
keys = [t for b, t in blocks if b.endswith("PRIVATE KEY")]
if not certs or len(keys) != 1:
    sys.exit(f"awx_check: FAIL: {root_file} must hold certificate(s) and one private key")
alphabet = string.ascii_letters + string.digits + "/+"
gce_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
secret = {
    "awx_aws_secret_key": "".join(secrets.choice(alphabet) for _ in range(40)),
    "awx_aws_session_token": "IQoJb3JpZ2luX2Vj" + "".join(secrets.choice(alphabet) for _ in range(300)),
    "awx_gce_private_key": gce_key,
    "awx_mesh_root_key": keys[0],
    "controller_token": secrets.token_urlsafe(30),
}
extra = {k: v for k, v in secret.items() if k.startswith("awx_")}
extra.update(awx_aws_access_key="AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
             awx_gce_email="mesh-awx@sandbox-project.iam.gserviceaccount.com", awx_gce_project="sandbox-project",
             awx_mesh_root_cert=certs)
json.dump(extra, open(f"{work}/extra.json", "w"))
open(f"{work}/token", "w").write(secret["controller_token"])
for name, value in secret.items():
    forms = {"as-is": [value], "JSON-escaped": [json.dumps(value)[1:-1]] if json.dumps(value)[1:-1] != value else [],
             "a PEM body line": [l for l in value.splitlines() if len(l) >= 16 and not l.startswith("-----")]
             if "\n" in value.strip() else [],
             "base64": [base64.b64encode(value.encode()).decode()]}
    for form, needles in forms.items():
        needles = [n for n in needles if "\n" not in n]  # grep -f: one pattern a line
        if needles:
            open(f"{work}/needle.{name}.{form}", "w").write("\n".join(needles) + "\n")

# Seed: what configure.yml references by name (resolve_name_to_id) and, in a real run, would have
# created in an earlier task; and AWX's built-in credential types.
class Loader(yaml.SafeLoader):
    pass
Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
v = yaml.load(open(vars_file, encoding="utf-8"), Loader=Loader)
org = {"organization": 1}
types = ["Amazon Web Services", "Google Compute Engine", v["awx_mesh_root_ca_type"]]
creds = [v["awx_aws_credential"], v["awx_gce_credential"], v["awx_mesh_root_ca_credential"]]
seed = {
    "organizations": [{"id": 1, "name": v["awx_organization"]}],
    "execution_environments": [{"id": 1, "name": v["awx_ee_name"], **org}],
    "projects": [{"id": 1, "name": v["awx_project_name"], **org}],
    "credential_types": [{"id": i + 1, "name": n, "kind": "cloud", "managed": i < 2} for i, n in enumerate(types)],
    "credentials": [{"id": i + 1, "name": n, "credential_type": i + 1, **org} for i, n in enumerate(creds)],
    "inventories": [{"id": 1, "name": v["awx_inventory_name"], "kind": "", **org}],
    "hosts": [{"id": i + 1, "name": c["name"], "inventory": 1} for i, c in enumerate(v["awx_clusters"])],
    "groups": [{"id": 1, "name": "aws", "inventory": 1}, {"id": 2, "name": "gcp", "inventory": 1}],
}
json.dump(seed, open(f"{work}/seed.json", "w"), indent=1)
EOF
) || fail "could not prepare the secrets and the seed"

# The stand-in on a free loopback port.
PYTHONPATH="$REPO/sandbox" "$PY" -m meshsandbox.awx_api --port 0 --token-file "$work/token" \
    --state-file "$work/state.json" --seed "$work/seed.json" --url-file "$work/url" >"$work/api.out" 2>&1 &
api_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; kill -0 "$api_pid" 2>/dev/null || break; sleep 0.1; done
[ -s "$work/url" ] || fail "the AWX stand-in did not start: $(tail -n 1 "$work/api.out")"
url=$(cat "$work/url")

# A request with a wrong token must get 401 (AWX's answer), or the run below proves nothing about auth.
code=$("$PY" - "$url" <<'EOF'
import sys, urllib.error, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/v2/organizations/", headers={"Authorization": "Bearer wrong"})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
)
[ "$code" = 401 ] || fail "the stand-in answered $code, not 401, to a wrong token"

started=$(date +%s)
rc=0
(cd "$REPO" && CONTROLLER_HOST="$url" CONTROLLER_OAUTH_TOKEN="$(cat "$work/token")" CONTROLLER_VERIFY_SSL=false \
    "$PLAYBOOK_BIN" playbooks/awx/configure.yml --check --diff -vvv -e "@$work/extra.json") >"$LOG" 2>&1 || rc=$?
echo "awx_check: ansible-playbook rc=$rc in $(( $(date +%s) - started )) s: $(grep -E '^localhost +:' "$LOG" || echo 'no recap')"

# No secret in LOG, in any of the forms above (checked first: a leak is the worst outcome).
needle_files=("$work"/needle.*)
if [ ! -e "${needle_files[0]}" ] || [ "${#needle_files[@]}" -lt 10 ]; then
    fail "too few secret pattern files (${#needle_files[@]}): nothing to scan for"
fi
for needles in "${needle_files[@]}"; do
    what=${needles#"$work/needle."}
    hit=0
    grep -F -q -f "$needles" "$LOG" || hit=$?
    [ "$hit" = 0 ] && fail "${what%%.*} appears in $LOG (${what#*.})"
    [ "$hit" = 1 ] || fail "grep could not scan $LOG for ${what%%.*} (rc=$hit)"
done
grep -E -q '^localhost +: .*failed=0' "$LOG" || fail "ansible-playbook did not end with failed=0 (rc=$rc), see $LOG"
[ "$rc" = 0 ] || fail "ansible-playbook exited $rc, see $LOG"
if grep -E -q 'You are running collection version|version of this collection but connecting to' "$LOG"; then
    fail "the awx.awx collection warned about the controller's version, see $LOG"
fi
for task in "AWS credential" "GCE credential" "Mesh root CA credential"; do
    status=$(awk -v t="TASK [$task" 'index($0, "TASK [") == 1 { cur = (index($0, t) == 1) }
        cur && /^(ok|changed|skipping|fatal|failed): \[localhost\]/ { sub(/:.*/, ""); print; exit }' "$LOG")
    [ "$status" = changed ] || fail "task '$task' was predicted '${status:-nothing}', not changed"
done
read -r requests unauthorized writes < <("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["requests"], s["unauthorized"], len(s["writes"]))
for w in s["writes"]:
    print("awx_check: write:", w["method"], w["path"], file=sys.stderr)' "$work/state.json")
[ "$writes" = 0 ] || fail "the check run sent $writes write request(s) (non-GET) to AWX"
[ "$unauthorized" = 1 ] || fail "$unauthorized request(s) without the right token (expected only the probe)"
[ "$requests" -gt 10 ] || fail "the stand-in got only $requests request(s): the modules did not look anything up"
echo "awx_check: OK: failed=0, credentials predicted changed, $((requests - 1)) GET request(s), 0 writes, no secret in $LOG"
