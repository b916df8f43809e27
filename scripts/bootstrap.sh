#!/usr/bin/env bash
# Install everything the demo and the tests need, into ignored folders of the repo:
#   .venv/ (pinned Python deps), .cache/collections/ (collection deps + link to this collection),
#   .cache/bin/ (sandbox binaries built from pinned Go modules, reused when present).
# Idempotent and quick when nothing changed. Prints a line with its time per step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
step() { printf '[bootstrap] %s\n' "$*"; }
t0=$(date +%s)

command -v python3 >/dev/null || { echo "bootstrap: python3 (>= 3.11) is required" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  step "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(cat test-requirements.txt constraints.txt requirements.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  t=$(date +%s)
  step "installing pinned Python packages (test-requirements.txt + constraints.txt) ..."
  .venv/bin/python -m pip install -q --upgrade 'pip>=24,<26'
  .venv/bin/python -m pip install -q -r test-requirements.txt -c constraints.txt
  rm -f .venv/.installed-* && touch "$stamp"
  step "Python packages installed in $(( $(date +%s) - t ))s"
fi
.venv/bin/python scripts/install-collections.py
t=$(date +%s)
bash sandbox/build/build.sh kube etcd kwok istio
step "binaries ready in $(( $(date +%s) - t ))s"
step "done in $(( $(date +%s) - t0 ))s"
