#!/usr/bin/env bash
# istio_multicluster's istioctl download (istioctl_release_url) against a local stand-in of Istio's
# release downloads (sandbox/meshsandbox/istio_releases.py, archives made from the sandbox's own
# istioctl build, served on 127.0.0.1): a good archive is verified by its published .sha256 and
# extracted once (a re-run uses the cache); a tampered archive, a wrong pinned checksum and a
# modified cached binary are refused or replaced, each before any cluster is read (the one cluster
# given is unreachable on purpose: reaching it would say the istioctl stage passed).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../../lib.sh"
it_init istioctl_release
it_need_istioctl
work="$MESH_SANDBOX_HOME/work"
mkdir -p "$work/releases" "$work/home"
"$PY" -m meshsandbox.istio_releases --dir "$work/releases" --good 1.30.99 --good 1.30.97 --tampered 1.30.98 \
    --url-file "$work/url" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do [ -s "$work/url" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
[ -s "$work/url" ] || fail "the release stand-in did not start"
# No istioctl to find but the downloaded one: no MULTICLOUD_MESH_ISTIO_BIN, a fresh HOME, PATH without istioctl.
unset MULTICLOUD_MESH_ISTIO_BIN
export HOME="$work/home"
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | while read -r d; do [ -x "$d/istioctl" ] || printf '%s:' "$d"; done)
export PATH=${PATH%:}
! command -v istioctl >/dev/null || fail "an istioctl is on PATH: $(command -v istioctl)"
"${PLAYBOOK[@]}" -i localhost, -c local "$HERE/playbook.yml" -e "it_url=$(cat "$work/url")" \
    -e "it_work=$work" -e "it_python=$PY" "$@"
