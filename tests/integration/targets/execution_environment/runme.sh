#!/usr/bin/env bash
# The execution environment definition: `ansible-builder create` (which needs no container
# engine: it only writes a build context) on a copy of the definition and its dependency files,
# then checks of that context (check_context.py), then the istioctl step of the final stage run
# on this machine against a local archive: a binary whose sha256 the collection does not list
# must fail the step.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
py=${MESH_PYTHON:-$repo/.venv/bin/python}
bin=$(dirname "$py")
work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-ee-it.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The definition's relative paths resolve next to it: copy it with the files it names, and the
# collection tarball `ansible-galaxy collection build` writes there.
mkdir -p "$work/src"
cp "$repo"/{execution-environment.yml,requirements.yml,requirements.txt,bindep.txt} "$work/src/"
"$bin/ansible-galaxy" collection build --output-path "$work/src" "$repo" >/dev/null

echo "== ansible-builder create (PATH without podman or docker)"
mkdir -p "$work/nobin"
for tool in sh bash env; do ln -s "$(command -v "$tool")" "$work/nobin/$tool"; done
(cd "$work/src" && PATH="$work/nobin" "$bin/ansible-builder" create --file execution-environment.yml \
   --context "$work/context" --output-filename Containerfile -v 2)
command -v podman docker 2>/dev/null | while read -r engine; do echo "(note: $engine exists here but was not on PATH)"; done

echo "== build context"
find "$work/context" -type f | sed "s#$work/context/##" | sort
"$py" "$here/check_context.py" "$repo" "$work/context"

echo "== the istioctl step, run here on a fake istioctl (must be rejected: unknown sha256)"
# The RUN of the final stage that installs istioctl, with its paths moved under $work.
"$py" - "$work/context/Containerfile" "$work/istioctl-step.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
final = text[text.index("AS final"):]
run = re.search(r"^RUN set -eu;.*?(?=^\S)", final, re.M | re.S).group(0)
open(sys.argv[2], "w").write("#!/bin/bash\n" + run[len("RUN "):] + "\n")
PY
sed -i -e "s#/usr/local/lib/multicloud.mesh#\$ISTIO_DEST_ROOT#g" \
       -e "s#PYTHONPATH=/usr/share/ansible/collections#PYTHONPATH=\$COLLECTIONS#" "$work/istioctl-step.sh"
mkdir -p "$work/fake" "$work/dest"
printf '#!/bin/sh\necho fake istioctl\n' > "$work/fake/istioctl" && chmod +x "$work/fake/istioctl"
tar -czf "$work/fake.tar.gz" -C "$work/fake" istioctl
version=$(sed -n 's/^ARG ISTIO_VERSION=//p' "$work/context/Containerfile")
if ISTIO_VERSION=$version ISTIOCTL_URL="file://$work/fake.tar.gz" ISTIO_DEST_ROOT="$work/dest" \
    COLLECTIONS="$repo/.cache/collections" PYCMD="$py" bash "$work/istioctl-step.sh" > "$work/step.log" 2>&1; then
  cat "$work/step.log"; fail "the istioctl step accepted a binary with an unknown checksum"
fi
tail -n 1 "$work/step.log"
grep -qE "checksum" "$work/step.log" || { cat "$work/step.log"; fail "the rejection does not name the checksum"; }
[ ! -e "$work/dest/istio-$version" ] || fail "the rejected istioctl was left installed"

echo "== the same step on the sandbox's istioctl build (its sha256 is in the table)"
built="$repo/.cache/bin/istio-$version/istioctl"
# a check that cannot run fails with the reason (it never turns itself off)
[ -x "$built" ] || fail "$built is missing: run scripts/bootstrap.sh (or 'bash sandbox/build/build.sh istio'); this test builds nothing"
tar -czf "$work/built.tar.gz" -C "$(dirname "$built")" istioctl
ISTIO_VERSION=$version ISTIOCTL_URL="file://$work/built.tar.gz" ISTIO_DEST_ROOT="$work/dest" \
  COLLECTIONS="$repo/.cache/collections" PYCMD="$py" bash "$work/istioctl-step.sh"
cmp -s "$built" "$work/dest/istio-$version/istioctl" || fail "istioctl not installed"
echo "execution_environment: OK"
