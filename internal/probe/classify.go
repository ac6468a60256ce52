package probe

import "strings"

// State is what a probe result means for the desired certificate.
type State string

const (
	// Verified: the pod serves the desired certificate.
	Verified State = "Verified"
	// Stale: the pod answered with a different certificate.
	Stale State = "Stale"
	// Unreachable: no certificate could be obtained (connection or protocol failure).
	Unreachable State = "Unreachable"
)

// Classify compares a result with the desired leaf fingerprint. The wanted
// fingerprint may be given in any case and with or without colons (as
// openssl prints it); an empty one matches nothing, so every reachable pod is
// Stale rather than vacuously Verified.
func Classify(r Result, wantSHA256 string) State {
	if r.Err != nil || r.Leaf == nil {
		return Unreachable
	}
	want := normalizeFingerprint(wantSHA256)
	if want != "" && normalizeFingerprint(r.SHA256) == want {
		return Verified
	}
	return Stale
}

func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}
