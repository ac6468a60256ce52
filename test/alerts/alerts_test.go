package alerts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	module = "certsync.io/certsync"

	rulesFile          = "config/prometheus/rules.yaml"
	prometheusRuleFile = "config/prometheus/prometheusrule.yaml"
	rulesTestFile      = "config/prometheus/rules_test.yaml"
	runbooksFile       = "docs/runbooks.md"
	promtoolScript     = "hack/promtool.sh"
	promtoolModule     = "hack/tools/promtool/go.mod"

	skipPromtoolEnv = "CERTSYNC_SKIP_PROMTOOL"
)

// wantAlerts are the alerts of issue 6 and their severities. Their names are
// an interface (silences, inhibit rules and routes match them): renaming or
// dropping one must be deliberate, here as well.
var wantAlerts = map[string]string{
	"CertsyncCertificateExpiringSoon":     "warning",
	"CertsyncCertificateExpiringCritical": "critical",
	"CertsyncCertificateExpired":          "critical",
	"CertsyncStaleCertificateServed":      "critical",
	"CertsyncAllSourcesFailing":           "warning",
	"CertsyncNotReady":                    "warning",
}

type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert         string            `json:"alert,omitempty"`
	Record        string            `json:"record,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// TestPrometheusRuleMatchesRulesFile: the PrometheusRule must deploy exactly
// what rules.yaml declares (and promtool tests), compared as parsed YAML, so
// comments, quoting and indentation may differ but no rule, label or
// annotation may.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	root := repoRoot(t)

	var plain map[string]any
	unmarshalFile(t, root, rulesFile, &plain)
	if keys := mapKeys(plain); !reflect.DeepEqual(keys, []string{"groups"}) {
		t.Fatalf("%s: top-level keys %v, want only [groups]", rulesFile, keys)
	}

	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       map[string]any `json:"spec"`
	}
	unmarshalFile(t, root, prometheusRuleFile, &pr)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Fatalf("%s: %s %s, want monitoring.coreos.com/v1 PrometheusRule", prometheusRuleFile, pr.APIVersion, pr.Kind)
	}
	if pr.Metadata["name"] == nil {
		t.Errorf("%s: metadata.name is missing", prometheusRuleFile)
	}
	if keys := mapKeys(pr.Spec); !reflect.DeepEqual(keys, []string{"groups"}) {
		t.Fatalf("%s: spec keys %v, want only [groups]", prometheusRuleFile, keys)
	}
	if path, diff := firstDiff("groups", plain["groups"], pr.Spec["groups"]); path != "" {
		t.Fatalf("%s spec.groups differs from %s groups at %s: %s\nEdit both files together.", prometheusRuleFile, rulesFile, path, diff)
	}
}

// TestAlertsAreDocumented: every alert can be acted upon by whoever gets
// paged: it has a severity, a summary, a description templated with the
// series' labels or value, a "for", and a runbook_url whose anchor exists.
func TestAlertsAreDocumented(t *testing.T) {
	root := repoRoot(t)
	rf := loadRules(t, root)
	anchors, links := runbookAnchors(t, root)

	seen := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" {
			t.Errorf("%s: a group has no name", rulesFile)
		}
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue // a recording rule
			}
			name := r.Alert
			if seen[name] {
				t.Errorf("%s: alert %s is defined twice", rulesFile, name)
			}
			seen[name] = true
			want, known := wantAlerts[name]
			if !known {
				t.Errorf("%s: unexpected alert %s; add it to wantAlerts if it is meant to exist", rulesFile, name)
			}
			if got := r.Labels["severity"]; got != "warning" && got != "critical" {
				t.Errorf("%s: labels.severity = %q, want warning or critical", name, got)
			} else if known && got != want {
				t.Errorf("%s: labels.severity = %q, want %q", name, got, want)
			}
			if r.For == "" {
				t.Errorf("%s: no \"for\": a single evaluation would page", name)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: annotations.%s is missing", name, a)
				}
			}
			if d := r.Annotations["description"]; d != "" && !strings.Contains(d, "$labels.") && !strings.Contains(d, "$value") {
				t.Errorf("%s: the description uses neither $labels nor $value: %q", name, d)
			}
			anchor := strings.ToLower(name)
			if u := r.Annotations["runbook_url"]; u != "" && !strings.HasSuffix(u, runbooksFile+"#"+anchor) {
				t.Errorf("%s: runbook_url = %q, want it to end in %s#%s", name, u, runbooksFile, anchor)
			}
			// Alertmanager, Slack or a pager show the URL out of context: a
			// relative one leads nowhere.
			if u := r.Annotations["runbook_url"]; u != "" && !strings.HasPrefix(u, "https://") {
				t.Errorf("%s: runbook_url = %q is not an absolute https:// URL", name, u)
			}
			if !anchors[anchor] {
				t.Errorf("%s: %s has no section with anchor #%s (a heading \"## %s\")", name, runbooksFile, anchor, name)
			}
		}
	}
	for name := range wantAlerts {
		if !seen[name] {
			t.Errorf("%s: alert %s is missing", rulesFile, name)
		}
	}
	for _, l := range links {
		if !anchors[l] {
			t.Errorf("%s: link to #%s, which no heading defines", runbooksFile, l)
		}
	}
}

// TestRuleTestsCoverEveryAlert: rules_test.yaml shows every alert both firing
// (some case expects alerts) and not firing (some case expects none), and
// tests no alert that does not exist. promtool only runs what is there.
func TestRuleTestsCoverEveryAlert(t *testing.T) {
	root := repoRoot(t)
	rf := loadRules(t, root)

	var tf struct {
		RuleFiles []string `json:"rule_files"`
		Tests     []struct {
			Name          string `json:"name"`
			AlertRuleTest []struct {
				EvalTime  string `json:"eval_time"`
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	unmarshalFile(t, root, rulesTestFile, &tf)
	if !reflect.DeepEqual(tf.RuleFiles, []string{filepath.Base(rulesFile)}) {
		t.Errorf("%s: rule_files = %v, want [%s]", rulesTestFile, tf.RuleFiles, filepath.Base(rulesFile))
	}

	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if !fires[r.Alert] {
				t.Errorf("%s: no case shows %s firing", rulesTestFile, r.Alert)
			}
			if !silent[r.Alert] {
				t.Errorf("%s: no case shows %s not firing", rulesTestFile, r.Alert)
			}
		}
	}
	for _, name := range mergeKeys(fires, silent) {
		if !alerts[name] {
			t.Errorf("%s: tests alert %s, which %s does not define", rulesTestFile, name, rulesFile)
		}
	}
}

// TestPromtool checks and unit-tests the rules with the real promtool.
func TestPromtool(t *testing.T) {
	root := repoRoot(t)
	bin := promtool(t, root)

	t.Run("check rules", func(t *testing.T) {
		out := runPromtool(t, root, bin, "check", "rules", "--lint=all", "--lint-fatal", rulesFile)
		t.Logf("promtool check rules:\n%s", out)
	})
	t.Run("test rules", func(t *testing.T) {
		out := runPromtool(t, root, bin, "test", "rules", rulesTestFile)
		t.Logf("promtool test rules:\n%s", out)
	})
}

func runPromtool(t *testing.T, root, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var promtoolOnce struct {
	sync.Once
	path, log string
	err       error
}

// promtool returns the promtool that hack/promtool.sh builds (once per
// version, into the certsync cache), or skips when CERTSYNC_SKIP_PROMTOOL=1.
func promtool(t *testing.T, root string) string {
	t.Helper()
	if os.Getenv(skipPromtoolEnv) == "1" {
		t.Skipf("%s=1", skipPromtoolEnv)
	}
	// Read here so that `go test` reruns this test when the version changes.
	mod, err := os.ReadFile(filepath.Join(root, promtoolModule))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, promtoolScript)); err != nil {
		t.Fatal(err)
	}
	promtoolOnce.Do(func() {
		// Leave a minute of the test's own deadline to report a build that
		// is too slow, rather than being killed without a word.
		ctx := context.Background()
		if d, ok := t.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-time.Minute))
			defer cancel()
		}
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, promtoolScript))
		cmd.Dir = root
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		promtoolOnce.log = fmt.Sprintf("%s (%s):\n%s", promtoolScript, time.Since(start).Round(time.Second), stderr.String())
		switch {
		case ctx.Err() != nil:
			promtoolOnce.err = fmt.Errorf("%s did not finish before the test deadline: the first run builds promtool "+
				"(about 5 minutes on 2 cores); run it once by hand, or give go test a longer -timeout", promtoolScript)
		case err != nil:
			promtoolOnce.err = fmt.Errorf("%s: %w", promtoolScript, err)
		default:
			promtoolOnce.path = strings.TrimSpace(stdout.String())
		}
	})
	t.Log(promtoolOnce.log)
	if promtoolOnce.err != nil {
		t.Fatal(promtoolOnce.err)
	}
	if fi, err := os.Stat(promtoolOnce.path); err != nil || fi.IsDir() {
		t.Fatalf("%s printed %q, which is not a file: %v", promtoolScript, promtoolOnce.path, err)
	}
	if v, err := exec.Command(promtoolOnce.path, "--version").Output(); err == nil {
		first, _, _ := strings.Cut(string(v), "\n")
		t.Logf("%s; Go module github.com/prometheus/prometheus %s", first, requiredVersion(mod, "github.com/prometheus/prometheus"))
	}
	return promtoolOnce.path
}

// requiredVersion finds "require path version" in a go.mod.
func requiredVersion(gomod []byte, path string) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	return "?"
}

// repoRoot walks up from the test's directory to the go.mod of module
// certsync.io/certsync (skipping the tools modules under hack/tools).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(data) == module {
			return dir
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of module %s above the working directory", module)
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

func loadRules(t *testing.T, root string) ruleFile {
	t.Helper()
	var rf ruleFile
	data, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	// Strict: a misspelt key ("anotations") must fail, not vanish.
	if err := yaml.UnmarshalStrict(data, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if len(rf.Groups) == 0 {
		t.Fatalf("%s: no groups", rulesFile)
	}
	return rf
}

func unmarshalFile(t *testing.T, root, rel string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

var (
	headingRE = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)
	linkRE    = regexp.MustCompile(`\]\(#([^)\s]+)\)`)
)

// runbookAnchors returns the anchors GitHub derives from the headings of
// docs/runbooks.md (outside code blocks, where "# ..." is a shell comment),
// and the in-page links (#anchor) the file contains.
func runbookAnchors(t *testing.T, root string) (anchors map[string]bool, links []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, runbooksFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	anchors = map[string]bool{}
	fenced := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			anchors[slug(m[1])] = true
		}
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			links = append(links, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors, links
}

// slug is GitHub's heading anchor: lower case, punctuation dropped, spaces
// to hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// firstDiff returns where a and b (parsed YAML) first differ, and how.
func firstDiff(path string, a, b any) (string, string) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return path, fmt.Sprintf("%T vs %T", a, b)
		}
		for _, k := range mergeKeys(av, bv) {
			if p, d := firstDiff(path+"."+k, av[k], bv[k]); p != "" {
				return p, d
			}
		}
		return "", ""
	case []any:
		bv, ok := b.([]any)
		if !ok {
			return path, fmt.Sprintf("%T vs %T", a, b)
		}
		for i := 0; i < len(av) || i < len(bv); i++ {
			if i >= len(av) || i >= len(bv) {
				return fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("%d vs %d items", len(av), len(bv))
			}
			if p, d := firstDiff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i]); p != "" {
				return p, d
			}
		}
		return "", ""
	}
	if !reflect.DeepEqual(a, b) {
		return path, fmt.Sprintf("%#v vs %#v", a, b)
	}
	return "", ""
}

func mapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mergeKeys returns the keys of a and b, sorted, once each.
func mergeKeys[V any](a, b map[string]V) []string {
	set := map[string]struct{}{}
	for k := range a {
		set[k] = struct{}{}
	}
	for k := range b {
		set[k] = struct{}{}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
