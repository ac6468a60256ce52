/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package image

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"certsync.io/certsync/test/cluster"
)

// No container runtime runs here, so the Dockerfile is never built by the
// tests; these checks keep it in line with what make image builds and
// test/image proves: same user, entrypoint, static build and version stamp,
// and a build context that holds every package the binary needs.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
}

func readDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ins := readDockerfile(t, filepath.Join(root, "Dockerfile"))
	// The final stage: everything after the last FROM.
	last := -1
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	if last < 1 {
		t.Fatalf("want a multi-stage build (a build stage, then the image); instructions: %v", ins)
	}
	final := map[string][]string{}
	for _, in := range ins[last:] {
		final[in.cmd] = append(final[in.cmd], in.args)
	}
	if from := final["FROM"][0]; !strings.HasPrefix(from, "gcr.io/distroless/static") || !strings.HasSuffix(from, ":nonroot") {
		t.Errorf("final stage FROM %q: want distroless static nonroot (no shell, no libc)", from)
	}
	if got := final["USER"]; len(got) != 1 || got[0] != "65532:65532" {
		t.Errorf("final stage USER %q, want 65532:65532", got)
	}
	if got := final["ENTRYPOINT"]; len(got) != 1 || got[0] != `["/certsync"]` {
		t.Errorf("final stage ENTRYPOINT %q, want [\"/certsync\"]", got)
	}
	if got := final["RUN"]; len(got) != 0 {
		t.Errorf("final stage RUN %q: the image has no shell to run it", got)
	}
	var build string
	for _, in := range ins[:last] {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "certsync.io/certsync/internal/version.Version=${VERSION}", "-o /out/certsync"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %q", build, want)
		}
	}
}

// TestDockerignoreKeepsEveryPackage: the build context (.dockerignore lets
// in only listed folders) holds every package of the module the binary
// imports, so a new top-level package cannot break docker build unnoticed.
func TestDockerignoreKeepsEveryPackage(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readInputs(t, root) // go list reads the sources in a subprocess
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok && strings.HasSuffix(d, "/") && !strings.Contains(d, "*") {
			kept = append(kept, d)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", ".")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		if rel == "." {
			continue
		}
		ok := false
		for _, k := range kept {
			if strings.HasPrefix(filepath.ToSlash(rel)+"/", k) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("package %s is left out of the docker build context: add !%s/ to .dockerignore", rel, strings.Split(filepath.ToSlash(rel), "/")[0])
		}
	}
}
