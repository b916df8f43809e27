#!/usr/bin/env bash
# Run ansible-test on a copy of the collection's files (tracked and new, not ignored) laid
# out as ansible_collections/multicloud/mesh, which ansible-test requires.
#   scripts/ansible-test.sh sanity --venv --python 3.11
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Not under a hidden folder: ansible-test skips every target there.
# One folder per run (removed at exit), so concurrent runs cannot clobber each other.
work=$(mktemp -d "${TMPDIR:-/tmp}/multicloud-mesh-ansible-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/multicloud/mesh"
rm -rf "$dest" && mkdir -p "$dest"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
   [ -e "$f" ] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -xf - -C "$dest"
# ansible-test finds collection dependencies next to the collection.
for dep in "$root"/.cache/collections/ansible_collections/{kubernetes,amazon}; do
  [ -d "$dep" ] && ln -sfn "$dep" "$work/ansible_collections/$(basename "$dep")"
done
# ansible-test's sanity venvs bootstrap pip with a script from an unreachable host: use ours.
at="$root/.venv/bin/ansible-test"
pip_version=$(grep -ho "pip='[0-9.]*'" "$(dirname "$at")"/../lib/python3*/site-packages/ansible_test/_internal/python_requirements.py \
  | head -n1 | tr -dc '0-9.')
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
python3 - "$root/scripts/get_pip_offline.py" "$cache" <<'PY'
import os, sys
conf = "[global]\n" + "".join("%s = %s\n" % (key, os.environ[env]) for key, env in (
    ("cert", "PIP_CERT"), ("index-url", "PIP_INDEX_URL"), ("find-links", "PIP_FIND_LINKS")) if os.environ.get(env))
src = open(sys.argv[1]).read().replace('PIP_CONF = ""', "PIP_CONF = %r" % conf, 1)
open(sys.argv[2], "w").write(src)
PY
cd "$dest" || exit 1
"$at" "$@"
