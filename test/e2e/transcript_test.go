package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"certsync.io/certsync/test/cluster"
)

// The README's `kubectl certsync` section shows a transcript of
// TestPluginCommandsOnTheLocalCluster: the real commands and what they
// printed, kept in transcriptFile. The test compares every run's output
// with it (what changes from run to run masked: times, fingerprints,
// serials, generated pod names, addresses, the "Last events" lines), and
// test/docs checks that the README shows the file verbatim, so neither
// can drift from what the binary prints. CERTSYNC_UPDATE_TRANSCRIPT=1
// rewrites the file from the run.
const transcriptFile = "test/e2e/testdata/plugin-transcript.txt"

// transcript collects commands and their output, in the order of keys.
type transcript struct {
	ns      string
	entries map[string]string
}

// add records the output of `kubectl certsync args...`, with the test's
// namespace shown as "mail".
func (tr *transcript) add(out string, args ...string) {
	cmd := strings.Join(args, " ")
	tr.entries[tr.public(cmd)] = "$ kubectl certsync " + tr.public(cmd) + "\n" + tr.public(out)
}

func (tr *transcript) public(s string) string {
	return strings.ReplaceAll(s, tr.ns, "mail")
}

// render joins the entries in the order the commands were recorded in
// order.
func (tr *transcript) render(order []string) string {
	parts := make([]string, 0, len(order))
	for _, cmd := range order {
		parts = append(parts, strings.TrimRight(tr.entries[cmd], "\n"))
	}
	return strings.Join(parts, "\n\n") + "\n"
}

// check compares the transcript with transcriptFile, or rewrites it.
func (tr *transcript) check(t *testing.T, order []string) {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, transcriptFile)
	got := tr.render(order)
	if os.Getenv("CERTSYNC_UPDATE_TRANSCRIPT") == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", transcriptFile)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (CERTSYNC_UPDATE_TRANSCRIPT=1 writes it)", err)
	}
	if m, w := maskTranscript(got), maskTranscript(string(want)); m != w {
		t.Errorf("the plugin's output differs from %s (the README's transcript); if the change is meant, rerun with CERTSYNC_UPDATE_TRANSCRIPT=1 and copy it to the README.\n--- masked run:\n%s\n--- masked file:\n%s", transcriptFile, m, w)
	}
}

var transcriptMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`), "TIME"},
	{regexp.MustCompile(`[0-9a-f]{16}…`), "SHA…"},
	{regexp.MustCompile(`serial [0-9a-f]+`), "serial N"},
	{regexp.MustCompile(`postfix-[0-9a-z]+-[0-9a-z]{5}`), "postfix-POD"},
	{regexp.MustCompile(`127\.\d+\.\d+\.\d+`), "IP"},
	{regexp.MustCompile(`[ \t]+`), " "},
}

// maskTranscript hides what differs between runs of the same commands,
// and the events, whose number and timing vary with the cluster's pace.
func maskTranscript(s string) string {
	var keep []string
	inEvents := false
	for _, line := range strings.Split(s, "\n") {
		switch {
		case line == "Last events:":
			inEvents = true
		case inEvents && !strings.HasPrefix(line, "  "):
			inEvents = false
		}
		if inEvents {
			continue
		}
		for _, m := range transcriptMasks {
			line = m.re.ReplaceAllString(line, m.with)
		}
		keep = append(keep, strings.TrimRight(line, " "))
	}
	return strings.Join(keep, "\n")
}
