/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package image

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readInputs reads every source file the image is built from. go test
// caches a passing result keyed on the files the test binary itself opens;
// go build and the image tool run as subprocesses, so without this an
// edited source would replay a stale "ok".
func readInputs(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" || name == "Dockerfile" || name == ".dockerignore" {
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
