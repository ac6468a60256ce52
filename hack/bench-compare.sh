#!/usr/bin/env bash
# Runs the quick benchmarks (the operator's memory with 20,000 unrelated
# Secrets, live and at start; its peak memory under 80 sources of 1 MiB
# adversarial JSON) into a scratch directory and compares them
# with the committed results in bench/ (hack/benchcompare): a figure more
# than 20 % worse beyond its measured noise (bench/noise.json) prints the
# figure and exits non-zero. See docs/performance.md.
#
# BENCH_UPDATE=1 writes the results to bench/ instead (a new baseline).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CERTSYNC_CONTROLPLANE=${CERTSYNC_CONTROLPLANE:-$(hack/controlplane.sh cluster)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ "${BENCH_UPDATE:-}" = 1 ]; then out="$root/bench"; fi
# The in-process cache estimates are for the closing note, not the gate.
CERTSYNC_BENCH_OUT="$out" CERTSYNC_BENCH_ESTIMATES=0 \
  go test -run '^$' -bench 'BenchmarkOperator(JSON)?Memory$' -benchtime 1x -timeout 30m ./test/bench/
if [ "${BENCH_UPDATE:-}" = 1 ]; then exit 0; fi
go run ./hack/benchcompare -baseline bench -current "$out" -noise bench/noise.json memory jsonmemory
