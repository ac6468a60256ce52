package operator

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"certsync.io/certsync/test/cluster"
)

var flagRow = regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\| `([^`]*)` \\| (.+) \\|$")

// TestREADMEFlagTableMatchesTheFlagSet: every flag the binary accepts is in
// README's table, with its real default, and the table lists no other.
func TestREADMEFlagTableMatchesTheFlagSet(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- flags:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- flags:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- flags:begin --> … <!-- flags:end --> table")
	}
	documented := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if m := flagRow.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			if _, dup := documented[m[1]]; dup {
				t.Errorf("--%s documented twice", m[1])
			}
			documented[m[1]] = m[2]
		}
	}
	fs := flag.NewFlagSet("certsync", flag.ContinueOnError)
	Bind(fs)
	fs.VisitAll(func(f *flag.Flag) {
		def, ok := documented[f.Name]
		switch {
		case !ok:
			t.Errorf("--%s (default %q) is missing from README's flag table", f.Name, f.DefValue)
		case def != f.DefValue:
			t.Errorf("--%s: README says default %q, the binary %q", f.Name, def, f.DefValue)
		}
		delete(documented, f.Name)
	})
	for name := range documented {
		t.Errorf("README documents --%s, which the binary does not have", name)
	}
}

// TestFlagContract: the names and defaults agreed with the Helm chart and
// config/manager (see the install docs).
func TestFlagContract(t *testing.T) {
	fs := flag.NewFlagSet("certsync", flag.ContinueOnError)
	f := Bind(fs)
	want := map[string]string{
		"metrics-bind-address": ":8443", "metrics-secure": "true", "metrics-cert-dir": "",
		"health-probe-bind-address": ":8081", "pprof-bind-address": "0", "leader-elect": "false", "leader-election-namespace": "",
		"leader-election-id": "certsync.io", "leader-elect-lease-duration": "10s", "leader-elect-renew-deadline": "7s",
		"leader-elect-retry-period": "2s", "watch-namespaces": "", "kube-api-qps": "20", "kube-api-burst": "30",
		"max-concurrent-reconciles": "4", "max-concurrent-rollouts": "10", "verify-concurrency": "32", "version": "false", "zap-log-level": "", "zap-devel": "false",
	}
	for name, def := range want {
		got := fs.Lookup(name)
		if got == nil {
			t.Errorf("--%s missing", name)
			continue
		}
		if got.DefValue != def {
			t.Errorf("--%s default %q, contract says %q", name, got.DefValue, def)
		}
	}
	if err := fs.Parse([]string{"--watch-namespaces=a, b", "--kube-api-qps=50.5", "--metrics-secure=false"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.WatchNamespaces, ",") != "a,b" || f.KubeAPIQPS != 50.5 || f.MetricsSecure {
		t.Errorf("parsed %+v", f)
	}
}

func TestParseNamespaces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"", "", false},
		{"mail", "mail", false},
		{" mail , web-1 ", "mail,web-1", false},
		{"mail,,web", "", true},
		{"mail,mail", "", true},
		{"Mail", "", true},
		{"-mail", "", true},
		{strings.Repeat("a", 64), "", true},
	} {
		got, err := ParseNamespaces(tc.in)
		if (err != nil) != tc.err || strings.Join(got, ",") != tc.want {
			t.Errorf("ParseNamespaces(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// TestVersionFlag: --version prints and exits 0 without a cluster.
func TestVersionFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"--version"}, &out, &errOut, nil)
	if code != 0 || !strings.HasPrefix(out.String(), "certsync dev ") {
		t.Errorf("exit %d, output %q, stderr %q", code, out.String(), errOut.String())
	}
	if code := Main(context.Background(), []string{"--watch-namespaces=Bad_NS"}, &out, &errOut, nil); code != 2 {
		t.Errorf("a bad --watch-namespaces exits %d, want 2", code)
	}
}
