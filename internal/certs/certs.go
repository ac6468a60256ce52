// Package certs parses, validates, compares and fingerprints TLS certificate
// bundles. It is pure logic: no Kubernetes, no I/O, no clock of its own (the
// caller passes "now"), so every decision certsync takes about a certificate
// can be tested alone.
//
// Every error and violation carries a stable CamelCase reason (it ends up in
// Kubernetes conditions and events) and a message meant for the person who
// has to fix the input. Messages never contain key material or raw input
// bytes, because they are written into status, events and logs.
package certs

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// MaxInputSize caps each PEM input before parsing (PEM bombs). 1 MiB:
// generous enough for a chain with many SANs.
const MaxInputSize = 1 << 20

// Reasons are stable: they appear in Kubernetes conditions and events, and
// alerts may match on them.
const (
	ReasonEmpty           = "Empty"    // no data at all
	ReasonTooLarge        = "TooLarge" // larger than MaxInputSize
	ReasonNotPEM          = "NotPEM"   // no PEM block found
	ReasonParseError      = "ParseError"
	ReasonNoCertificate   = "NoCertificate"
	ReasonNoPrivateKey    = "NoPrivateKey"
	ReasonKeyParseError   = "KeyParseError"
	ReasonUnsupportedKey  = "UnsupportedKey"
	ReasonKeyMismatch     = "KeyMismatch"
	ReasonChainInvalid    = "ChainInvalid" // chain cert i+1 did not sign cert i (leaf first)
	ReasonNotYetValid     = "NotYetValid"
	ReasonExpired         = "Expired"
	ReasonExpiresTooSoon  = "ExpiresTooSoon" // inside Requirements.MinRemainingValidity
	ReasonDNSNameMismatch = "DNSNameMismatch"
)

// Error is returned by ParseBundle and ParseCertificates. Reason is one of
// the Reason constants; Message is human-actionable and never contains key
// material or raw input bytes.
type Error struct{ Reason, Message string }

func (e *Error) Error() string { return e.Reason + ": " + e.Message }

func newError(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Bundle is a parsed and internally consistent certificate, key and chain.
type Bundle struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate // certificates after the leaf, in the given order
	Key   crypto.Signer       // *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey
	CA    []*x509.Certificate // from caPEM (may be empty)

	// The canonical encodings are what certsync writes to targets. They are a
	// pure function of the parsed DER, so an unchanged certificate always
	// produces byte-identical Secret data and no spurious update or restart.
	CertPEM []byte // leaf then chain, CERTIFICATE blocks, LF line endings, nothing else
	KeyPEM  []byte // the key block with its original type, without headers or other blocks
	CAPEM   []byte // CA certificates, nil when none
}

// SHA256 is the leaf's fingerprint, the identity certsync uses for the
// certificate everywhere (status, rollout annotations, verification).
func (b *Bundle) SHA256() string { return Fingerprint(b.Leaf) }

// Fingerprint is the lowercase hex SHA-256 of cert.Raw.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// SerialHex is the serial number in lowercase hex, colon-free. It is padded
// to an even number of digits so it matches `openssl x509 -serial` output
// (apart from case), which is what people compare it against.
func SerialHex(cert *x509.Certificate) string {
	if cert == nil || cert.SerialNumber == nil {
		return ""
	}
	digits, sign := cert.SerialNumber.Text(16), ""
	if rest, ok := strings.CutPrefix(digits, "-"); ok {
		digits, sign = rest, "-"
	}
	if len(digits)%2 == 1 {
		digits = "0" + digits
	}
	return sign + digits
}

// Newer reports whether a is newer than b: later NotBefore, then later
// NotAfter. NotBefore comes first because it is when the certificate was
// issued: a re-issued certificate with a shorter lifetime is still the newer
// one and must not be treated as a downgrade.
func Newer(a, b *x509.Certificate) bool {
	if !a.NotBefore.Equal(b.NotBefore) {
		return a.NotBefore.After(b.NotBefore)
	}
	return a.NotAfter.After(b.NotAfter)
}

// describeDNSLimit bounds Describe and violation messages: a certificate may
// carry hundreds of SANs, and conditions should stay readable.
const describeDNSLimit = 3

// Describe returns a one-line human description with no key material:
// subject CN, serial, notAfter (RFC3339) and the first DNS names.
func Describe(cert *x509.Certificate) string {
	if cert == nil {
		return "<no certificate>"
	}
	cn := cert.Subject.CommonName
	if cn == "" {
		cn = "(none)"
	}
	s := fmt.Sprintf("CN=%s, serial %s, notAfter %s", OneLine(cn), SerialHex(cert), formatTime(cert.NotAfter))
	if len(cert.DNSNames) > 0 {
		s += ", DNS " + listNames(cert.DNSNames, describeDNSLimit)
	}
	return s
}

// listNames joins at most limit names and says how many were left out.
func listNames(names []string, limit int) string {
	shown := names
	if len(shown) > limit {
		shown = shown[:limit]
	}
	clean := make([]string, len(shown))
	for i, n := range shown {
		clean[i] = OneLine(n)
	}
	s := strings.Join(clean, ", ")
	if extra := len(names) - len(shown); extra > 0 {
		s += fmt.Sprintf(" (+%d more)", extra)
	}
	return s
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// humanDuration renders a duration the way people read expiry: "3d",
// "5h30m", "12m", "45s". Precision beyond two units is noise in a condition.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	day := 24 * time.Hour
	switch {
	case d >= day:
		days, hours := d/day, (d%day)/time.Hour
		if hours == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, hours)
	case d >= time.Hour:
		hours, mins := d/time.Hour, (d%time.Hour)/time.Minute
		if mins == 0 {
			return fmt.Sprintf("%dh", hours)
		}
		return fmt.Sprintf("%dh%dm", hours, mins)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

// OneLine makes untrusted text (certificate fields, library error strings)
// safe for a single-line condition message: control characters and invalid
// UTF-8 are escaped and the length is capped.
func OneLine(s string) string {
	const maxLen = 200
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxLen {
			b.WriteString("...")
			break
		}
		switch {
		case r == 0xFFFD: // invalid UTF-8 decodes to RuneError
			b.WriteString(`\ufffd`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// validationReasons are the reasons for material that was fetched and then
// refused, as opposed to a source that yielded nothing.
var validationReasons = map[string]bool{
	ReasonEmpty: true, ReasonTooLarge: true, ReasonNotPEM: true, ReasonParseError: true,
	ReasonNoCertificate: true, ReasonNoPrivateKey: true, ReasonKeyParseError: true,
	ReasonUnsupportedKey: true, ReasonKeyMismatch: true, ReasonChainInvalid: true,
	ReasonNotYetValid: true, ReasonExpired: true, ReasonExpiresTooSoon: true,
	ReasonDNSNameMismatch: true,
}

// IsValidationReason reports whether reason says the material itself was
// refused (parsing or a validation rule), not that it could not be fetched.
func IsValidationReason(reason string) bool { return validationReasons[reason] }
