#!/usr/bin/env bash
# The main job on the sandbox: bootstrap, start the sandbox, run site.yml, then verify.yml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$root/sandbox"
t=$(date +%s)
echo "[demo] starting the sandbox clusters ..."
python -m meshsandbox up mesh-1:eks mesh-2:gke
echo "[demo] sandbox up in $(( $(date +%s) - t ))s"
t=$(date +%s)
ansible-playbook playbooks/site.yml "$@"
echo "[demo] site.yml done in $(( $(date +%s) - t ))s"
ansible-playbook playbooks/verify.yml
echo "[demo] the sandbox keeps running; stop it with: make sandbox-down"
