package secretvalues

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"certsync.io/certsync/api/v1alpha1"
)

// Bounds of a Unix-seconds expiry. Below minUnix a number is not a date a
// secret expires at (a duration, a counter); above maxUnix it is most
// likely milliseconds.
const (
	minUnix = 1_000_000_000   // 2001-09-09
	maxUnix = 253_402_300_799 // 9999-12-31T23:59:59Z
	// maxExpiryLen bounds what is parsed: a date is short, and a long value
	// is a key named by mistake (possibly a secret, never echoed).
	maxExpiryLen = 64
)

// errNeverExpires marks the Unix time 0, which OAuth 2.0 dynamic client
// registration (RFC 7591, client_secret_expires_at) uses for "does not
// expire".
var errNeverExpires = errors.New("never expires")

// ParseExpiry reads an expiry date as RFC 3339 ("2027-01-01T00:00:00Z",
// fractions and offsets allowed) or Unix seconds ("1798761600"). "0" means
// the secret does not expire and yields the zero time. Surrounding
// whitespace (a trailing newline from `echo`) is ignored. Errors never
// quote the value.
func ParseExpiry(raw []byte) (time.Time, error) {
	t, err := parseExpiry(raw)
	if errors.Is(err, errNeverExpires) {
		return time.Time{}, nil
	}
	return t, err
}

func parseExpiry(raw []byte) (time.Time, error) {
	if len(raw) > maxExpiryLen {
		return time.Time{}, fmt.Errorf("%d bytes is too long for a date", len(raw))
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return time.Time{}, errors.New("empty")
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil || n > maxUnix:
			return time.Time{}, errors.New("a number too large for Unix seconds (milliseconds?)")
		case n == 0:
			return time.Time{}, errNeverExpires
		case n < minUnix:
			return time.Time{}, errors.New("a number too small for Unix seconds (a duration?)")
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("neither RFC 3339 (YYYY-MM-DDThh:mm:ssZ) nor Unix seconds")
	}
	return t.UTC(), nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// ExpiryOf reads a source's expiry as spec.expiry.from declares. A zero
// time means unknown, and note says why in words for status; an error means
// the declared place holds something that is not a date.
func ExpiryOf(m Material, from *v1alpha1.SecretSyncExpiryFrom) (notAfter time.Time, note string, err error) {
	var (
		raw   []byte
		found bool
		where string
	)
	switch {
	case from == nil || (from.Key == "" && from.Annotation == "" && from.NotAfter == nil):
		return time.Time{}, "no expiry known: spec.expiry.from is not set", nil
	case from.NotAfter != nil:
		t := from.NotAfter.UTC()
		return t, "expires at " + formatTime(t) + " (spec.expiry.from.notAfter)", nil
	case from.Key != "":
		where = fmt.Sprintf("key %q", from.Key)
		if raw, found, err = m.lookup(from.Key); err != nil {
			return time.Time{}, "", fmt.Errorf("expiry %s: %w", where, err)
		}
	default:
		where = fmt.Sprintf("annotation %q", from.Annotation)
		var v string
		v, found = m.Annotations[from.Annotation]
		raw = []byte(v)
	}
	if !found {
		return time.Time{}, "no expiry known: the source has no " + where, nil
	}
	t, err := parseExpiry(raw)
	switch {
	case errors.Is(err, errNeverExpires):
		return time.Time{}, "no expiry: " + where + " is 0 (does not expire)", nil
	case err != nil:
		return time.Time{}, "", fmt.Errorf("expiry %s holds %v", where, err)
	}
	return t, "expires at " + formatTime(t) + " (" + where + ")", nil
}
