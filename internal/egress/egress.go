// Package egress decides which network addresses certsync may connect to
// when a tenant chooses the URL: HTTPS sources and OAuth2 token endpoints.
//
// A tenant who may create CertSyncs or SecretSyncs in one namespace must not
// turn the operator into a proxy into the cluster network or the cloud
// metadata service. The check runs on the address actually dialed (a
// net.Dialer Control function), after DNS resolution, so a name that
// resolves to an allowed address for a first lookup and to a denied one for
// the next (DNS rebinding) gains nothing. Host allow-lists are checked on
// the URL's host before any request, since a proxy resolves the name itself.
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ReasonEgressDenied is the condition reason for a destination the egress
// policy refuses.
const ReasonEgressDenied = "EgressDenied"

// DefaultDeniedPrefixes are refused whatever the flags say: link-local
// networks (where every cloud's metadata service lives, including
// 169.254.169.254 and AWS's fd00:ec2::254 for IPv6), the unspecified and
// multicast ranges, and the metadata addresses outside link-local that
// some clouds use.
var DefaultDeniedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS IMDS over IPv6
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("255.255.255.255/32"),
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Policy is the operator's egress policy. The zero value denies the default
// prefixes and loopback and allows every other address and host.
type Policy struct {
	// AllowHosts, when not empty, lists the only hosts URLs may name:
	// exact names ("vault.example.com"), "*.example.com" for any name
	// below example.com, or IP addresses. Compared case-insensitively.
	AllowHosts []string
	// DenyPrefixes are refused in addition to DefaultDeniedPrefixes
	// (typically the cluster's pod and service networks).
	DenyPrefixes []netip.Prefix
	// AllowLoopback permits 127.0.0.0/8 and ::1: only for local tests and
	// development, since on a node it reaches the node's own services.
	AllowLoopback bool
}

// DeniedError is a destination the policy refuses. Its text names the host
// as configured by the tenant, never the address it resolved to (which
// would map the cluster network for them).
type DeniedError struct {
	Host string
	why  string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("egress to %s is denied by the operator's egress policy (%s)", e.Host, e.why)
}

// IsDenied reports whether err is, or wraps, a *DeniedError.
func IsDenied(err error) bool {
	var d *DeniedError
	return errors.As(err, &d)
}

// CheckHost checks the host of a URL (name or IP literal, without port)
// before a request: the allow-list, and for an IP literal the denied
// networks.
func (p *Policy) CheckHost(host string) error {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if len(p.AllowHosts) > 0 && !p.hostAllowed(host) {
		return &DeniedError{Host: host, why: "the host is not in the allowed hosts"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := p.addrDenied(ip); why != "" {
			return &DeniedError{Host: host, why: why}
		}
	}
	return nil
}

func (p *Policy) hostAllowed(host string) bool {
	for _, a := range p.AllowHosts {
		a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), ".")
		switch {
		case a == host:
			return true
		case strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]) && len(host) > len(a)-1:
			return true
		}
	}
	return false
}

// addrDenied says why ip is denied, or "" if it is not.
func (p *Policy) addrDenied(ip netip.Addr) string {
	ip = ip.Unmap() // ::ffff:169.254.169.254 is 169.254.169.254
	if ip.Zone() != "" {
		ip = ip.WithZone("")
	}
	if !p.AllowLoopback {
		for _, pre := range loopback {
			if pre.Contains(ip) {
				return "loopback addresses are not allowed"
			}
		}
	}
	for _, pre := range DefaultDeniedPrefixes {
		if pre.Contains(ip) {
			return "link-local, metadata and special addresses are never allowed"
		}
	}
	for _, pre := range p.DenyPrefixes {
		if pre.Contains(ip) {
			return "the address is in a denied network"
		}
	}
	return ""
}

// Control is a net.Dialer Control function: it runs after name resolution,
// on the address about to be connected, for every connection including
// those of redirects and retries.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &DeniedError{Host: "an unparsable address", why: "the address cannot be checked"}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &DeniedError{Host: "an unparsable address", why: "the address cannot be checked"}
	}
	if why := p.addrDenied(ip); why != "" {
		return &DeniedError{Host: "the resolved address", why: why}
	}
	return nil
}

// Dialer returns a dialer that enforces the policy on every connection.
func (p *Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}

// DialContext is Dialer(30s).DialContext, for an http.Transport. A denied
// connection fails with the bare *DeniedError: the *net.OpError around it
// would name the resolved address.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	conn, err := p.Dialer(30*time.Second).DialContext(ctx, network, address)
	var d *DeniedError
	if errors.As(err, &d) {
		return nil, d
	}
	return conn, err
}

// ParsePrefixes parses a comma-separated list of CIDRs or addresses (an
// address is its own /32 or /128), as the --egress-deny-cidrs flag takes.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if pre, err := netip.ParsePrefix(f); err == nil {
			if pre.Addr().Is4In6() && pre.Bits() >= 96 {
				// compared with unmapped addresses
				pre = netip.PrefixFrom(pre.Addr().Unmap(), pre.Bits()-96)
			}
			out = append(out, pre.Masked())
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", f)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// ParseHosts splits a comma-separated host list, as --egress-allow-hosts
// takes.
func ParseHosts(list string) []string {
	var out []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// FailureClass names the class of a failed connection. The error's own text
// is not shown: it carries the resolved address and port, and echoed to a
// tenant it maps the cluster network for them.
func FailureClass(err error) string {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return "the host name does not resolve (DNSNotFound)"
	case errors.As(err, &dns):
		return "the host name cannot be resolved now (DNSFailed)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused (DialRefused)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed by the endpoint (ConnectionReset)"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to the endpoint (NetworkUnreachable)"
	}
	return "the connection failed (ConnectionFailed)"
}
