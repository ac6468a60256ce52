package certs

import (
	"strings"
	"time"
)

// Requirements for Validate.
type Requirements struct {
	// DNSNames must each be covered by a DNS SAN of the leaf. A wildcard SAN
	// "*.example.com" covers exactly one left-most label: "a.example.com",
	// but neither "example.com" nor "a.b.example.com". Matching is
	// case-insensitive. A requested wildcard is covered only by the identical
	// wildcard SAN, since a set of concrete names cannot stand in for it.
	DNSNames []string
	// MinRemainingValidity rejects certificates that expire within this
	// duration of now; 0 disables the check.
	MinRemainingValidity time.Duration
}

// Violation is one failed rule.
type Violation struct{ Reason, Message string }

// Check is one rule, in the style of cert-manager's policy chain: a small
// function that reports whether the bundle violates it and, if so, why.
// Checks only look at b.Leaf; chain certificates are deliberately not
// required to be within their validity, because widely deployed chains carry
// expired cross-signs for old clients (e.g. Let's Encrypt's DST Root CA X3).
type Check func(b *Bundle, req Requirements, now time.Time) (reason, message string, violated bool)

// DefaultChecks are run by Validate in order. Validity comes before names so
// an expired certificate is reported as expired, the more urgent problem.
var DefaultChecks = []Check{NotYetValid, Expired, ExpiresTooSoon, DNSNamesCovered}

// Validate runs DefaultChecks in order and returns the first violation, or
// nil if the bundle satisfies req at now.
func Validate(b *Bundle, req Requirements, now time.Time) *Violation {
	if b == nil || b.Leaf == nil {
		return &Violation{Reason: ReasonNoCertificate, Message: "no certificate to validate"}
	}
	for _, check := range DefaultChecks {
		if reason, message, violated := check(b, req, now); violated {
			return &Violation{Reason: reason, Message: message}
		}
	}
	return nil
}

// NotYetValid is violated before the leaf's NotBefore. Usually the issuer's
// or this machine's clock is off, or a certificate was issued for the future.
func NotYetValid(b *Bundle, _ Requirements, now time.Time) (string, string, bool) {
	nb := b.Leaf.NotBefore
	if !now.Before(nb) {
		return "", "", false
	}
	return ReasonNotYetValid, "certificate is not valid until " + formatTime(nb) +
		"; check the issuer's clock or wait", true
}

// Expired is violated after the leaf's NotAfter (NotAfter itself is still
// valid, as in RFC 5280).
func Expired(b *Bundle, _ Requirements, now time.Time) (string, string, bool) {
	na := b.Leaf.NotAfter
	if !now.After(na) {
		return "", "", false
	}
	return ReasonExpired, "certificate expired at " + formatTime(na), true
}

// ExpiresTooSoon is violated when less than req.MinRemainingValidity is left,
// so a source that keeps handing out a nearly expired certificate is noticed
// while there is still time to renew.
func ExpiresTooSoon(b *Bundle, req Requirements, now time.Time) (string, string, bool) {
	if req.MinRemainingValidity <= 0 {
		return "", "", false
	}
	na := b.Leaf.NotAfter
	left := na.Sub(now)
	if left >= req.MinRemainingValidity {
		return "", "", false
	}
	return ReasonExpiresTooSoon, "certificate expires at " + formatTime(na) +
		", less than the required remaining validity of " + humanDuration(req.MinRemainingValidity), true
}

// sanListLimit keeps a DNSNameMismatch message readable for certificates
// with hundreds of SANs.
const sanListLimit = 10

// DNSNamesCovered is violated by the first requested name that no DNS SAN of
// the leaf covers. The subject CN is ignored, as modern TLS clients do.
func DNSNamesCovered(b *Bundle, req Requirements, _ time.Time) (string, string, bool) {
	for _, name := range req.DNSNames {
		if covers(b.Leaf.DNSNames, name) {
			continue
		}
		sans := "none"
		if len(b.Leaf.DNSNames) > 0 {
			sans = listNames(b.Leaf.DNSNames, sanListLimit)
		} else if b.Leaf.Subject.CommonName != "" {
			sans = "none; the subject CN is ignored by TLS clients"
		}
		return ReasonDNSNameMismatch, "certificate does not cover DNS name \"" + OneLine(name) + "\" (SANs: " + sans + ")", true
	}
	return "", "", false
}

// covers reports whether any of the DNS SANs covers name, with the rules
// documented on Requirements.DNSNames. A trailing dot (fully qualified form)
// is ignored on both sides.
func covers(sans []string, name string) bool {
	name = normalizeDNSName(name)
	if name == "" {
		return false
	}
	for _, san := range sans {
		san = normalizeDNSName(san)
		if san == "" {
			continue
		}
		if san == name {
			return true
		}
		if strings.Contains(name, "*") {
			continue // a requested wildcard needs the identical SAN
		}
		suffix, ok := strings.CutPrefix(san, "*.")
		if !ok || suffix == "" || strings.Contains(suffix, "*") {
			continue
		}
		label, rest, ok := strings.Cut(name, ".")
		if ok && label != "" && rest == suffix {
			return true
		}
	}
	return false
}

func normalizeDNSName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}
