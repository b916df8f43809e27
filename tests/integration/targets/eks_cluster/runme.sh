#!/usr/bin/env bash
# Integration test of multicloud.mesh.eks_cluster against the sandbox: starts the AWS emulator
# (which starts a real local API server per EKS cluster), runs playbook.yml, stops everything.
#   tests/integration/targets/eks_cluster/runme.sh [-v ...]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../../.." && pwd)
PY=${MESH_PYTHON:-$REPO/.venv/bin/python}
export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$REPO/.cache/sandbox-it-eks}
mkdir -p "$MESH_SANDBOX_HOME" && chmod 700 "$MESH_SANDBOX_HOME"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG="$MESH_SANDBOX_HOME/aws-emulator.log"
STATE="$MESH_SANDBOX_HOME/aws/emulator.json"
rm -f "$STATE"
PYTHONPATH="$REPO/sandbox" "$PY" -m meshsandbox aws-emulator --port "$PORT" \
    --ready-delay "${MESH_EKS_READY_DELAY:-2}" >"$LOG" 2>&1 &
EMULATOR_PID=$!
stop_emulator() {
    kill -TERM "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
}
trap stop_emulator EXIT
for _ in $(seq 1 300); do   # up to 60 s (slow on a loaded machine)
    [ -s "$STATE" ] && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { echo "AWS emulator died:"; tail -20 "$LOG"; exit 1; }
    sleep 0.2
done
[ -s "$STATE" ] || { echo "AWS emulator did not start"; tail -20 "$LOG"; exit 1; }

# What AWX's "Amazon Web Services" credential would inject (read from the 0600 file, never echoed).
eval "$("$PY" - "$MESH_SANDBOX_HOME/aws/credentials" <<'PYEOF'
import configparser, shlex, sys
c = configparser.ConfigParser(); c.read(sys.argv[1]); s = c["mesh-sandbox"]
print("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s" % (
    shlex.quote(s["aws_access_key_id"]), shlex.quote(s["aws_secret_access_key"])))
PYEOF
)"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=eu-central-1 AWS_DEFAULT_REGION=eu-central-1
# The collection comes from .cache/collections (scripts/bootstrap.sh links multicloud.mesh there); this test
# writes nothing into the checkout, so it does not make that link itself.
export ANSIBLE_COLLECTIONS_PATH="$REPO/.cache/collections"
[ -e "$REPO/.cache/collections/ansible_collections/multicloud/mesh" ] || {
    echo "eks_cluster: multicloud.mesh is not linked under .cache/collections: run scripts/bootstrap.sh" >&2; exit 1; }
cd "$HERE"
# MESH_EKS_PLAYBOOKS: which of these to run (empty: none); MESH_EKS_PROGRESS=0 leaves out the progress check
for playbook in ${MESH_EKS_PLAYBOOKS-playbook.yml node_join.yml role.yml}; do
    "$REPO/.venv/bin/ansible-playbook" -i localhost, -c local "$playbook" \
        -e ansible_python_interpreter="$PY" -e mesh_sandbox_home="$MESH_SANDBOX_HOME" "$@"
done

# Progress during a long wait (issue 15): every output line time-stamped as it arrives, then the gaps checked.
if [ "${MESH_EKS_PROGRESS:-1}" != 0 ]; then
    delay=${MESH_EKS_PROGRESS_DELAY:-70}
    out="$MESH_SANDBOX_HOME/progress.out"
    set +e
    "$REPO/.venv/bin/ansible-playbook" -i localhost, -c local progress.yml -e ansible_python_interpreter="$PY" \
        -e mesh_sandbox_home="$MESH_SANDBOX_HOME" -e progress_delay="$delay" "$@" 2>&1 \
        | while IFS= read -r line; do printf '%s %s\n' "$(date +%s)" "$line"; done > "$out"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" = 0 ] || { cut -d' ' -f2- "$out" | tail -40; echo "progress.yml failed (rc $rc)"; exit 1; }
    "$PY" "$HERE/files/progress_check.py" "$out" "$delay"
fi

# Temporary credentials (sts:AssumeRole) in AWX's form: the token in AWS_SECURITY_TOKEN only.
# (kept in variables of this shell, never echoed)
temp=$("$PY" - <<'PYEOF'
import json, boto3
iam = boto3.client("iam"); sts = boto3.client("sts")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"AWS": sts.get_caller_identity()["Arn"]}}]}
try:
    arn = iam.create_role(RoleName="it-awx-job", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
except iam.exceptions.EntityAlreadyExistsException:
    arn = iam.get_role(RoleName="it-awx-job")["Role"]["Arn"]
c = sts.assume_role(RoleArn=arn, RoleSessionName="awx-job")["Credentials"]
print(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
PYEOF
)
read -r temp_key temp_secret temp_token <<<"$temp"
for expect in ok refused; do
    token=$temp_token; [ "$expect" = ok ] || token=
    env -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID="$temp_key" AWS_SECRET_ACCESS_KEY="$temp_secret" \
        AWS_SECURITY_TOKEN="$token" \
        "$REPO/.venv/bin/ansible-playbook" -i localhost, -c local legacy_token.yml \
        -e ansible_python_interpreter="$PY" -e mesh_sandbox_home="$MESH_SANDBOX_HOME" \
        -e it_expect=$expect "$@"
done
