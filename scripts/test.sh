#!/usr/bin/env bash
# The test command (make test, .ci/run): bootstrap, then in order
#   1. ansible-test sanity  2. ansible-lint (production) + docs build  3. unit tests (pytest)
#   4. integration targets against the sandbox.
# Exits non-zero on any failure; pytest collecting nothing (exit 5) is a failure too.
#   scripts/test.sh [sanity|lint|units|integration ...]      (default: all four)
#   MESH_IT_TARGETS="cluster_info gke_cluster" scripts/test.sh integration
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
bash scripts/bootstrap.sh || exit 1
export PATH="$root/.venv/bin:$PATH"
stages=("$@"); [ ${#stages[@]} -gt 0 ] || stages=(sanity lint units integration)
failed=()
t_all=$(date +%s)

sanity() {
  if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing shellcheck (Debian package) for the shellcheck sanity test ..."
    (apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq shellcheck >/dev/null 2>&1; }) \
      || echo "[test] WARNING: shellcheck could not be installed: ansible-test skips its shellcheck test"
  fi
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

integration() {
  local targets=() passed=0 nfail=0 t rc
  if [ -n "${MESH_IT_TARGETS:-}" ]; then read -r -a targets <<<"$MESH_IT_TARGETS"
  else for d in tests/integration/targets/*/; do targets+=("$(basename "$d")"); done; fi
  [ ${#targets[@]} -gt 0 ] || { echo "[test] no integration target found" >&2; return 1; }
  for target in "${targets[@]}"; do
    dir="tests/integration/targets/$target"
    if grep -qE '^(disabled|unsupported)' "$dir/aliases" 2>/dev/null; then
      echo "[test] integration $target: SKIPPED ($(grep -E '^#' "$dir/aliases" | head -n1))"
      continue
    fi
    [ -x "$dir/runme.sh" ] || { echo "[test] integration $target: no runme.sh" >&2; nfail=$((nfail+1)); continue; }
    echo "[test] integration $target ..."
    t=$(date +%s)
    MESH_REPO="$root" "$dir/runme.sh" >"$root/.cache/it-$target.log" 2>&1; rc=$?
    if [ $rc -eq 0 ]; then passed=$((passed+1)); echo "[test] integration $target: passed in $(( $(date +%s) - t ))s"
    else nfail=$((nfail+1)); echo "[test] integration $target: FAILED (rc=$rc) in $(( $(date +%s) - t ))s; log tail:"; tail -n 40 "$root/.cache/it-$target.log"; fi
  done
  echo "integration: $passed passed, $nfail failed"
  [ $nfail -eq 0 ]
}

for stage in "${stages[@]}"; do
  t=$(date +%s)
  echo "[test] === $stage ==="
  if "$stage"; then echo "[test] $stage passed in $(( $(date +%s) - t ))s"
  else echo "[test] $stage FAILED after $(( $(date +%s) - t ))s"; failed+=("$stage"); fi
done
echo "[test] total $(( $(date +%s) - t_all ))s"
if [ ${#failed[@]} -gt 0 ]; then echo "[test] FAILED: ${failed[*]}"; exit 1; fi
echo "[test] all stages passed: ${stages[*]}"
