#!/usr/bin/env bash
# Runs every fuzz target in the module for a while each (default 10s):
#   hack/fuzz.sh 5m
# go test -fuzz takes one target in one package at a time, hence the loop.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
    echo "fuzz: $pkg $target for $fuzztime"
    # The whole output when it fails: the failing input and its message.
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
      echo "$out"
      exit 1
    fi
    echo "$out" | tail -n 3
  done
done
