#!/usr/bin/env bash
# Build (or reuse) the sandbox's binaries from pinned Go modules.
#   sandbox/build/build.sh [kube|etcd|kwok|istio ...]   (default: kube etcd kwok)
# Output: .cache/bin/<component>-<version>/, reused when present (keyed by version).
# GOTOOLCHAIN=local: a pin that needs a newer Go fails loudly instead of downloading one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=readonly
export GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE 2>/dev/null || true)}"
bin="$root/.cache/bin"
log_dir="$root/.cache/build-logs"
mkdir -p "$bin" "$log_dir"

command -v go >/dev/null 2>&1 || { echo "build.sh: the Go toolchain is required (go not found on PATH); install Go >= 1.26" >&2; exit 2; }

now() { date +%s; }

build() {  # build NAME VERSION OUTDIR -- go build args...
  local name=$1 version=$2 out=$3 lock; shift 4
  # One build of a component at a time: a second bootstrap (another test run started meanwhile)
  # waits here and then finds the finished build, instead of removing the first one's $out.tmp.
  exec {lock}>"$bin/.lock-$name"
  flock "$lock"
  if [ -f "$out/.complete" ]; then
    echo "[build] $name $version: cached in ${out#"$root"/}"
    return 0
  fi
  local log="$log_dir/$name-$version.log" t0
  t0=$(now)
  echo "[build] $name $version: building (first time only; log: ${log#"$root"/}) ..."
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  if ! (cd "$here/$name" && go build -trimpath -o "$out.tmp/" "$@") >"$log" 2>&1; then
    echo "[build] $name $version: FAILED after $(( $(now) - t0 ))s; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  touch "$out.tmp/.complete"
  rm -rf "$out" && mv "$out.tmp" "$out"
  echo "[build] $name $version: done in $(( $(now) - t0 ))s"
}

kube() {
  local v=$K8S_VERSION minor ld="-s -w"
  minor=$(echo "$v" | cut -d. -f2)
  for kv in "gitVersion=$v" gitMajor=1 "gitMinor=$minor" gitTreeState=clean \
            gitCommit=0000000000000000000000000000000000000000 buildDate=1970-01-01T00:00:00Z; do
    ld="$ld -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  build kube "$v" "$bin/kube-$v" -- -ldflags "$ld" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
}

etcd() {
  build etcd "$ETCD_VERSION" "$bin/etcd-$ETCD_VERSION" -- -ldflags "-s -w" .
}

kwok() {
  local out="$bin/kwok-$KWOK_VERSION"
  build kwok "$KWOK_VERSION" "$out" -- \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
  # kwok out of a cluster needs its stage config: take kwok's own "fast" stages
  # (node initialize + heartbeat with lease, pod ready/complete/delete) from the same module.
  if [ ! -s "$out/stages.yaml" ]; then
    local src
    src=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      printf -- '---\n'; cat "$src/$f"
    done > "$out/stages.yaml.tmp" && mv "$out/stages.yaml.tmp" "$out/stages.yaml"
  fi
}

istio() {
  # shellcheck source=/dev/null
  . "$here/istio/version.env"
  local ld="-s -w"
  for kv in "buildVersion=$ISTIO_VERSION" "buildTag=$ISTIO_VERSION" "buildHub=$ISTIO_HUB" \
            buildStatus=Clean "buildGitRevision=$ISTIO_COMMIT"; do
    ld="$ld -X istio.io/istio/pkg/version.$kv"
  done
  local out="$bin/istio-$ISTIO_VERSION"
  build istio "$ISTIO_VERSION" "$out" -- -tags vtprotobuf,disable_pgv \
    -ldflags "$ld" istio.io/istio/istioctl/cmd/istioctl istio.io/istio/pilot/cmd/pilot-discovery
  # xds-probe (sandbox only): asks istiod for a proxy's endpoints via istio's pkg/adsc; added
  # after the first build, so it is built next to an existing (cached) istio build as well, and
  # rebuilt when its source is newer than the binary.
  if [ ! -x "$out/xds-probe" ] || [ "$here/istio/xdsprobe/main.go" -nt "$out/xds-probe" ]; then
    local t0
    t0=$(now)
    echo "[build] istio $ISTIO_VERSION: building xds-probe ..."
    if ! (cd "$here/istio" && go build -trimpath -tags vtprotobuf,disable_pgv -ldflags "$ld" \
          -o "$out/xds-probe.tmp" ./xdsprobe) >>"$log_dir/istio-$ISTIO_VERSION.log" 2>&1; then
      echo "[build] istio $ISTIO_VERSION: xds-probe FAILED; see $log_dir/istio-$ISTIO_VERSION.log" >&2
      tail -n 30 "$log_dir/istio-$ISTIO_VERSION.log" >&2
      exit 1
    fi
    mv "$out/xds-probe.tmp" "$out/xds-probe"
    echo "[build] istio $ISTIO_VERSION: xds-probe done in $(( $(now) - t0 ))s"
  fi
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kube etcd kwok)
for t in "${targets[@]}"; do
  case "$t" in
    kube|etcd|kwok|istio) "$t" ;;
    *) echo "build.sh: unknown component '$t' (known: kube etcd kwok istio)" >&2; exit 2 ;;
  esac
done
