#!/usr/bin/env bash
# Builds the control-plane binaries certsync's tests and demo run against —
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
# kubectl —
# from Go modules (no release downloads are reachable here), into a cache
# keyed by version so only the first run pays (~10 min on 2 cores).
#
# Usage: hack/controlplane.sh [envtest|cluster]
#   envtest: etcd + kube-apiserver only (what the integration tests need)
#   cluster: everything (e2e and docs tests, the demo)
# Prints the directory holding the binaries on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CERTSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certsync}
bin="$cache/controlplane-k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
mkdir -p "$bin"
what=${1:-envtest}

log() { echo "[controlplane] $*" >&2; }

# build OUT DIR PKG: builds PKG in the tools module DIR to $bin/OUT, atomically,
# so an interrupted build never leaves a truncated binary in the cache.
build() {
  local out=$1 dir=$2 pkg=$3
  if [ -x "$bin/$out" ]; then return; fi
  log "building $out from $pkg (first run only) ..."
  local start=$SECONDS
  (cd "$root/hack/tools/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin/.$out.tmp" "$pkg")
  mv "$bin/.$out.tmp" "$bin/$out"
  log "built $out in $((SECONDS - start))s"
}

build etcd etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s k8s.io/kubernetes/cmd/kube-apiserver
if [ "$what" = cluster ]; then
  build kube-controller-manager k8s k8s.io/kubernetes/cmd/kube-controller-manager
  build kube-scheduler k8s k8s.io/kubernetes/cmd/kube-scheduler
  build kwok kwok sigs.k8s.io/kwok/cmd/kwok
  # kubectl: the docs test runs every documented command with it.
  build kubectl k8s k8s.io/kubernetes/cmd/kubectl
  if [ ! -s "$bin/kwok-stages.yaml" ]; then
    # kwok's "fast" stages: nodes become Ready, pods go Running at once.
    stages=$(cd "$root/hack/tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
    {
      cat "$stages/node/fast/node-initialize.yaml"
      for f in "$stages"/pod/fast/pod-*.yaml; do
        printf -- '---\n'
        cat "$f"
      done
    } > "$bin/.kwok-stages.yaml.tmp"
    mv "$bin/.kwok-stages.yaml.tmp" "$bin/kwok-stages.yaml"
  fi
fi
echo "$bin"
