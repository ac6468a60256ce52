package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheckHost(t *testing.T) {
	internal := []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}
	for _, tc := range []struct {
		name   string
		policy Policy
		host   string
		denied bool
	}{
		{"a public name, no policy", Policy{}, "vault.example.com", false},
		{"metadata IPv4", Policy{AllowLoopback: true}, "169.254.169.254", true},
		{"metadata IPv4-mapped IPv6", Policy{}, "[::ffff:169.254.169.254]", true},
		{"AWS IMDS IPv6", Policy{}, "fd00:ec2::254", true},
		{"IPv6 link-local", Policy{}, "fe80::1", true},
		{"Alibaba metadata", Policy{}, "100.100.100.200", true},
		{"unspecified", Policy{}, "0.0.0.0", true},
		{"loopback by default", Policy{}, "127.0.0.1", true},
		{"IPv6 loopback by default", Policy{}, "::1", true},
		{"loopback when allowed", Policy{AllowLoopback: true}, "127.0.0.1", false},
		{"denied CIDR", Policy{DenyPrefixes: internal}, "10.96.0.1", true},
		{"outside denied CIDR", Policy{DenyPrefixes: internal}, "10.0.0.1", false},
		{"allow-listed exact", Policy{AllowHosts: []string{"Vault.Example.com"}}, "vault.example.com.", false},
		{"allow-listed wildcard", Policy{AllowHosts: []string{"*.example.com"}}, "a.b.example.com", false},
		{"wildcard is not the apex", Policy{AllowHosts: []string{"*.example.com"}}, "example.com", true},
		{"wildcard is not a suffix trick", Policy{AllowHosts: []string{"*.example.com"}}, "evilexample.com", true},
		{"not allow-listed", Policy{AllowHosts: []string{"vault.example.com"}}, "kubernetes.default.svc", true},
		{"allow-listed IP still checked", Policy{AllowHosts: []string{"169.254.169.254"}}, "169.254.169.254", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.CheckHost(strings.Trim(tc.host, "[]"))
			if (err != nil) != tc.denied || (err != nil && !IsDenied(err)) {
				t.Fatalf("CheckHost(%s) = %v, want denied=%v", tc.host, err, tc.denied)
			}
		})
	}
}

// The check runs on the resolved address: a name that resolves to a denied
// address is refused at dial time, whatever the URL said.
func TestDialChecksTheResolvedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := &Policy{AllowHosts: []string{"localhost"}}
	if err := p.CheckHost("localhost"); err != nil {
		t.Fatalf("the name itself is allowed: %v", err)
	}
	_, err = p.DialContext(ctx, "tcp4", net.JoinHostPort("localhost", port))
	var d *DeniedError
	if !errors.As(err, &d) {
		t.Fatalf("dialing localhost (loopback not allowed): got %v, want a DeniedError", err)
	}
	if strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("the error names the resolved address: %v", err)
	}

	p.AllowLoopback = true
	conn, err := p.DialContext(ctx, "tcp4", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("dialing localhost with loopback allowed: %v", err)
	}
	conn.Close()
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 10.96.0.0/12, 10.244.1.7 ,::ffff:192.168.0.0/112,fd00::/8,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.96.0.0/12", "10.244.1.7/32", "192.168.0.0/16", "fd00::/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d: got %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/8,not-a-cidr"); err == nil {
		t.Error("an invalid entry was accepted")
	}
}

func TestFailureClass(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x.svc", IsNotFound: true}}, "DNSNotFound"},
		{&net.OpError{Op: "dial", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 6443}, Err: syscall.ECONNREFUSED}, "DialRefused"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "ConnectionReset"},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, "NetworkUnreachable"},
		{errors.New("dial tcp 10.1.2.3:6443: something new"), "ConnectionFailed"},
	} {
		got := FailureClass(tc.err)
		if !strings.Contains(got, tc.want) || strings.Contains(got, "10.1.2.3") || strings.Contains(got, "6443") {
			t.Errorf("FailureClass(%v) = %q, want the class %s and no address", tc.err, got, tc.want)
		}
	}
}
