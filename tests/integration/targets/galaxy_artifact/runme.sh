#!/usr/bin/env bash
# The Galaxy artifact: build it, check what is (and is not) inside, install it with its
# dependencies into an empty collections path, and use it there by FQCN against a sandbox
# cluster. Nothing of the checkout is on the collections path while the playbooks run.
#
# Galaxy is not reachable from this project's machines (docs/deviations.md): the dependencies
# named in requirements.yml are installed, with requirements.yml's version constraints, from
# the copies scripts/install-collections.py extracted from the pinned `ansible` wheel
# (.cache/collections), as `type: dir` sources, with --offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
py=${MESH_PYTHON:-$repo/.venv/bin/python}
bin=$(dirname "$py")
export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$repo/.cache/sandbox-it-artifact}
work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-artifact-it.XXXXXX")
sandbox() { PYTHONPATH="$repo/sandbox" "$py" -m meshsandbox "$@"; }
# Inside target plain_cluster (MESH_IT_PLAIN_CLUSTER set): its cluster, left running for the next test.
cluster=${MESH_IT_PLAIN_CLUSTER:-it-art}
cleanup() { [ -n "${MESH_IT_PLAIN_CLUSTER:-}" ] || sandbox down it-art >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Only the installed copy: no checkout ansible.cfg (run from $work), no sys.path scan.
cd "$work"
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_ROLES_PATH="$work/roles"
unset PYTHONPATH ANSIBLE_CONFIG

echo "== build"
"$bin/ansible-galaxy" collection build --output-path "$work/dist" "$repo"
tarball=$(ls "$work"/dist/multicloud-mesh-*.tar.gz)
tar -tzf "$tarball" | sed 's#/$##' | sort > "$work/listing"
echo "$(wc -l < "$work/listing") entries in $(basename "$tarball")"

echo "== what must not be inside"
for path in sandbox scripts benchmarks molecule tests .cache .venv .git .ci .ansible .ansible-lint \
    .pytest_cache ansible_collections Makefile ansible.cfg site.yml constraints.txt test-requirements.txt \
    collections-requirements.txt docs/build docs/dev docs/sphinx inventories/sandbox changelogs/.plugin-cache.yaml; do
  if grep -qE "^${path//./\\.}(/|$)" "$work/listing"; then fail "$path is in the artifact"; fi
done
grep -E '(^|/)(__pycache__|\.pytest_cache)(/|$)|\.pyc$|\.tar\.gz$' "$work/listing" && fail "build leftovers in the artifact"

echo "== what must be inside"
for module in "$repo"/plugins/modules/*.py; do
  grep -qx "plugins/modules/$(basename "$module")" "$work/listing" || fail "plugins/modules/$(basename "$module") is missing"
done
for role in "$repo"/roles/*/; do
  r=$(basename "$role")
  grep -qx "roles/$r/meta/argument_specs.yml" "$work/listing" || fail "role $r (meta/argument_specs.yml) is missing"
  grep -qx "roles/$r/tasks/main.yml" "$work/listing" || fail "role $r (tasks/main.yml) is missing"
done
for f in MANIFEST.json FILES.json README.md meta/runtime.yml requirements.txt requirements.yml \
    plugins/module_utils/kube.py plugins/doc_fragments/kube.py playbooks/verify.yml; do
  grep -qx "$f" "$work/listing" || fail "$f is missing"
done
for f in meta/execution-environment.yml bindep.txt execution-environment.yml CHANGELOG.rst; do
  if [ -e "$repo/$f" ]; then grep -qx "$f" "$work/listing" || fail "$f is missing"; fi
done
tar -xzOf "$tarball" MANIFEST.json | "$py" -c '
import json, sys
info = json.load(sys.stdin)["collection_info"]
assert (info["namespace"], info["name"]) == ("multicloud", "mesh"), info
assert set(info["dependencies"]) == {"kubernetes.core", "amazon.aws"}, info["dependencies"]
print("MANIFEST: %s.%s %s, dependencies %s" % (info["namespace"], info["name"], info["version"], info["dependencies"]))'

echo "== install the dependencies of requirements.yml from the local copies (Galaxy unreachable)"
"$py" "$here/local_requirements.py" "$repo/requirements.yml" "$repo/.cache/collections" "$work/requirements-local.yml"
"$bin/ansible-galaxy" collection install --offline -r "$work/requirements-local.yml" -p "$work/collections"
echo "== install the tarball; its galaxy.yml dependencies must be satisfied by what is installed"
"$bin/ansible-galaxy" collection install --offline "$tarball" -p "$work/collections"
"$bin/ansible-galaxy" collection list -p "$work/collections" --format json > "$work/list.json"
"$py" - "$work/list.json" "$work/collections" <<'PY'
import json, sys
# ansible-core's own internal collections (ansible._protomatter) are listed too: ignore them
found = {p: c for p, c in json.load(open(sys.argv[1])).items() if "/ansible/_internal/" not in p}
paths = set(found)
assert all(p.startswith(sys.argv[2]) for p in paths), paths
names = {n for p in found.values() for n in p}
assert {"multicloud.mesh", "kubernetes.core", "amazon.aws"} <= names, names
print("installed: %s" % ", ".join("%s %s" % (n, v["version"]) for p in found.values() for n, v in sorted(p.items())))
PY
[ ! -e "$work/collections/ansible_collections/multicloud/mesh/sandbox" ] || fail "sandbox installed"
[ ! -L "$work/collections/ansible_collections/multicloud/mesh" ] || fail "the installed collection is a link"
# ansible-doc resolves the module to the installed file (the only copy on the path)
"$bin/ansible-doc" -t module multicloud.mesh.cluster_info --json | "$py" -c '
import json, sys
doc = json.load(sys.stdin)["multicloud.mesh.cluster_info"]["doc"]
assert doc["filename"].startswith(sys.argv[1]), doc["filename"]
print("ansible-doc: %s" % doc["filename"])' "$work/collections/"

echo "== sandbox cluster"
[ -n "${MESH_IT_PLAIN_CLUSTER:-}" ] || sandbox up it-art:plain
kubeconfig=$(sandbox kubeconfig "$cluster")
cat > "$work/inventory.yml" <<INV
mesh:
  hosts:
    $cluster:
      mesh_kubeconfig: $kubeconfig
      mesh_cloud: plain
  vars:
    ansible_connection: local
    ansible_python_interpreter: $py
INV
cp "$here/playbook.yml" "$work/playbook.yml"
echo "== modules and roles by FQCN from the installed copy"
"$bin/ansible-playbook" -i "$work/inventory.yml" "$work/playbook.yml" -e "it_collections_path=$work/collections/" "$@"
echo "== a playbook of the installed collection, by FQCN"
# a plain cluster without Istio: verify the clusters only
"$bin/ansible-playbook" -i "$work/inventory.yml" multicloud.mesh.verify -e mesh_verify_expect_mesh=false "$@"
echo "galaxy_artifact: OK"
