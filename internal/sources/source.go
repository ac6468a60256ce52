// Package sources reads candidate certificates from the places a CertSync
// declares. A source only fetches material; parsing and validation live in
// internal/certs, so every source kind is distrusted in the same way.
package sources

import (
	"fmt"

	"certsync.io/certsync/internal/nsguard"
)

// Reasons a source can fail for. Stable CamelCase: they appear in status.
const (
	ReasonNotFound     = "NotFound"
	ReasonNotPermitted = "NotPermitted"
	ReasonMissingKey   = "MissingKey"
	ReasonForbidden    = "Forbidden"
	ReasonAPIError     = "APIError"
	// ReasonNamespaceNotWatched: the source lives in a namespace outside --watch-namespaces.
	ReasonNamespaceNotWatched = nsguard.Reason
)

// Material is what a source yielded, unparsed.
type Material struct {
	CertPEM []byte
	KeyPEM  []byte
	CAPEM   []byte
}

// Error says why a source yielded nothing. Transient errors may go away by
// retrying; the others wait for a change of the source (which a watch reports).
type Error struct {
	Reason    string
	Message   string
	Transient bool
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Message) }
