# certsync's image for users with Docker/BuildKit (make docker-build):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v0.1.0 -t ghcr.io/certsync/certsync:v0.1.0 .
# Without a container runtime, `make image` builds the same image (one static
# binary, nonroot 65532, entrypoint /certsync, no shell) as an OCI layout.

# Cross-compile on the build platform: Go needs no emulation for that.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=""
ARG DATE=""
WORKDIR /src
# Dependencies first, so a source change reuses the module download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X certsync.io/certsync/internal/version.Version=${VERSION} -X certsync.io/certsync/internal/version.Commit=${COMMIT} -X certsync.io/certsync/internal/version.Date=${DATE}" \
      -o /out/certsync .

# distroless static: no shell, no package manager, no libc; CA roots in
# /etc/ssl (the binary also embeds a fallback set, roots.go).
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="certsync" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/certsync/certsync" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/certsync /certsync
USER 65532:65532
ENTRYPOINT ["/certsync"]
