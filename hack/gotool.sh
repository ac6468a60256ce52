#!/usr/bin/env bash
# Builds a command-line tool certsync's tests use — helm or kustomize — from
# Go modules (no release downloads are reachable here) into the same cache as
# hack/controlplane.sh, keyed by version, so only the first run pays.
#
# Usage: hack/gotool.sh helm|kustomize
# Prints the path of the binary on stdout; progress goes to stderr.
#   "$(hack/gotool.sh helm)" lint charts/certsync
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
name=${1:?usage: gotool.sh helm|kustomize}
case "$name" in
  helm) mod=helm.sh/helm/v3; pkg=helm.sh/helm/v3/cmd/helm
        ldflags="-X helm.sh/helm/v3/internal/version.version=VERSION" ;;
  kustomize) mod=sigs.k8s.io/kustomize/kustomize/v5; pkg=sigs.k8s.io/kustomize/kustomize/v5
        ldflags="-X sigs.k8s.io/kustomize/api/provenance.version=VERSION" ;;
  *) echo "[gotool] unknown tool $name (helm, kustomize)" >&2; exit 2 ;;
esac
tools="$root/hack/tools/$name"

# The version is the one hack/tools/NAME/go.mod requires (single source of truth).
version=$(awk -v m="$mod" '$1 == "require" && $2 == m { print $3 }' "$tools/go.mod")
if [ -z "$version" ]; then
  echo "[gotool] cannot find $mod in $tools/go.mod" >&2
  exit 1
fi

cache=${CERTSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certsync}
bin="$cache/$name-$version"
out="$bin/$name"

if [ ! -x "$out" ]; then
  mkdir -p "$bin"
  echo "[gotool] building $name $version from Go modules (first run only) ..." >&2
  start=$SECONDS
  # A per-process temporary name, then an atomic rename: an interrupted or
  # concurrent build never leaves a truncated binary in the cache.
  tmp="$bin/.$name.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  (cd "$tools" && CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w ${ldflags//VERSION/$version}" -o "$tmp" "$pkg")
  mv -f "$tmp" "$out"
  echo "[gotool] built $name in $((SECONDS - start))s" >&2
fi
echo "$out"
