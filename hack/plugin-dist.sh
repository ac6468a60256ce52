#!/usr/bin/env bash
# Builds the kubectl-certsync plugin for each platform into dist/: one
# .tar.gz per platform (the binary, and the README) and a krew manifest,
# dist/certsync.yaml, rendered from plugins/certsync.yaml.tmpl with each
# archive's sha256. URL_BASE is where the archives will be published.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-v0.0.0-$(git rev-parse --short HEAD)}
URL_BASE=${URL_BASE:-https://github.com/certsync/certsync/releases/download/${VERSION}}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
DIST=${DIST:-dist}

rm -rf "$DIST"
mkdir -p "$DIST"
platforms=""
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	bin=kubectl-certsync
	[[ $os == windows ]] && bin=kubectl-certsync.exe
	stage=$(mktemp -d)
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "$stage/$bin" ./cmd/kubectl-certsync
	cp README.md "$stage/"
	archive="kubectl-certsync_${VERSION}_${os}_${arch}.tar.gz"
	# Reproducible: fixed order, owner and time.
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf - "$bin" README.md | gzip -n >"$DIST/$archive"
	rm -rf "$stage"
	sum=$(sha256sum "$DIST/$archive" | cut -d' ' -f1)
	platforms+="  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $URL_BASE/$archive
    sha256: $sum
    bin: $bin
    files:
    - from: $bin
      to: .
    - from: README.md
      to: .
"
	echo "$DIST/$archive $sum"
done
awk -v version="$VERSION" -v platforms="$platforms" '
	/@PLATFORMS@/ { printf "%s", platforms; next }
	{ gsub("@VERSION@", version); print }
' plugins/certsync.yaml.tmpl >"$DIST/certsync.yaml"
echo "$DIST/certsync.yaml"
