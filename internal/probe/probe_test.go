package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const testServerName = "mail.example.test"

func TestProbeServedCertificate(t *testing.T) {
	valid := newCert(t, certOpts{})
	expired := newCert(t, certOpts{notBefore: time.Now().Add(-60 * 24 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)})
	selfSigned := newCert(t, certOpts{selfSigned: true})

	tests := []struct {
		name      string
		proto     Protocol
		cert      testCert
		chainLen  int
		wantStale bool
	}{
		{"TLS", TLS, valid, 2, false},
		{"SMTP STARTTLS", SMTP, valid, 2, false},
		{"IMAP STARTTLS", IMAP, valid, 2, false},
		{"POP3 STLS", POP3, valid, 2, false},
		{"TLS expired", TLS, expired, 2, false},
		{"SMTP expired", SMTP, expired, 2, false},
		{"TLS self-signed", TLS, selfSigned, 1, false},
		{"IMAP self-signed", IMAP, selfSigned, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &mailServer{proto: tt.proto, cert: &tt.cert}
			target := listen(t, "127.0.0.1", srv)

			r := (&Prober{}).Probe(context.Background(), target, testServerName)

			if r.Err != nil {
				t.Fatalf("Probe: %v", r.Err)
			}
			want := Fingerprint(tt.cert.leaf)
			if r.SHA256 != want || !r.Leaf.Equal(tt.cert.leaf) {
				t.Fatalf("SHA256 = %s, want %s", r.SHA256, want)
			}
			if len(r.Chain) != tt.chainLen {
				t.Errorf("chain length = %d, want %d", len(r.Chain), tt.chainLen)
			}
			if r.Target != target || r.Duration <= 0 {
				t.Errorf("Target/Duration not recorded: %+v %v", r.Target, r.Duration)
			}
			if got := Classify(r, want); got != Verified {
				t.Errorf("Classify = %s, want Verified", got)
			}
			if got := srv.serverNames(); len(got) != 1 || got[0] != testServerName {
				t.Errorf("SNI = %q, want [%q]", got, testServerName)
			}
		})
	}
}

func TestProbeFailures(t *testing.T) {
	cert := newCert(t, certOpts{})
	tests := []struct {
		name    string
		srv     *mailServer
		timeout time.Duration
		wantErr string
		check   func(t *testing.T, err error)
	}{
		{
			name:    "SMTP server speaking IMAP",
			srv:     &mailServer{proto: SMTP, greeting: "* OK IMAP4rev1 ready"},
			wantErr: `SMTP greeting: not an SMTP reply: "* OK IMAP4rev1 ready"`,
		},
		{
			name:    "SMTP greeting 554",
			srv:     &mailServer{proto: SMTP, greeting: "554 5.3.2 no service for you"},
			wantErr: "SMTP server rejected the connection: 554 5.3.2 no service for you",
		},
		{
			name:    "IMAP BYE greeting",
			srv:     &mailServer{proto: IMAP, greeting: "* BYE too many connections"},
			wantErr: "IMAP server sent an unexpected greeting: * BYE too many connections",
		},
		{
			name:    "POP3 ERR greeting",
			srv:     &mailServer{proto: POP3, greeting: "-ERR go away"},
			wantErr: "POP3 server sent an unexpected greeting: -ERR go away",
		},
		{
			name:    "SMTP without STARTTLS",
			srv:     &mailServer{proto: SMTP, hideSTARTTLS: true, refuse: true},
			wantErr: "SMTP server did not offer STARTTLS: 502 5.5.1 command not implemented",
		},
		{
			name:    "SMTP offers but refuses STARTTLS",
			srv:     &mailServer{proto: SMTP, refuse: true},
			wantErr: "SMTP server refused STARTTLS: 502 5.5.1 command not implemented",
		},
		{
			name:    "IMAP refuses STARTTLS",
			srv:     &mailServer{proto: IMAP, refuse: true},
			wantErr: "IMAP server refused STARTTLS: a001 BAD STARTTLS not supported",
		},
		{
			name:    "POP3 refuses STLS",
			srv:     &mailServer{proto: POP3, refuse: true},
			wantErr: "POP3 server refused STLS: -ERR STLS not supported",
		},
		{
			name:    "SMTP line too long",
			srv:     &mailServer{proto: SMTP, raw: "220 " + strings.Repeat("x", 10000) + "\r\n"},
			wantErr: "SMTP greeting: server sent a line longer than 4096 bytes",
		},
		{
			name:    "SMTP line without end",
			srv:     &mailServer{proto: SMTP, raw: strings.Repeat("2", 5000)},
			wantErr: "SMTP greeting: server sent a line longer than 4096 bytes",
		},
		{
			name:    "SMTP endless multi-line greeting",
			srv:     &mailServer{proto: SMTP, raw: strings.Repeat("220-hello\r\n", 1000)},
			wantErr: "SMTP greeting: server sent more than 64 lines in one reply",
		},
		{
			name:    "IMAP line too long",
			srv:     &mailServer{proto: IMAP, raw: "* OK " + strings.Repeat("x", 5000) + "\r\n"},
			wantErr: "IMAP greeting: server sent a line longer than 4096 bytes",
		},
		{
			name:    "SMTP data injected after STARTTLS reply",
			srv:     &mailServer{proto: SMTP, afterUpgrade: "250 injected\r\n"},
			wantErr: "SMTP server sent 14 unexpected bytes after its STARTTLS reply",
		},
		{
			name:    "server hangs up during greeting",
			srv:     &mailServer{proto: POP3, raw: "+OK", hangUp: true},
			wantErr: "POP3 greeting: connection closed by server",
		},
		{
			name:    "greeting without line end",
			srv:     &mailServer{proto: POP3, raw: "+OK"},
			timeout: 300 * time.Millisecond,
			wantErr: "timeout after 300ms during POP3 greeting",
		},
		{
			name:    "silent SMTP server",
			srv:     &mailServer{proto: SMTP, silent: true},
			timeout: 300 * time.Millisecond,
			wantErr: "timeout after 300ms during SMTP greeting",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("errors.Is(err, os.ErrDeadlineExceeded) = false for %v", err)
				}
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("not a net.Error timeout: %v", err)
				}
			},
		},
		{
			name:    "silent TLS server",
			srv:     &mailServer{proto: TLS, silent: true},
			timeout: 300 * time.Millisecond,
			wantErr: "timeout after 300ms during TLS handshake",
		},
		{
			name:    "plaintext on a TLS port",
			srv:     &mailServer{proto: TLS, raw: "220 mail.example.test ESMTP\r\n"},
			wantErr: "TLS handshake: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.srv.cert = &cert
			target := listen(t, "127.0.0.1", tt.srv)

			r := (&Prober{Timeout: tt.timeout}).Probe(context.Background(), target, testServerName)

			if r.Err == nil {
				t.Fatalf("Probe succeeded, want error %q", tt.wantErr)
			}
			if !strings.HasPrefix(r.Err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want prefix %q", r.Err, tt.wantErr)
			}
			if r.Leaf != nil || r.SHA256 != "" {
				t.Errorf("failed probe recorded a certificate")
			}
			if got := Classify(r, Fingerprint(cert.leaf)); got != Unreachable {
				t.Errorf("Classify = %s, want Unreachable", got)
			}
			if tt.check != nil {
				tt.check(t, r.Err)
			}
		})
	}
}

func TestProbeConnectionRefused(t *testing.T) {
	target := closedPort(t)

	r := (&Prober{}).Probe(context.Background(), target, testServerName)

	if r.Err == nil || !strings.HasSuffix(r.Err.Error(), ": connection refused") ||
		!strings.HasPrefix(r.Err.Error(), "connect to 127.0.0.1:") {
		t.Fatalf("error = %v, want connect to ...: connection refused", r.Err)
	}
	if !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false")
	}
	if got := Classify(r, "abc"); got != Unreachable {
		t.Errorf("Classify = %s, want Unreachable", got)
	}
}

func TestProbeRejectsBadTargets(t *testing.T) {
	for _, tt := range []struct {
		target  Target
		wantErr string
	}{
		{Target{IP: "127.0.0.1", Endpoint: Endpoint{Port: 1, Protocol: "LDAP"}}, `unsupported protocol "LDAP"`},
		{Target{Endpoint: Endpoint{Port: 1, Protocol: TLS}}, "pod has no IP"},
	} {
		r := (&Prober{}).Probe(context.Background(), tt.target, "")
		if r.Err == nil || r.Err.Error() != tt.wantErr {
			t.Errorf("Probe(%+v) error = %v, want %q", tt.target, r.Err, tt.wantErr)
		}
	}
}

func TestProbeParentCancel(t *testing.T) {
	target := listen(t, "127.0.0.1", &mailServer{proto: IMAP, silent: true})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)

	r := (&Prober{Timeout: time.Minute}).Probe(ctx, target, testServerName)

	if r.Err == nil || !strings.HasPrefix(r.Err.Error(), "probe cancelled during IMAP greeting") {
		t.Fatalf("error = %v, want probe cancelled during IMAP greeting", r.Err)
	}
}

func TestProbeUsesDialOverride(t *testing.T) {
	cert := newCert(t, certOpts{})
	target := listen(t, "127.0.0.1", &mailServer{proto: TLS, cert: &cert})
	var dialed atomic.Int32
	p := &Prober{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}

	if r := p.Probe(context.Background(), target, ""); r.Err != nil {
		t.Fatal(r.Err)
	}
	if dialed.Load() != 1 {
		t.Errorf("Dial called %d times, want 1", dialed.Load())
	}
}

func TestProbeAllKeepsOrder(t *testing.T) {
	certA := newCert(t, certOpts{})
	certB := newCert(t, certOpts{selfSigned: true})
	targets := []Target{
		listen(t, "127.0.0.1", &mailServer{proto: TLS, cert: &certA}),
		closedPort(t),
		listen(t, "127.0.0.1", &mailServer{proto: SMTP, cert: &certB}),
		listen(t, "127.0.0.1", &mailServer{proto: IMAP, cert: &certA}),
		listen(t, "127.0.0.1", &mailServer{proto: POP3, silent: true}),
		listen(t, "127.0.0.1", &mailServer{proto: POP3, cert: &certB}),
	}
	want := Fingerprint(certA.leaf)
	wantStates := []State{Verified, Unreachable, Stale, Verified, Unreachable, Stale}

	results := (&Prober{Concurrency: 2, Timeout: 500 * time.Millisecond}).ProbeAll(context.Background(), targets, testServerName)

	if len(results) != len(targets) {
		t.Fatalf("got %d results, want %d", len(results), len(targets))
	}
	for i, r := range results {
		if r.Target != targets[i] {
			t.Errorf("result %d is for %+v, want %+v", i, r.Target, targets[i])
		}
		if got := Classify(r, want); got != wantStates[i] {
			t.Errorf("result %d: state %s, want %s (err %v)", i, got, wantStates[i], r.Err)
		}
	}
	if got := (&Prober{}).ProbeAll(context.Background(), nil, ""); len(got) != 0 {
		t.Errorf("ProbeAll(nil) = %v", got)
	}
}
