#!/usr/bin/env bash
# The benchmark harness with 8 clusters (4 EKS, 4 GKE), parallel mode, 5 s provisioning delay, and
# its timed no-op re-run: site.yml must pass, the no-op re-run change nothing, and no process stay
# behind. Full tier only (~6-8 min). Results go to .cache/benchmark-smoke (not benchmarks/results).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
py=${MESH_PYTHON:-$repo/.venv/bin/python}
out="$repo/.cache/benchmark-smoke"
rm -rf "$out" && mkdir -p "$out"
"$py" "$repo/benchmarks/run.py" --clusters 8 --modes parallel --noop 8 --delay 5 --out "$out"
"$py" - "$out/latest.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
runs = [r for r in results["runs"] if r["clusters"] == 8 and r["mode"] == "parallel"]
assert runs, "no 8-cluster parallel run in %s" % sys.argv[1]
run = runs[0]
assert "error" not in run, "the 8-cluster run failed: %s" % run.get("error")
assert run["site"]["failed"] == 0, "site.yml failed on %s hosts" % run["site"]["failed"]
assert run["noop"]["changed"] == 0, "the no-op re-run changed %s" % run["noop"]["changed"]
assert not run["leftover_processes"], "processes left: %s" % run["leftover_processes"]
print("benchmark smoke: 8 clusters in %.0f s (overhead %.0f s), no-op re-run %.0f s changed 0"
      % (run["site"]["wall_s"], run["site"]["overhead_s"], run["noop"]["wall_s"]))
PY
