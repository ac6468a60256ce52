package certs_test

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

var (
	notBefore = time.Date(2025, 12, 3, 3, 4, 5, 0, time.UTC)
	notAfter  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func bundleFor(p *certstest.Pair) *certs.Bundle { return &certs.Bundle{Leaf: p.Cert, Key: p.Key} }

func TestValidate(t *testing.T) {
	p := certstest.New(t,
		certstest.WithDNSNames("a.example.com", "b.example.com", "*.wild.example.com"),
		certstest.WithValidity(notBefore, notAfter))
	b := bundleFor(p)
	day := 24 * time.Hour
	inside := notBefore.Add(10 * day)

	tests := []struct {
		name    string
		req     certs.Requirements
		now     time.Time
		reason  string // "" = valid
		message string // exact, when set
	}{
		{name: "valid", now: inside},
		{name: "valid with every name", req: certs.Requirements{DNSNames: []string{"a.example.com", "B.Example.COM", "x.wild.example.com"}}, now: inside},
		{name: "valid at NotBefore", now: notBefore},
		{name: "valid at NotAfter", now: notAfter},
		{
			name: "not yet valid", now: notBefore.Add(-2 * time.Hour), reason: certs.ReasonNotYetValid,
			message: "certificate is not valid until 2025-12-03T03:04:05Z; check the issuer's clock or wait",
		},
		{
			name: "expired", now: notAfter.Add(3 * day), reason: certs.ReasonExpired,
			message: "certificate expired at 2026-01-02T03:04:05Z",
		},
		{name: "expired one second ago", now: notAfter.Add(time.Second), reason: certs.ReasonExpired},
		{
			name: "expired wins over names", now: notAfter.Add(day), req: certs.Requirements{DNSNames: []string{"other.example.com"}},
			reason: certs.ReasonExpired,
		},
		{
			name: "expires too soon", now: notAfter.Add(-5*day - 4*time.Hour), req: certs.Requirements{MinRemainingValidity: 30 * day},
			reason:  certs.ReasonExpiresTooSoon,
			message: "certificate expires at 2026-01-02T03:04:05Z, less than the required remaining validity of 30d",
		},
		{name: "exactly the remaining validity", now: notAfter.Add(-10 * day), req: certs.Requirements{MinRemainingValidity: 10 * day}},
		{name: "zero remaining validity is no requirement", now: notAfter.Add(-time.Minute)},
		{
			name: "missing name", now: inside, req: certs.Requirements{DNSNames: []string{"a.example.com", "mail.example.com"}},
			reason:  certs.ReasonDNSNameMismatch,
			message: `certificate does not cover DNS name "mail.example.com" (SANs: a.example.com, b.example.com, *.wild.example.com)`,
		},
		{name: "wildcard does not cover its apex", now: inside, req: certs.Requirements{DNSNames: []string{"wild.example.com"}}, reason: certs.ReasonDNSNameMismatch},
		{name: "wildcard does not cover two labels", now: inside, req: certs.Requirements{DNSNames: []string{"a.b.wild.example.com"}}, reason: certs.ReasonDNSNameMismatch},
		{name: "requested wildcard needs the wildcard SAN", now: inside, req: certs.Requirements{DNSNames: []string{"*.example.com"}}, reason: certs.ReasonDNSNameMismatch},
		{name: "requested wildcard present", now: inside, req: certs.Requirements{DNSNames: []string{"*.WILD.example.com"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := certs.Validate(b, tc.req, tc.now)
			if tc.reason == "" {
				if v != nil {
					t.Fatalf("unexpected violation %s: %s", v.Reason, v.Message)
				}
				return
			}
			if v == nil {
				t.Fatalf("no violation, want %s", tc.reason)
			}
			if v.Reason != tc.reason {
				t.Fatalf("reason = %s, want %s (%s)", v.Reason, tc.reason, v.Message)
			}
			if tc.message != "" && v.Message != tc.message {
				t.Errorf("message = %q\n      want %q", v.Message, tc.message)
			}
		})
	}
}

func TestValidateNilBundle(t *testing.T) {
	if v := certs.Validate(nil, certs.Requirements{}, time.Now()); v == nil || v.Reason != certs.ReasonNoCertificate {
		t.Errorf("Validate(nil) = %+v", v)
	}
}

func TestDNSNamesCovered(t *testing.T) {
	tests := []struct {
		sans  []string
		name  string
		match bool
	}{
		{[]string{"example.com"}, "example.com", true},
		{[]string{"Example.COM"}, "example.com", true},
		{[]string{"example.com"}, "EXAMPLE.com.", true},
		{[]string{"example.com"}, "www.example.com", false},
		{[]string{"*.example.com"}, "a.example.com", true},
		{[]string{"*.example.com"}, "A.EXAMPLE.COM", true},
		{[]string{"*.EXAMPLE.com"}, "a.example.com", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, "a.b.example.com", false},
		{[]string{"*.example.com"}, ".example.com", false},
		{[]string{"*.example.com"}, "*.example.com", true},
		{[]string{"*.Example.com"}, "*.example.COM", true},
		{[]string{"a.example.com"}, "*.example.com", false},
		{[]string{"*.b.example.com"}, "*.example.com", false},
		{[]string{"*"}, "example", false},
		{[]string{"*."}, "a.", false},
		{[]string{"*.*.example.com"}, "a.b.example.com", false},
		{[]string{"a*.example.com"}, "ab.example.com", false},
		{[]string{"*.example.com"}, "a*.example.com", false},
		{[]string{"example.com", "*.example.com"}, "x.example.com", true},
		{nil, "example.com", false},
		{[]string{"example.com"}, "", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%s", tc.sans, tc.name), func(t *testing.T) {
			b := &certs.Bundle{Leaf: &x509.Certificate{DNSNames: tc.sans}}
			reason, msg, violated := certs.DNSNamesCovered(b, certs.Requirements{DNSNames: []string{tc.name}}, time.Now())
			if violated == tc.match {
				t.Fatalf("violated = %v, want %v (%s)", violated, !tc.match, msg)
			}
			if violated && reason != certs.ReasonDNSNameMismatch {
				t.Errorf("reason = %s", reason)
			}
		})
	}
}

func TestDNSNameMismatchMessageIsBounded(t *testing.T) {
	names := make([]string, 500)
	for i := range names {
		names[i] = fmt.Sprintf("host-%03d.example.com", i)
	}
	b := &certs.Bundle{Leaf: &x509.Certificate{DNSNames: names}}
	_, msg, violated := certs.DNSNamesCovered(b, certs.Requirements{DNSNames: []string{"mail.example.com"}}, time.Now())
	if !violated {
		t.Fatal("not violated")
	}
	if !strings.Contains(msg, "(+490 more)") || len(msg) > 400 {
		t.Errorf("message not bounded: %q", msg)
	}

	cnOnly := &certs.Bundle{Leaf: &x509.Certificate{}}
	cnOnly.Leaf.Subject.CommonName = "mail.example.com"
	_, msg, _ = certs.DNSNamesCovered(cnOnly, certs.Requirements{DNSNames: []string{"mail.example.com"}}, time.Now())
	if !strings.Contains(msg, "CN is ignored") {
		t.Errorf("message does not explain the ignored CN: %q", msg)
	}
}

func TestDefaultChecksOrder(t *testing.T) {
	want := []string{certs.ReasonNotYetValid, certs.ReasonExpired, certs.ReasonExpiresTooSoon, certs.ReasonDNSNameMismatch}
	if len(certs.DefaultChecks) != len(want) {
		t.Fatalf("%d default checks, want %d", len(certs.DefaultChecks), len(want))
	}
	// A leaf that violates everything shows which check reports first.
	leaf := &x509.Certificate{NotBefore: notAfter, NotAfter: notBefore}
	b := &certs.Bundle{Leaf: leaf}
	req := certs.Requirements{DNSNames: []string{"x"}, MinRemainingValidity: time.Hour}
	nows := []time.Time{notBefore.Add(time.Hour), notAfter.Add(time.Hour), notAfter.Add(time.Hour), notAfter.Add(time.Hour)}
	for i, check := range certs.DefaultChecks {
		reason, _, violated := check(b, req, nows[i])
		if !violated || reason != want[i] {
			t.Errorf("check %d: reason %q violated %v, want %s", i, reason, violated, want[i])
		}
	}
}

func TestNewer(t *testing.T) {
	at := func(nb, na time.Time) *x509.Certificate { return &x509.Certificate{NotBefore: nb, NotAfter: na} }
	later := notBefore.Add(time.Hour)
	tests := []struct {
		name string
		a, b *x509.Certificate
		want bool
	}{
		{"later NotBefore", at(later, notAfter), at(notBefore, notAfter), true},
		{"later NotBefore but shorter", at(later, notAfter.Add(-24*time.Hour)), at(notBefore, notAfter), true},
		{"earlier NotBefore", at(notBefore, notAfter.Add(time.Hour)), at(later, notAfter), false},
		{"same NotBefore, later NotAfter", at(notBefore, notAfter.Add(time.Hour)), at(notBefore, notAfter), true},
		{"same NotBefore, earlier NotAfter", at(notBefore, notAfter), at(notBefore, notAfter.Add(time.Hour)), false},
		{"identical", at(notBefore, notAfter), at(notBefore, notAfter), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := certs.Newer(tc.a, tc.b); got != tc.want {
				t.Errorf("Newer = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFingerprintSerialDescribe(t *testing.T) {
	p := certstest.New(t,
		certstest.WithSerial(0xabc),
		certstest.WithCommonName("mail.example.com"),
		certstest.WithDNSNames("mail.example.com", "imap.example.com", "smtp.example.com", "pop.example.com", "www.example.com"),
		certstest.WithValidity(notBefore, notAfter))

	fp := certs.Fingerprint(p.Cert)
	if len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Errorf("Fingerprint = %q, want 64 lowercase hex digits", fp)
	}
	if other := certstest.New(t); certs.Fingerprint(other.Cert) == fp {
		t.Error("two certificates share a fingerprint")
	}
	if b := bundleFor(p); b.SHA256() != fp {
		t.Errorf("SHA256 = %s, want %s", b.SHA256(), fp)
	}

	for _, tc := range []struct {
		serial *big.Int
		want   string
	}{
		{big.NewInt(0xabc), "0abc"},
		{big.NewInt(0xABCD), "abcd"},
		{big.NewInt(1), "01"},
		{new(big.Int).Lsh(big.NewInt(0xff), 120), "ff" + strings.Repeat("0", 30)},
		{nil, ""},
	} {
		if got := certs.SerialHex(&x509.Certificate{SerialNumber: tc.serial}); got != tc.want {
			t.Errorf("SerialHex(%v) = %q, want %q", tc.serial, got, tc.want)
		}
	}
	if got := certs.SerialHex(p.Cert); got != "0abc" {
		t.Errorf("SerialHex = %q", got)
	}

	want := "CN=mail.example.com, serial 0abc, notAfter 2026-01-02T03:04:05Z, DNS mail.example.com, imap.example.com, smtp.example.com (+2 more)"
	if got := certs.Describe(p.Cert); got != want {
		t.Errorf("Describe = %q\n    want %q", got, want)
	}
	evil := &x509.Certificate{SerialNumber: big.NewInt(1)}
	evil.Subject.CommonName = "line1\nline2\x00"
	if got := certs.Describe(evil); strings.ContainsAny(got, "\n\x00") {
		t.Errorf("Describe is not one line: %q", got)
	}
}
