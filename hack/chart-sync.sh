#!/usr/bin/env bash
# Copies what the Helm chart shares with config/ into charts/certsync/files,
# so the chart installs exactly the CRDs, RBAC rules and alert rules that
# the kustomize config (and its tests) use:
#   config/crd/bases/*.yaml       -> files/crds/
#   config/rbac/role.yaml         -> files/rbac/role.yaml   (controller-gen's rules)
#   config/rbac/leader_election_role.yaml, fingerprint_key_role.yaml, metrics_auth_role.yaml,
#   metrics_reader_role.yaml      -> files/rbac/            (their rules)
#   config/prometheus/rules.yaml  -> files/prometheus/rules.yaml
#
# Usage: hack/chart-sync.sh          sync (make chart-sync)
#        hack/chart-sync.sh --check  fail if the chart's copies are stale
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
files="$root/charts/certsync/files"
check=false
[ "${1:-}" = --check ] && check=true

pairs=(
  "config/crd/bases:crds"
  "config/rbac/role.yaml:rbac/role.yaml"
  "config/rbac/leader_election_role.yaml:rbac/leader_election_role.yaml"
  "config/rbac/fingerprint_key_role.yaml:rbac/fingerprint_key_role.yaml"
  "config/rbac/metrics_auth_role.yaml:rbac/metrics_auth_role.yaml"
  "config/rbac/metrics_reader_role.yaml:rbac/metrics_reader_role.yaml"
  "config/prometheus/rules.yaml:prometheus/rules.yaml"
)
stale=0
for p in "${pairs[@]}"; do
  src="$root/${p%%:*}" dst="$files/${p#*:}"
  if $check; then
    if ! diff -r -u "$dst" "$src" >&2; then stale=1; fi
  elif [ -d "$src" ]; then
    rm -rf "$dst" && mkdir -p "$dst" && cp "$src"/*.yaml "$dst"/
  else
    mkdir -p "$(dirname "$dst")" && cp "$src" "$dst"
  fi
done
if [ "$stale" = 1 ]; then
  echo "charts/certsync/files is stale: run 'make chart-sync' and commit the result" >&2
  exit 1
fi
$check && echo "chart files are in sync with config/" >&2
exit 0
