// Package consent holds the rules by which the writer of a Secret lets
// certsync release its values beyond the Secret: sent over the network to
// a host a CertSync or SecretSync names.
//
// The author of a CertSync or SecretSync is untrusted: being allowed to
// create one in a namespace does not mean being allowed to read that
// namespace's Secrets. certsync reads every Secret with its own rights, so
// without consent on the Secret itself it would send a ServiceAccount
// token, say, to any URL the author chooses. Only someone who can write the
// Secret can add the annotation.
package consent

import (
	"net/url"
	"strings"
)

// AnnotationAllowedHosts on a Secret lists the hosts its values may be sent
// to: comma-separated names, "*.example.com" for any name below
// example.com, or "*" for any host.
const AnnotationAllowedHosts = "certsync.io/allowed-hosts"

// ReasonCredentialNotReleased: a Secret's values were about to be sent to a
// host its allowed-hosts annotation does not name; nothing was sent.
const ReasonCredentialNotReleased = "CredentialNotReleased"

// HostAllowed reports whether annotations (of a Secret) allow its values to
// be sent to host (a URL's host name, without port).
func HostAllowed(annotations map[string]string, host string) bool {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	for _, item := range strings.Split(annotations[AnnotationAllowedHosts], ",") {
		item = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(item)), ".")
		switch {
		case item == "":
		case item == "*", item == host:
			return true
		case strings.HasPrefix(item, "*.") && len(host) > len(item)-1 && strings.HasSuffix(host, item[1:]):
			return true
		}
	}
	return false
}

// FirstDenied returns the host of the first of rawURLs (empty ones are
// skipped) that annotations do not allow, and false; or "", true when all
// are allowed. An unparsable URL is denied under its own text.
func FirstDenied(annotations map[string]string, rawURLs ...string) (string, bool) {
	for _, raw := range rawURLs {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return "an unparsable URL", false
		}
		if !HostAllowed(annotations, u.Hostname()) {
			return u.Hostname(), false
		}
	}
	return "", true
}
