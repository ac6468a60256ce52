/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package install

import (
	"io/fs"
	"os"
	"path/filepath"
)

// readInputs reads every file helm and kustomize render from. go test
// caches a passing result keyed on the files the test binary itself opens;
// the tools run as subprocesses, so without this an edited chart or
// kustomization would replay a stale "ok".
func readInputs(root string) error {
	for _, dir := range []string{"charts", "config", "test/install/testdata", "hack/tools/helm", "hack/tools/kustomize", "hack/gotool.sh"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
