#!/usr/bin/env bash
# API faults and secrets, in one sandbox (docs/resilience.md):
#   clouds up -> site.yml -vvv --tags clusters,mesh (EKS mesh-1, GKE mesh-2, mesh CA, Istio, link)
#   -> faults.yml: the rows of rows.yml (fault injected, module run, outcome asserted; a table of
#      measured results in $LOGS/faults-table.md) -> scan_secrets.py over all output and files
#      written (no key material outside 0600 files) ; clouds down in a trap.
# MESH_RESILIENCE_FULL=1 also runs the rows marked full (minutes of retry budget each).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init faults
it_need_istioctl
cd "$REPO"

# What this run writes to temp folders and Ansible's home lands where the scan can see all of it.
export TMPDIR="$MESH_SANDBOX_HOME/tmp" ANSIBLE_HOME="$MESH_SANDBOX_HOME/ansible-home"
mkdir -p "$TMPDIR" "$ANSIBLE_HOME"
marker="$MESH_SANDBOX_HOME/.scan-since"
touch "$marker"
if [ "${MESH_RESILIENCE_FULL:-0}" = 1 ]; then
    echo "MESH_RESILIENCE_FULL=1: running every row, also those with minutes of retry budget"
else
    echo "SKIPPED rows $(grep -B8 '    full: true' "$HERE/rows.yml" | sed -n 's/^  - id: //p' | tr '\n' ' ')(set MESH_RESILIENCE_FULL=1: each spends a default retry budget of 1-5 min)"
fi

step "clouds up"
it_clouds_up

step "site.yml -vvv --tags clusters,mesh (its output is scanned for secrets)"
t=$(date +%s)
run site playbooks/site.yml -vvv --tags clusters,mesh "$@" >/dev/null || { tail -n 60 "$LOGS/site.log"; fail "site.yml failed"; }
echo "site.yml -vvv: $(( $(date +%s) - t ))s, $(wc -c <"$LOGS/site.log") bytes of output"

step "API faults (rows.yml)"
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

step "secrets scan"
"$PY" "$HERE/scan_secrets.py" --home "$MESH_SANDBOX_HOME" --logs "$LOGS" --tmp "$TMPDIR" --tmp "$ANSIBLE_HOME" \
    --since "$marker" --extra /tmp --extra "$REPO/.cache" --extra-skip "$REPO/.cache/bin" \
    --extra-skip "$REPO/.cache/collections" --json "$LOGS/secrets-scan.json" \
    || fail "key material outside 0600 files (see above)"
step "passed"
