package estate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// reasonSources are the packages whose reasons reach a status, a condition
// or an event: their Reason* string constants, and the failure classes
// their messages name in parentheses ("… (DialRefused)").
var reasonSources = []string{
	"api/v1alpha1", "internal/sources", "internal/egress", "internal/consent", "internal/secretvalues",
	"internal/nsguard", "internal/oauth2check", "internal/expiry", "internal/verification",
	"internal/rollout", "controllers/engine", "controllers/certsync", "controllers/secretsync",
}

// noRunbook are reasons that need nothing done, each with why. Any other
// reason must be named (in backticks) in docs/runbooks.md.
var noRunbook = map[string]string{
	"AllSourcesReady":   "SourcesReady=True",
	"NotExpiring":       "ExpiringSoon=False",
	"NoPods":            "Verified=True with nothing to verify",
	"NothingToVerify":   "the target holds nothing of this object yet; Synced says why",
	"TokenIssued":       "Verified=True",
	"Valid":             "a SecretSync source that is fine",
	"Superseded":        "RolledBack=False: a newer certificate replaced a rolled-back one",
	"Reconciling":       "kstatus: Ready's own reason is shown in the condition",
	"ManuallyTriggered": "the reason certsync writes into a cert-manager Certificate's Issuing condition, not its own",
}

// failureClass matches a CamelCase class in parentheses; all-capital words
// such as (RBAC) are not classes.
var failureClass = regexp.MustCompile(`\(([A-Z][A-Za-z]*[a-z][A-Za-z]*)\)`)

// Every reason a user can meet — status, condition and event reasons, and
// the connection failure classes of issue 12 — has a runbook entry, so the
// on-call (and `kubectl certsync why`, which links there) finds what to do.
func TestEveryReasonHasARunbookEntry(t *testing.T) {
	root := filepath.Join("..", "..")
	book, err := os.ReadFile(filepath.Join(root, "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{} // reason → where it is defined
	for _, dir := range reasonSources {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(filepath.Base(f), "zz_generated") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(af, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, name := range n.Names {
						if !strings.HasPrefix(name.Name, "Reason") || i >= len(n.Values) {
							continue
						}
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							reasons[v] = dir + "." + name.Name
						}
					}
				case *ast.BasicLit:
					if n.Kind == token.STRING {
						v, _ := strconv.Unquote(n.Value)
						for _, m := range failureClass.FindAllStringSubmatch(v, -1) {
							reasons[m[1]] = dir + " (failure class)"
						}
					}
				}
				return true
			})
		}
	}
	// The scan itself must find what issue 12 added, or it finds nothing.
	for _, must := range []string{"EgressDenied", "CredentialNotReleased", "NotPermitted", "DialRefused", "DNSNotFound", "TLSHandshakeFailed", "HostnameMismatch"} {
		if _, ok := reasons[must]; !ok {
			t.Errorf("the scan did not find reason %s: is reasonSources out of date?", must)
		}
	}
	var missing []string
	for r, where := range reasons {
		if _, ok := noRunbook[r]; ok {
			continue
		}
		if !strings.Contains(string(book), "`"+r+"`") {
			missing = append(missing, r+" ("+where+")")
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("docs/runbooks.md does not name reason %s", m)
	}
	for r := range noRunbook {
		if _, ok := reasons[r]; !ok {
			t.Errorf("noRunbook lists %s, which no package defines any more", r)
		}
	}
}
