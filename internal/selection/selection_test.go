package selection_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/sources"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// materialOption configures the material a source yields, built from a
// certstest pair (functional options, as cert-manager's test/unit/gen).
type materialOption func(*materialSpec)

type materialSpec struct {
	certOpts []certstest.Option
	mutate   []func(*sources.Material)
}

func cert(opts ...certstest.Option) materialOption {
	return func(s *materialSpec) { s.certOpts = append(s.certOpts, opts...) }
}

func mutate(f func(*sources.Material)) materialOption {
	return func(s *materialSpec) { s.mutate = append(s.mutate, f) }
}

func material(t *testing.T, opts ...materialOption) sources.Material {
	t.Helper()
	s := &materialSpec{certOpts: []certstest.Option{
		certstest.WithDNSNames("mail.example.com"),
		certstest.WithValidity(now.Add(-24*time.Hour), now.Add(60*24*time.Hour)),
	}}
	for _, o := range opts {
		o(s)
	}
	p := certstest.New(t, s.certOpts...)
	m := sources.Material{CertPEM: p.ChainPEM, KeyPEM: p.KeyPEM}
	for _, f := range s.mutate {
		f(&m)
	}
	return m
}

func TestEvaluate(t *testing.T) {
	req := certs.Requirements{DNSNames: []string{"mail.example.com"}, MinRemainingValidity: 7 * 24 * time.Hour}
	otherKey := certstest.New(t).KeyPEM

	tests := []struct {
		name      string
		m         sources.Material
		fetchErr  error
		valid     bool
		reason    string
		message   string // substring
		transient bool
		bundle    bool
	}{
		{name: "fetch error: not found",
			fetchErr: &sources.Error{Reason: sources.ReasonNotFound, Message: "Secret mail/src not found"},
			reason:   sources.ReasonNotFound, message: "Secret mail/src not found"},
		{name: "fetch error: not permitted",
			fetchErr: &sources.Error{Reason: sources.ReasonNotPermitted, Message: "no consent"},
			reason:   sources.ReasonNotPermitted, message: "no consent"},
		{name: "fetch error: missing key",
			fetchErr: &sources.Error{Reason: sources.ReasonMissingKey, Message: `no key "tls.key"`},
			reason:   sources.ReasonMissingKey, message: "tls.key"},
		{name: "fetch error: transient propagated",
			fetchErr: &sources.Error{Reason: sources.ReasonAPIError, Message: "etcd timeout", Transient: true},
			reason:   sources.ReasonAPIError, message: "etcd timeout", transient: true},
		{name: "fetch error: wrapped sources.Error",
			fetchErr: fmt.Errorf("reading: %w", &sources.Error{Reason: sources.ReasonForbidden, Message: "RBAC"}),
			reason:   sources.ReasonForbidden, message: "RBAC"},
		{name: "fetch error: any other error is a transient API error",
			fetchErr: errors.New("connection reset"),
			reason:   sources.ReasonAPIError, message: "connection reset", transient: true},
		{name: "fetch error wins over material",
			m:        material(t),
			fetchErr: &sources.Error{Reason: sources.ReasonNotFound, Message: "gone"},
			reason:   sources.ReasonNotFound, message: "gone"},
		{name: "parse error: empty",
			m:      material(t, mutate(func(m *sources.Material) { m.CertPEM = nil })),
			reason: certs.ReasonEmpty},
		{name: "parse error: not PEM",
			m:      material(t, mutate(func(m *sources.Material) { m.CertPEM = []byte("<html>503 Service Unavailable</html>") })),
			reason: certs.ReasonNotPEM},
		{name: "parse error: key mismatch",
			m:      material(t, mutate(func(m *sources.Material) { m.KeyPEM = otherKey })),
			reason: certs.ReasonKeyMismatch},
		{name: "parse error: no private key",
			m:      material(t, mutate(func(m *sources.Material) { m.KeyPEM = m.CertPEM })),
			reason: certs.ReasonNoPrivateKey},
		{name: "validation violation keeps the bundle: expired",
			m:      material(t, cert(certstest.WithValidity(now.Add(-90*24*time.Hour), now.Add(-time.Hour)))),
			reason: certs.ReasonExpired, message: "expired at", bundle: true},
		{name: "validation violation keeps the bundle: not yet valid",
			m:      material(t, cert(certstest.WithValidity(now.Add(time.Hour), now.Add(90*24*time.Hour)))),
			reason: certs.ReasonNotYetValid, bundle: true},
		{name: "validation violation keeps the bundle: expires too soon",
			m:      material(t, cert(certstest.WithValidity(now.Add(-time.Hour), now.Add(24*time.Hour)))),
			reason: certs.ReasonExpiresTooSoon, bundle: true},
		{name: "validation violation keeps the bundle: DNS name",
			m:      material(t, cert(certstest.WithDNSNames("www.example.com"))),
			reason: certs.ReasonDNSNameMismatch, message: "mail.example.com", bundle: true},
		{name: "valid",
			m:     material(t, cert(certstest.WithSerial(0x1234))),
			valid: true, reason: selection.ReasonValid, message: "serial 1234", bundle: true},
		{name: "valid with a CA",
			m:     material(t, mutate(func(m *sources.Material) { m.CAPEM = certstest.NewCA(t).CertPEM })),
			valid: true, reason: selection.ReasonValid, bundle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := selection.Evaluate("legacy", tt.m, tt.fetchErr, req, now)
			if c.Source != "legacy" {
				t.Errorf("Source = %q", c.Source)
			}
			if c.Valid != tt.valid || c.Reason != tt.reason || c.Transient != tt.transient {
				t.Errorf("got valid=%v reason=%q transient=%v, want valid=%v reason=%q transient=%v (message %q)",
					c.Valid, c.Reason, c.Transient, tt.valid, tt.reason, tt.transient, c.Message)
			}
			if !strings.Contains(c.Message, tt.message) {
				t.Errorf("Message %q does not contain %q", c.Message, tt.message)
			}
			if c.Message == "" {
				t.Error("empty Message")
			}
			if (c.Bundle != nil) != tt.bundle {
				t.Errorf("Bundle set = %v, want %v", c.Bundle != nil, tt.bundle)
			}
			if strings.Contains(c.Message, "BEGIN") || strings.Contains(c.Message, "PRIVATE") {
				t.Errorf("Message carries PEM: %q", c.Message)
			}
		})
	}
}

// cand is a Pick fixture: a candidate with a leaf of the given validity.
func cand(t *testing.T, name string, valid bool, notBefore, notAfter time.Time) selection.Candidate {
	t.Helper()
	p := certstest.New(t, certstest.WithValidity(notBefore, notAfter))
	return selection.Candidate{Source: name, Valid: valid, Bundle: &certs.Bundle{Leaf: p.Cert}}
}

func TestPick(t *testing.T) {
	d := func(days int) time.Time { return now.Add(time.Duration(days) * 24 * time.Hour) }
	failed := selection.Candidate{Source: "down", Reason: sources.ReasonNotFound}

	tests := []struct {
		name  string
		cands []selection.Candidate
		want  int
	}{
		{"no candidates", nil, -1},
		{"none valid", []selection.Candidate{failed, cand(t, "expired", false, d(-90), d(-1))}, -1},
		{"the only valid one", []selection.Candidate{failed, cand(t, "ok", true, d(-1), d(60))}, 1},
		{"newest notBefore wins, newest last",
			[]selection.Candidate{cand(t, "old", true, d(-30), d(60)), cand(t, "new", true, d(-1), d(30))}, 1},
		{"newest notBefore wins, newest first",
			[]selection.Candidate{cand(t, "new", true, d(-1), d(30)), cand(t, "old", true, d(-30), d(60))}, 0},
		{"newest notBefore wins among three",
			[]selection.Candidate{cand(t, "a", true, d(-30), d(60)), cand(t, "b", true, d(-2), d(60)), cand(t, "c", true, d(-10), d(90))}, 1},
		{"tie on notBefore: later notAfter",
			[]selection.Candidate{cand(t, "short", true, d(-1), d(30)), cand(t, "long", true, d(-1), d(60))}, 1},
		{"tie on notBefore: later notAfter, first",
			[]selection.Candidate{cand(t, "long", true, d(-1), d(60)), cand(t, "short", true, d(-1), d(30))}, 0},
		{"full tie: first in order",
			[]selection.Candidate{cand(t, "a", true, d(-1), d(60)), cand(t, "b", true, d(-1), d(60))}, 0},
		{"full tie after an invalid one: first valid",
			[]selection.Candidate{failed, cand(t, "a", true, d(-1), d(60)), cand(t, "b", true, d(-1), d(60))}, 1},
		{"a newer but invalid candidate is ignored",
			[]selection.Candidate{cand(t, "ok", true, d(-30), d(60)), cand(t, "bad", false, d(-1), d(90))}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := selection.Pick(tt.cands); got != tt.want {
				t.Errorf("Pick() = %d, want %d", got, tt.want)
			}
		})
	}
}
