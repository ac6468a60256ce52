/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"

	"certsync.io/certsync/test/cluster"
)

// testVersion is unlikely to appear in a binary by chance: finding it in
// both binaries proves the ldflags stamp reached internal/version.
const (
	testVersion = "v0.0.0-imagetest.7f3c"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testTag     = "registry.invalid/certsync:imagetest"

	fallbackRoots = "golang.org/x/crypto/x509roots/fallback"
)

// OCI image-spec JSON, only the fields inspected here.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type index struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
}

type manifest struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
}

type configFile struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

type file struct {
	mode os.FileMode
	uid  int
	data []byte
}

func TestImage(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readInputs(t, root)
	out := filepath.Join(t.TempDir(), "image")
	buildImage(t, root, out)
	// Reproducible: the same sources and flags give the same image (file
	// times and the creation date come from -date, the build is -trimpath).
	// Rebuilt for one platform only, to keep the test short.
	again := filepath.Join(t.TempDir(), "again")
	buildImage(t, root, again, "-platforms", "linux/amd64")
	first, second := platformDigests(t, out), platformDigests(t, again)
	if first["linux/amd64"] == "" || first["linux/amd64"] != second["linux/amd64"] {
		t.Errorf("two builds of the same sources: linux/amd64 image digests %q and %q", first["linux/amd64"], second["linux/amd64"])
	}

	var top index
	readJSON(t, filepath.Join(out, "index.json"), &top)
	if len(top.Manifests) != 1 {
		t.Fatalf("layout index.json: %d manifests, want 1 (the image index)", len(top.Manifests))
	}
	if got := top.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != testTag {
		t.Errorf("layout ref.name = %q, want %q", got, testTag)
	}
	var idx index
	readBlob(t, out, top.Manifests[0], &idx)
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("image index media type %q, want an OCI index", idx.MediaType)
	}

	var platforms []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			t.Fatalf("index entry %s has no platform", d.Digest)
		}
		p := d.Platform.OS + "/" + d.Platform.Architecture
		platforms = append(platforms, p)
		t.Run(p, func(t *testing.T) {
			var m manifest
			readBlob(t, out, d, &m)
			var cf configFile
			readBlob(t, out, m.Config, &cf)
			checkConfig(t, cf, d.Platform.OS, d.Platform.Architecture)
			files := map[string]file{}
			for _, l := range m.Layers {
				for name, f := range layerFiles(t, out, l) {
					files[name] = f
				}
			}
			checkFiles(t, files, d.Platform.Architecture)
		})
	}
	sort.Strings(platforms)
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("platforms %v, want %v", platforms, want)
	}
}

// buildImage runs make image's tool, writing the layout to out.
func buildImage(t *testing.T, root, out string, extra ...string) {
	t.Helper()
	args := append([]string{"-C", filepath.Join(root, "hack", "tools", "image"), "run", ".",
		"-src", root, "-out", out, "-tag", testTag,
		"-version", testVersion, "-commit", testCommit, "-date", "2026-01-02T03:04:05Z"}, extra...)
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building the image: %v\n%s", err, stderr.String())
	}
}

// platformDigests returns the image manifest digest per os/arch of a layout.
func platformDigests(t *testing.T, dir string) map[string]string {
	t.Helper()
	var top, idx index
	readJSON(t, filepath.Join(dir, "index.json"), &top)
	if len(top.Manifests) != 1 {
		t.Fatalf("%s: %d manifests in index.json, want 1", dir, len(top.Manifests))
	}
	readBlob(t, dir, top.Manifests[0], &idx)
	out := map[string]string{}
	for _, d := range idx.Manifests {
		if d.Platform != nil {
			out[d.Platform.OS+"/"+d.Platform.Architecture] = d.Digest
		}
	}
	return out
}

func checkConfig(t *testing.T, cf configFile, os, arch string) {
	t.Helper()
	if cf.OS != os || cf.Architecture != arch {
		t.Errorf("config os/arch %s/%s, want %s/%s", cf.OS, cf.Architecture, os, arch)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("config User %q, want 65532:65532 (nonroot, numeric so runAsNonRoot can verify it)", cf.Config.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/certsync"}) || len(cf.Config.Cmd) != 0 {
		t.Errorf("config Entrypoint %q Cmd %q, want [/certsync] and no Cmd", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testCommit,
		"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
		"org.opencontainers.image.licenses": "Apache-2.0",
	} {
		if got := cf.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
}

func checkFiles(t *testing.T, files map[string]file, arch string) {
	t.Helper()
	names := slices.Sorted(mapsKeys(files))
	t.Logf("files: %v", names)
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, ok := files[shell]; ok {
			t.Errorf("the image holds /%s: it must have no shell", shell)
		}
	}
	bin, ok := files["certsync"]
	if !ok {
		t.Fatalf("no /certsync in the image; files: %v", names)
	}
	if bin.mode&0o111 == 0 {
		t.Errorf("/certsync mode %v is not executable", bin.mode)
	}
	if !bytes.Contains(bin.data, []byte(testVersion)) {
		t.Errorf("/certsync does not contain the stamped version %q", testVersion)
	}
	f, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("/certsync is not an ELF binary: %v", err)
	}
	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != wantMachine {
		t.Errorf("/certsync is built for %v, want %v", f.Machine, wantMachine)
	}
	// Static: no program interpreter (ld.so) and no shared libraries, since
	// the image holds no libc.
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("/certsync is dynamically linked (PT_INTERP): build it with CGO_ENABLED=0")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("/certsync needs shared libraries %v", libs)
	}
	// The build: static (cgo off), for this architecture, with the fallback
	// CA roots (HTTPS sources' default trust in an image with no CA bundle).
	bi, err := buildinfo.Read(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("/certsync build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["GOARCH"] != arch || settings["GOOS"] != "linux" {
		t.Errorf("/certsync built with CGO_ENABLED=%q GOOS=%q GOARCH=%q, want 0 linux %s",
			settings["CGO_ENABLED"], settings["GOOS"], settings["GOARCH"], arch)
	}
	if !slices.ContainsFunc(bi.Deps, func(m *debug.Module) bool { return m.Path == fallbackRoots }) {
		t.Errorf("/certsync does not link %s", fallbackRoots)
	}
	if pw, ok := files["etc/passwd"]; !ok || !strings.Contains(string(pw.data), ":65532:65532:") {
		t.Errorf("/etc/passwd does not name user 65532")
	}
}

func mapsKeys(m map[string]file) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// layerFiles reads a gzipped tar layer, checking its digest.
func layerFiles(t *testing.T, dir string, d descriptor) map[string]file {
	t.Helper()
	data := blob(t, dir, d)
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("layer %s: %v", d.Digest, err)
	}
	tr := tar.NewReader(zr)
	files := map[string]file{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("layer %s: %v", d.Digest, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		files[strings.TrimSuffix(name, "/")] = file{mode: h.FileInfo().Mode(), uid: h.Uid, data: b}
	}
	return files
}

func readBlob(t *testing.T, dir string, d descriptor, v any) {
	t.Helper()
	if err := json.Unmarshal(blob(t, dir, d), v); err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
}

// blob returns a blob of the layout, verifying its size and digest.
func blob(t *testing.T, dir string, d descriptor) []byte {
	t.Helper()
	alg, hexDigest, ok := strings.Cut(d.Digest, ":")
	if !ok || alg != "sha256" {
		t.Fatalf("digest %q: want sha256", d.Digest)
	}
	data, err := os.ReadFile(filepath.Join(dir, "blobs", alg, hexDigest))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != hexDigest || int64(len(data)) != d.Size {
		t.Fatalf("blob %s: digest %s size %d, want size %d", d.Digest, got, len(data), d.Size)
	}
	return data
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
