#!/usr/bin/env bash
# AWX's "OpenShift or Kubernetes API Bearer Token" credential against a real local cluster:
# a ServiceAccount (bound to `view`; cluster_info also reads nodes and CRDs, which `view` does
# not grant: first a clear 403, then with a small extra ClusterRole) and its token are made
# with the admin kubeconfig, then
# multicloud.mesh.cluster_info runs with NO kubeconfig and no connection option, only the
# environment AWX's injector sets: K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL and
# K8S_AUTH_SSL_CA_CERT (verified), K8S_AUTH_VERIFY_SSL=False without a CA (AWX's other form),
# and a wrong CA (must fail). The AWS and GCE credential types: tests/unit (test_awx_credentials.py).
# First, without a cluster: playbooks/awx/configure.yml (AWX objects) passes --syntax-check and its
# surveys match the roles' argument specs (check_awx_configure.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
py=${MESH_PYTHON:-$repo/.venv/bin/python}
playbook="$(dirname "$py")/ansible-playbook"
export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$repo/.cache/sandbox-it-awx-credentials}
export ANSIBLE_COLLECTIONS_PATH="$repo/.cache/collections"
work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-awx-cred-it.XXXXXX")
sandbox() { PYTHONPATH="$repo/sandbox" "$py" -m meshsandbox "$@"; }
# Inside target plain_cluster (MESH_IT_PLAIN_CLUSTER set): its cluster, left running for the next test.
cluster=${MESH_IT_PLAIN_CLUSTER:-it-awx}
cleanup() { [ -n "${MESH_IT_PLAIN_CLUSTER:-}" ] || sandbox down it-awx >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== playbooks/awx/configure.yml: syntax, survey vs the roles' argument specs"
"$playbook" --syntax-check "$repo/playbooks/awx/configure.yml"
"$py" "$here/check_awx_configure.py" "$repo"

[ -n "${MESH_IT_PLAIN_CLUSTER:-}" ] || sandbox up it-awx:plain
kubeconfig=$(sandbox kubeconfig "$cluster")
"$playbook" -i localhost, -c local "$here/setup.yml" \
  -e "it_kubeconfig=$kubeconfig it_python=$py it_dir=$work" "$@"
server=$("$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["clusters"][0]["cluster"]["server"])' "$kubeconfig")
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=not-the-cluster-ca -days 1 \
  -keyout "$work/other.key" -out "$work/other.crt" 2>/dev/null

# The job's environment: nothing of the machine's kube setup, only what the credential injects.
job() {
  local expect=$1; shift
  echo "== AWX Kubernetes credential: $expect"
  env -u KUBECONFIG -u K8S_AUTH_KUBECONFIG -u K8S_AUTH_CONTEXT -u PYTHONPATH HOME="$work/home" \
    K8S_AUTH_HOST="$server" K8S_AUTH_API_KEY="$(cat "$work/token")" "$@" \
    "$playbook" -i localhost, -c local "$here/job.yml" -e "it_python=$py it_expect=$expect"
}
mkdir -p "$work/home"
job view_only K8S_AUTH_VERIFY_SSL=True K8S_AUTH_SSL_CA_CERT="$work/ca.crt"
"$playbook" -i localhost, -c local "$here/setup.yml" \
  -e "it_kubeconfig=$kubeconfig it_python=$py it_dir=$work it_reader=true" "$@"
job verified K8S_AUTH_VERIFY_SSL=True K8S_AUTH_SSL_CA_CERT="$work/ca.crt"
job unverified K8S_AUTH_VERIFY_SSL=False
job bad_ca K8S_AUTH_VERIFY_SSL=True K8S_AUTH_SSL_CA_CERT="$work/other.crt"
echo "awx_credentials: OK"
