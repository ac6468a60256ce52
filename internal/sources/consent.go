package sources

import "strings"

// NamespaceAllowed reports whether a Secret whose
// certsync.io/allowed-namespaces annotation is annotation may be read by a
// CertSync in namespace ns. Without this consent anyone allowed to create a
// CertSync could copy any Secret of the cluster into their namespace through
// the operator's cluster-wide read access.
func NamespaceAllowed(annotation, ns string) bool {
	for _, item := range strings.Split(annotation, ",") {
		item = strings.TrimSpace(item)
		if item == "*" || (item != "" && item == ns) {
			return true
		}
	}
	return false
}
