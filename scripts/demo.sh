#!/usr/bin/env bash
# The main job on the sandbox, like a user against real clouds: bootstrap, start the two cloud
# emulators (AWS, GKE) in the background, take what AWX credentials would inject from their
# env file, then site.yml (creates the clusters through the cloud APIs) and verify.yml.
#   scripts/demo.sh [ansible-playbook options for site.yml]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$root/sandbox"
export MESH_SANDBOX_HOME="${MESH_SANDBOX_HOME:-$root/.cache/sandbox}"
export ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections"
t=$(date +%s)
echo "[demo] starting the cloud emulators (AWS, GKE) ..."
python -m meshsandbox clouds up
# shellcheck disable=SC1091
. "$MESH_SANDBOX_HOME/clouds/env.sh"
echo "[demo] clouds up in $(( $(date +%s) - t ))s"
t=$(date +%s)
ansible-playbook playbooks/site.yml "$@"
echo "[demo] site.yml done in $(( $(date +%s) - t ))s"
ansible-playbook playbooks/verify.yml
echo "[demo] the clusters and the cloud emulators keep running."
echo "[demo] tear down with: make teardown   (teardown.yml with its orphan check, then clouds down)"
