#!/usr/bin/env bash
# The test command (make test, .ci/run): bootstrap, then
#   1. ansible-test sanity  2. ansible-lint (production) + docs build  3. unit tests (pytest)
#   4. integration targets against the sandbox, MESH_IT_JOBS at a time (default 3; they keep both cores
#      busy, mostly with Ansible's per-task processes, so more lanes would not make them faster).
# With no stage named, 1-3 run one after the other in a lane of their own beside 4 (their output in
# .cache/test-STAGE.log); named stages, or MESH_TEST_SERIAL=1, run in order in the foreground.
# At the end one table (stage or target, seconds, result) and the plain line `N passed, N failed`.
# Exits non-zero on any failure; pytest collecting nothing (exit 5) is a failure too.
#   scripts/test.sh [sanity|lint|units|integration ...]      (default: all four)
#   MESH_IT_TARGETS="cluster_info gke_cluster" scripts/test.sh integration
# Tiers (docs/testing.md): MESH_TEST_TIER=default (what CI runs) or full (every resilience table
# in full, every role's molecule scenario, the sandbox's node-outage check, the 8-cluster benchmark
# smoke). A target marked `tier/full` in its aliases runs in the full tier only; in the default
# tier it is listed as skipped with its reason. A target marked `group/NAME` runs inside target
# NAME (which shares its sandbox with it), not on its own.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
export MESH_TEST_TIER=${MESH_TEST_TIER:-default}
case "$MESH_TEST_TIER" in
  default) ;;
  full) export MESH_RESILIENCE_FULL=1 ;;
  *) echo "[test] MESH_TEST_TIER=$MESH_TEST_TIER: use default or full" >&2; exit 2 ;;
esac
jobs_max=${MESH_IT_JOBS:-3}
[[ "$jobs_max" =~ ^[1-9][0-9]*$ ]] || { echo "[test] MESH_IT_JOBS=$jobs_max: use a whole number >= 1" >&2; exit 2; }
bash scripts/bootstrap.sh || exit 1
export PATH="$root/.venv/bin:$PATH"
stages=("$@"); [ ${#stages[@]} -gt 0 ] || stages=(sanity lint units integration)
# the rows of the closing table, one folder per run (concurrent runs of single targets do not mix)
results=$(mktemp -d "$root/.cache/test-results.XXXXXX") || exit 1
trap 'rm -rf "$results"' EXIT
: >"$results/rows.tsv"
t_all=$(date +%s)

# record KIND NAME SECONDS RESULT: one row of the closing table
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results/rows.tsv"; }

sanity() {
  if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing shellcheck (Debian package) for the shellcheck sanity test ..."
    (apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq shellcheck >/dev/null 2>&1; }) \
      || echo "[test] shellcheck could not be installed (apt-get install shellcheck)"
  fi
  # ansible-test skips its shellcheck test without the tool: a check that cannot run fails instead
  command -v shellcheck >/dev/null 2>&1 || { echo "[test] sanity needs shellcheck: install the Debian package shellcheck" >&2; return 1; }
  bash scripts/ansible-test.sh sanity --venv --python 3.11 --color no
}

lint() {
  # production profile over roles, playbooks, inventories and test playbooks (.ansible-lint),
  # then the module and role docs (antsibull-docs --fail-on-error, Sphinx -W: no warnings)
  # ANSIBLE_HOME inside the checkout: ansible-lint installs the collection there, and a copy
  # left in ~/.ansible by another checkout must not stand in for this one.
  ANSIBLE_HOME="$root/.cache/ansible-home" ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections" \
    ansible-lint --profile production --nocolor \
    && bash docs/sphinx/build.sh
}

units() {
  PYTHONPATH="$root/.cache/collections:$root/sandbox" python -m pytest -q -p no:cacheprovider tests/unit
  local rc=$?
  if [ $rc -eq 5 ]; then echo "[test] pytest collected no test: that is a failure here" >&2; fi
  return $rc
}

# The longest targets first (by the last measured default-tier run, docs/testing.md), so that the last ones to
# start are short and the lanes end close together.
IT_ORDER=(playbooks istio_multicluster interrupted interrupted_shard2 interrupted_shard3 benchmark_smoke bad_input eks_cluster byo_cluster
  mesh_ca mesh_service_entry plain_cluster sandbox molecule gke_cluster istioctl_release execution_environment)

# failure_tail WHAT LOG: "[test] WHAT; log tail (.cache/LOG):" and the log's last 60 lines, in one write, so that
# lanes finishing together do not interleave their tails
failure_tail() {
  local msg
  msg=$(printf '[test] %s; log tail (.cache/%s):\n%s' "$1" "$2" "$(tail -n 60 "$root/.cache/$2")")
  printf '%s\n' "$msg"
}

# it_target TARGET: runs one target's runme.sh into .cache/it-TARGET.log, records its row
it_target() {
  local target=$1 dir="tests/integration/targets/$1" t rc
  t=$(date +%s)
  MESH_REPO="$root" "$dir/runme.sh" >"$root/.cache/it-$target.log" 2>&1; rc=$?
  t=$(( $(date +%s) - t ))
  if [ $rc -eq 0 ]; then
    record target "$target" "$t" passed
    echo "[test] integration $target: passed in ${t}s"
  else
    record target "$target" "$t" "FAILED (rc=$rc)"
    failure_tail "integration $target: FAILED (rc=$rc) in ${t}s" "it-$target.log"
  fi
  return $rc
}

integration() {
  local targets=() picked=() d target dir why
  if [ -n "${MESH_IT_TARGETS:-}" ]; then read -r -a targets <<<"$MESH_IT_TARGETS"
  else
    for target in "${IT_ORDER[@]}"; do [ -d "tests/integration/targets/$target" ] && targets+=("$target"); done
    for d in tests/integration/targets/*/; do
      target=$(basename "$d")
      [[ " ${IT_ORDER[*]} " == *" $target "* ]] || targets+=("$target")
    done
  fi
  [ ${#targets[@]} -gt 0 ] || { echo "[test] no integration target found" >&2; return 1; }
  for target in "${targets[@]}"; do
    dir="tests/integration/targets/$target"
    [ -d "$dir" ] || { echo "[test] integration $target: no such target" >&2; record target "$target" 0 "FAILED (no such target)"; continue; }
    why=$(grep -E '^#' "$dir/aliases" 2>/dev/null | head -n1)
    if grep -qE '^(disabled|unsupported)' "$dir/aliases" 2>/dev/null; then
      echo "[test] integration $target: SKIPPED (disabled: $why)"; record target "$target" 0 "skipped (disabled)"; continue
    fi
    if [ -z "${MESH_IT_TARGETS:-}" ] && grep -qE '^group/' "$dir/aliases" 2>/dev/null; then
      echo "[test] integration $target: runs inside target $(sed -n 's#^group/##p' "$dir/aliases" | head -n1) (shared sandbox)"
      continue
    fi
    if [ "$MESH_TEST_TIER" != full ] && grep -qx 'tier/full' "$dir/aliases" 2>/dev/null; then
      echo "[test] integration $target: SKIPPED in the default tier (MESH_TEST_TIER=full runs it): $why"
      record target "$target" 0 "skipped (full tier only)"; continue
    fi
    [ -x "$dir/runme.sh" ] || { echo "[test] integration $target: no runme.sh" >&2; record target "$target" 0 "FAILED (no runme.sh)"; continue; }
    picked+=("$target")
  done
  echo "[test] integration: ${#picked[@]} targets, $jobs_max at a time, tier $MESH_TEST_TIER: ${picked[*]}"
  # (the lanes are counted by their own pids: the sanity/lint/units lane may run beside them)
  local lanes=() running pid
  for target in "${picked[@]}"; do
    while :; do
      running=(); for pid in "${lanes[@]}"; do kill -0 "$pid" 2>/dev/null && running+=("$pid"); done
      lanes=("${running[@]}")
      [ ${#lanes[@]} -ge "$jobs_max" ] || break
      wait -n "${lanes[@]}"
    done
    echo "[test] integration $target ..."
    it_target "$target" &
    lanes+=($!)
  done
  for pid in "${lanes[@]}"; do wait "$pid"; done
  ! grep -qP '^target\t[^\t]+\t[0-9]+\tFAILED' "$results/rows.tsv" 2>/dev/null
}

# run_stage STAGE: runs one stage in the foreground, its output on the terminal, records its row
run_stage() {
  local stage=$1 t r
  t=$(date +%s)
  echo "[test] === $stage ==="
  if "$stage"; then r=passed; echo "[test] $stage passed in $(( $(date +%s) - t ))s"
  else r=FAILED; echo "[test] $stage FAILED after $(( $(date +%s) - t ))s"; fi
  record stage "$stage" "$(( $(date +%s) - t ))" "$r"
}

# static_stages STAGE...: sanity, lint, units one after the other, each into .cache/test-STAGE.log (its tail
# printed on failure), recording their rows: the lane that runs beside the integration targets
static_stages() {
  local stage t r
  for stage in "$@"; do
    t=$(date +%s)
    if "$stage" >"$root/.cache/test-$stage.log" 2>&1; then
      r=passed; echo "[test] $stage passed in $(( $(date +%s) - t ))s (log: .cache/test-$stage.log)"
    else
      r=FAILED
      failure_tail "$stage FAILED after $(( $(date +%s) - t ))s" "test-$stage.log"
    fi
    record stage "$stage" "$(( $(date +%s) - t ))" "$r"
  done
}

# All four stages (the default, what CI runs): sanity, lint and units run one after the other in a lane of their
# own beside the integration targets. They are mostly single-threaded (the machine half idle while they run
# alone), so the integration targets use the other core instead of waiting ~2 minutes (docs/testing.md).
# Named stages (scripts/test.sh sanity lint) run in the foreground, in order, their output on the terminal.
if [ "${stages[*]}" = "sanity lint units integration" ] && [ "${MESH_TEST_SERIAL:-0}" != 1 ]; then
  echo "[test] === sanity, lint, units (one lane, logs in .cache/test-STAGE.log) beside integration ==="
  static_stages sanity lint units &
  static_pid=$!
  run_stage integration
  wait "$static_pid" || true   # its rows say how it went
else
  for stage in "${stages[@]}"; do run_stage "$stage"; done
fi

# The closing table: every stage and target with its time and result, then the plain count line.
echo
echo "[test] summary (tier $MESH_TEST_TIER, $(( $(date +%s) - t_all ))s in all)"
printf '%-8s %-24s %8s  %s\n' kind name seconds result
while IFS=$'\t' read -r kind name secs res; do
  printf '%-8s %-24s %8s  %s\n' "$kind" "$name" "$secs" "$res"
done <"$results/rows.tsv"
# Counted: the stages other than integration, and each integration target that ran.
npass=$(awk -F'\t' '($1=="target" || $2!="integration") && $4=="passed"' "$results/rows.tsv" | wc -l)
nfail=$(awk -F'\t' '($1=="target" || $2!="integration") && $4 ~ /^FAILED/' "$results/rows.tsv" | wc -l)
nskip=$(awk -F'\t' '$4 ~ /^skipped/' "$results/rows.tsv" | wc -l)
if [ "$nskip" -gt 0 ]; then echo "$npass passed, $nfail failed, $nskip skipped"; else echo "$npass passed, $nfail failed"; fi
[ "$nfail" -eq 0 ] && ! grep -qP '^stage\t[^\t]+\t[0-9]+\tFAILED' "$results/rows.tsv"
