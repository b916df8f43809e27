#!/usr/bin/env bash
# `make docs`: module and role documentation of multicloud.mesh, rendered by antsibull-docs from
# the modules' DOCUMENTATION and the roles' meta/argument_specs.yml, built by Sphinx into
# docs/build/html. Any Sphinx warning fails the build (-W). Everything it writes is in docs/build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="$repo/.venv/bin"
out="$repo/docs/build"
# The collection as Ansible sees it in the checkout (.cache/collections links it, with its dependencies).
export ANSIBLE_COLLECTIONS_PATH="$repo/.cache/collections"
export PATH="$bin:$PATH"   # antsibull-docs runs ansible and ansible-doc
rm -rf "$out/rst" "$out/html" "$out/doctrees"
mkdir -p "$out/rst"
chmod 700 "$out/rst"   # antsibull-docs wants its destination writable by its owner only
cp "$here/index.rst" "$out/rst/index.rst"
"$bin/antsibull-docs" --config-file "$here/antsibull-docs.cfg" collection \
  --use-current --fail-on-error --dest-dir "$out/rst" multicloud.mesh
# Labels of the Ansible docsite the generated pages refer to (common return values, other
# collections' modules): no intersphinx here (no network), so a page that names each one with a
# link to docs.ansible.com, instead of undefined references.
"$bin/python" "$here/external_refs.py" "$out/rst"
"$bin/sphinx-build" -b html -d "$out/doctrees" -c "$here" -W --keep-going -q "$out/rst" "$out/html"
pages=$(find "$out/html/collections/multicloud/mesh" -name '*.html' | wc -l)
echo "[docs] $pages pages for multicloud.mesh in docs/build/html (index: docs/build/html/index.html)"
