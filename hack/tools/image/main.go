/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

// Command image builds certsync's container image without a container
// runtime: it cross-compiles the operator (static, CGO_ENABLED=0) for each
// platform and writes a multi-platform OCI image layout (an image index of
// one image per platform) to a directory, offline. Push the layout with any
// OCI tool (crane push, skopeo copy oci:bin/image docker://…, oras), or
// with -push REF, which uses the Docker credential helpers.
//
// The image has a single layer: /certsync (the binary, the entrypoint) and
// /etc/passwd and /etc/group naming the nonroot user 65532 — no shell, no
// package manager, no libc. It runs as 65532:65532. HTTPS sources' default
// trust comes from the roots embedded in the binary (roots.go).
//
// Usage (from the repository root; make image does this):
//
//	go -C hack/tools/image run . -src "$PWD" -out "$PWD/bin/image" -version v0.1.0
//
// The build is reproducible: file times and the config's creation time come
// from -date (default SOURCE_DATE_EPOCH, else the Unix epoch), so the same
// source and flags give the same digests.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	versionPkg = "certsync.io/certsync/internal/version"
	// nonroot is distroless' nonroot user and group, which the chart's and
	// config/manager's restricted securityContext expect.
	nonroot = 65532
)

type options struct {
	src, out, tag, push   string
	version, commit, date string
	platforms             []string
	created               time.Time
}

func main() {
	var o options
	var platforms string
	flag.StringVar(&o.src, "src", ".", "certsync's source tree (the main package)")
	flag.StringVar(&o.out, "out", "bin/image", "directory the OCI image layout is written to (replaced)")
	flag.StringVar(&o.tag, "tag", "ghcr.io/certsync/certsync:dev", "reference recorded in the layout (org.opencontainers.image.ref.name)")
	flag.StringVar(&o.push, "push", "", "also push the index to this reference (credentials from the Docker config)")
	flag.StringVar(&o.version, "version", "dev", "version stamped into the binary and the image labels")
	flag.StringVar(&o.commit, "commit", "", "source commit stamped into the binary and labels")
	flag.StringVar(&o.date, "date", "", "build date, RFC 3339 (default SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z)")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	flag.Parse()
	o.platforms = strings.Split(platforms, ",")
	if err := o.resolveDate(); err != nil {
		fail(err)
	}
	if err := run(o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// resolveDate fixes the single timestamp used everywhere in the image.
func (o *options) resolveDate() error {
	switch {
	case o.date != "":
		t, err := time.Parse(time.RFC3339, o.date)
		if err != nil {
			return fmt.Errorf("-date: %w", err)
		}
		o.created = t.UTC()
	case os.Getenv("SOURCE_DATE_EPOCH") != "":
		s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		o.created = time.Unix(s, 0).UTC()
	default:
		o.created = time.Unix(0, 0).UTC()
	}
	o.date = o.created.Format(time.RFC3339)
	return nil
}

func run(o options) error {
	src, err := filepath.Abs(o.src)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "certsync-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			return fmt.Errorf("platform %q: want os/arch", p)
		}
		bin := filepath.Join(work, goos+"-"+goarch, "certsync")
		if err := o.compile(src, goos, goarch, bin); err != nil {
			return err
		}
		img, err := o.image(goos, goarch, bin)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: goos, Architecture: goarch},
			},
		})
	}

	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	lp, err := layout.Write(o.out, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.tag,
	})); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "image: wrote %s (%s, %s) to %s\n", o.tag, strings.Join(o.platforms, ", "), d, o.out)
	fmt.Println(d)

	if o.push != "" {
		ref, err := name.ParseReference(o.push)
		if err != nil {
			return fmt.Errorf("-push: %w", err)
		}
		if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		fmt.Fprintf(os.Stderr, "image: pushed %s@%s\n", ref, d)
	}
	return nil
}

// compile cross-compiles the operator: static (no cgo, so no libc in the
// image), trimmed paths, the version stamped into internal/version.
func (o options) compile(src, goos, goarch, out string) error {
	ldflags := fmt.Sprintf("-s -w -X %[1]s.Version=%[2]s -X %[1]s.Commit=%[3]s -X %[1]s.Date=%[4]s",
		versionPkg, o.version, o.commit, o.date)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-buildvcs=false")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s/%s: %w", goos, goarch, err)
	}
	return nil
}

// image builds one platform's image: a single layer on an empty base.
func (o options) image(goos, goarch, bin string) (v1.Image, error) {
	layer, err := o.layer(bin)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = goos, goarch
	cf.Created = v1.Time{Time: o.created}
	cf.Author = "The certsync authors"
	cf.Config.User = fmt.Sprintf("%d:%d", nonroot, nonroot)
	cf.Config.Entrypoint = []string{"/certsync"}
	cf.Config.Cmd = nil
	cf.Config.WorkingDir = "/"
	// distroless' PATH, for tools that expect one; the image has nothing
	// to find on it but /certsync, run by absolute path.
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "certsync",
		"org.opencontainers.image.version":  o.version,
		"org.opencontainers.image.revision": o.commit,
		"org.opencontainers.image.created":  o.date,
		"org.opencontainers.image.source":   "https://github.com/certsync/certsync",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	return mutate.ConfigFile(img, cf)
}

// layer returns the image's only layer as an uncompressed-then-gzipped OCI
// layer with fixed owners, modes and times.
func (o options) layer(bin string) (v1.Layer, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"certsync", 0o755, exe},
	}
	dirs := []struct {
		name string
		mode int64
		uid  int
	}{
		{"etc/", 0o755, 0},
		{"home/", 0o755, 0},
		{"home/nonroot/", 0o700, nonroot},
		// Go's os.TempDir; the manager runs with a read-only root
		// filesystem, where an emptyDir may be mounted here.
		{"tmp/", 0o1777, 0},
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode,
			Uid: d.uid, Gid: d.uid, ModTime: o.created, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode,
			Size: int64(len(f.data)), ModTime: o.created, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
