#!/usr/bin/env bash
# Fails when the committed generated files (deepcopy, CRDs, RBAC) are stale:
# regenerates them into a scratch copy of the tree and compares.
set -euo pipefail
gen=${1:?usage: check-generated.sh CONTROLLER_GEN}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The generators load the packages (and what they import): copy the source
# tree; a copy keeps the work tree untouched.
(cd "$root" && tar --exclude=./.git --exclude=./bin -cf - .) | (cd "$scratch" && tar -xf -)
cd "$scratch"
"$gen" object:headerFile="hack/boilerplate.go.txt" paths="./api/..."
"$gen" rbac:roleName=certsync-manager-role crd:allowDangerousTypes=false paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
stale=0
for d in api config/crd/bases config/rbac; do
  if ! diff -r -q "$root/$d" "$scratch/$d" >/dev/null; then
    diff -r -u "$root/$d" "$scratch/$d" | head -40 >&2 || true
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  echo "generated files are stale: run 'make manifests generate' and commit the result" >&2
  exit 1
fi
echo "generated files are up to date"
