package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const module = "certsync.io/certsync"

// BinDir returns the folder with the control-plane binaries:
// $CERTSYNC_CONTROLPLANE if set, else the folder hack/controlplane.sh <what>
// prints (what is "envtest" or "cluster"). The script's progress goes to
// stderr, because a first run builds for minutes and silence looks like a hang.
func BinDir(what string) (string, error) {
	if dir := os.Getenv("CERTSYNC_CONTROLPLANE"); dir != "" {
		return dir, nil
	}
	if what != "envtest" && what != "cluster" {
		return "", fmt.Errorf("BinDir: unknown set %q (want envtest or cluster)", what)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "hack", "controlplane.sh"), what)
	cmd.Dir = root
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/controlplane.sh %s: %w", what, err)
	}
	dir := lastLine(out.String())
	if dir == "" {
		return "", fmt.Errorf("hack/controlplane.sh %s printed no folder", what)
	}
	return dir, nil
}

// RepoRoot walks up from the working directory to the folder whose go.mod
// declares certsync's module; tests run in their package's folder, so this
// finds the repository wherever it is checked out.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(data) == module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module " + module + " above the working directory")
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
