#!/usr/bin/env bash
# Builds promtool — Prometheus' rule checker and rule unit-test runner — from
# Go modules (no release downloads are reachable here) into the same cache as
# hack/controlplane.sh, keyed by version, so only the first run pays.
#
# Usage: hack/promtool.sh
# Prints the path of the promtool binary on stdout; progress goes to stderr.
#   "$(hack/promtool.sh)" check rules config/prometheus/rules.yaml
#   "$(hack/promtool.sh)" test rules config/prometheus/rules_test.yaml
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/hack/tools/promtool"

# The version is the one hack/tools/promtool/go.mod requires (single source
# of truth): Prometheus tags its Go module v0.X.Y for release 3.X.Y.
version=$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" { print $3 }' "$tools/go.mod")
if [ -z "$version" ]; then
  echo "[promtool] cannot find github.com/prometheus/prometheus in $tools/go.mod" >&2
  exit 1
fi

cache=${CERTSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certsync}
bin="$cache/promtool-$version"
out="$bin/promtool"

log() { echo "[promtool] $*" >&2; }

if [ ! -x "$out" ]; then
  mkdir -p "$bin"
  # v0.316.0 -> 3.16.0 (v0.54.1 -> 2.54.1), so that `promtool --version`
  # says which Prometheus release it is.
  minor=${version#v0.}
  minor=${minor%%.*}
  rest=${version#"v0.$minor."}
  if [ "$minor" -ge 300 ]; then
    release="$((minor / 100)).$((minor % 100)).$rest"
  else
    release="2.$minor.$rest"
  fi
  log "building promtool $release ($version) from Go modules (first run only) ..."
  start=$SECONDS
  # A per-process temporary name, then an atomic rename: an interrupted or
  # concurrent build never leaves a truncated binary in the cache.
  tmp="$bin/.promtool.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  (cd "$tools" && CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w -X github.com/prometheus/common/version.Version=$release -X github.com/prometheus/common/version.Branch=$version" \
    -o "$tmp" github.com/prometheus/prometheus/cmd/promtool)
  mv -f "$tmp" "$out"
  log "built promtool in $((SECONDS - start))s"
fi
echo "$out"
