package probe

import "strings"

// Protocol is how a TLS session is started on an endpoint: directly, or by
// the STARTTLS command of a plaintext mail protocol.
type Protocol string

const (
	// TLS starts the handshake right after connecting (HTTPS, SMTPS, IMAPS, POP3S, LDAPS).
	TLS Protocol = "TLS"
	// SMTP upgrades with EHLO + STARTTLS (RFC 3207).
	SMTP Protocol = "SMTP"
	// IMAP upgrades with the STARTTLS command (RFC 2595).
	IMAP Protocol = "IMAP"
	// POP3 upgrades with the STLS command (RFC 2595).
	POP3 Protocol = "POP3"
)

// Endpoint is one port of a pod and how to reach its TLS session.
type Endpoint struct {
	Port     int32
	Protocol Protocol
}

// wellKnownPorts are the IANA-assigned ports whose protocol is unambiguous.
var wellKnownPorts = map[int32]Protocol{
	443:  TLS, // https
	465:  TLS, // submissions (implicit TLS, RFC 8314)
	636:  TLS, // ldaps
	993:  TLS, // imaps
	995:  TLS, // pop3s
	8443: TLS, // https-alt, the usual unprivileged HTTPS port
	25:   SMTP,
	587:  SMTP, // submission
	143:  IMAP,
	110:  POP3,
}

// serviceNames are IANA service names as used in container port names; they
// let pods on unprivileged ports (1025 "smtp", 1993 "imaps") be probed.
var serviceNames = map[string]Protocol{
	"https":       TLS,
	"smtps":       TLS,
	"submissions": TLS,
	"ldaps":       TLS,
	"imaps":       TLS,
	"pop3s":       TLS,
	"smtp":        SMTP,
	"submission":  SMTP,
	"imap":        IMAP,
	"pop3":        POP3,
}

// ProtocolFor maps a container port to the protocol to probe it with: by its
// well-known number first, then by its name (IANA service name, any case).
// ok is false when neither is known, i.e. the port is not a TLS endpoint we
// can identify and should not be probed.
func ProtocolFor(port int32, name string) (Protocol, bool) {
	if p, ok := wellKnownPorts[port]; ok {
		return p, true
	}
	p, ok := serviceNames[strings.ToLower(name)]
	return p, ok
}
