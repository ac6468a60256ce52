package outputs

import (
	"fmt"
	"unicode/utf8"
)

// Reasons are stable CamelCase strings: they end up in Kubernetes conditions
// and events, and alerts may match on them.
const (
	ReasonInvalidBundle       = "InvalidBundle"
	ReasonUnknownFormat       = "UnknownOutputFormat"
	ReasonPasswordMissing     = "KeystorePasswordMissing"
	ReasonPasswordUnsupported = "KeystorePasswordUnsupported"
	ReasonUnsupportedKey      = "UnsupportedKeyForOutputFormat"
	ReasonEncodeFailed        = "OutputEncodeFailed"
)

// Error is what Data returns. Message says what to fix and never contains
// key material or the password: it is written into status, events and logs.
type Error struct{ Reason, Message string }

func (e *Error) Error() string { return e.Reason + ": " + e.Message }

func newError(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// printableASCII reports whether Java can open a PKCS#12 keystore
// protected with the password. Java derives PBES2 keys through PBEKey, which
// refuses anything outside printable ASCII (checked on Java 17: "Password is
// not ASCII"), a trailing newline from `echo pw > file` included. OpenSSL
// would cope, but a keystore the main consumer cannot open must fail here,
// at sync time, rather than in the workload after a rollout.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// latin1Only reports whether the password can protect a JKS keystore that
// Java opens. Java hashes each UTF-16 unit as two bytes (high, low);
// keystore-go hashes each byte it is given as (0, byte). The two agree only
// when every character is below U+0100 and is handed over as one byte, which
// latin1 does.
func latin1Only(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r > 0xFF {
			return false
		}
	}
	return true
}

// latin1 encodes a password that passed latin1Only, one byte per character.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		out = append(out, byte(r))
	}
	return out
}
