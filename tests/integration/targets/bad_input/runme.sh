#!/usr/bin/env bash
# Bad input: every row of table.yml (module or role, bad args, expected msg) must fail with a msg that
# names the option (and says the fix where the collection checks it) and change nothing. Runs against
# the cloud emulators and one plain sandbox cluster; state.py reads their real state after each row.
#   tests/integration/targets/bad_input/runme.sh [-v ...]      (extra args go to ansible-playbook)
# MESH_BAD_INPUT_ONLY=REGEX: only the rows of the modules/roles whose name matches (the coverage check
#   then fails on purpose: a partial run is for development, not a pass).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init bad_input
cd "$REPO"

step "clouds up, and one plain cluster"
it_clouds_up
"$PY" -m meshsandbox up bad-1:plain
BAD_INPUT_KUBECONFIG=$("$PY" -m meshsandbox kubeconfig bad-1)
BAD_INPUT_SCRATCH="$MESH_SANDBOX_HOME/bad-input-scratch"   # every output path of the table points here
mkdir -p "$BAD_INPUT_SCRATCH"
export BAD_INPUT_KUBECONFIG BAD_INPUT_SCRATCH
record="$LOGS/bad-input-record.json"

step "the table"
t=$(date +%s)
run bad_input "$HERE/bad_input.yml" -i localhost, -e "ansible_python_interpreter=$PY" \
    -e "bad_kubeconfig=$BAD_INPUT_KUBECONFIG" -e "bad_scratch=$BAD_INPUT_SCRATCH" \
    -e "bad_state_cmd='$PY $HERE/state.py 2>>$LOGS/state.err'" -e "bad_record=$record" -e "bad_only=${MESH_BAD_INPUT_ONLY:-}" "$@" || fail "bad_input.yml failed"
echo "bad_input.yml: $(( $(date +%s) - t ))s"

step "check every row"
"$PY" "$HERE/bad_input.py" "$record" "$REPO" || fail "bad input rows failed (see above)"

step "the site rows: each through the whole site.yml (sandbox inventory); the preflight must refuse it, nothing created"
t=$(date +%s)
"$PY" "$HERE/site_rows.py" "$HERE/table.yml" "$REPO" "$LOGS/bad-input-site-record.json" "$LOGS" "${MESH_BAD_INPUT_ONLY:-}" \
    || fail "site_rows.py failed"
echo "site rows: $(( $(date +%s) - t ))s"
"$PY" "$HERE/bad_input.py" "$LOGS/bad-input-site-record.json" "$REPO" --site || fail "bad input site rows failed (see above)"
step "passed"
