package mailsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"certsync.io/certsync/internal/probe"
)

// serveSpec runs serveConn for spec on a fresh loopback port, without a
// cluster, and returns the probe target for it.
func serveSpec(t *testing.T, spec listenSpec, cert testCert) probe.Target {
	t.Helper()
	sc, err := parseCert(cert.certPEM, cert.keyPEM, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{*sc.pair}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveConn(c, spec, cfg, "mail-0.mailsim") })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	return probe.Target{Pod: "mail-0", IP: "127.0.0.1", Endpoint: probe.Endpoint{Port: port, Protocol: spec.endpoint.Protocol}}
}

func TestSessionsServeCertificate(t *testing.T) {
	cert := newTestCert(t, "mail.example.test")
	for _, spec := range []listenSpec{
		{endpoint: probe.Endpoint{Protocol: probe.SMTP}},
		{endpoint: probe.Endpoint{Protocol: probe.IMAP}},
		{endpoint: probe.Endpoint{Protocol: probe.POP3}},
		{endpoint: probe.Endpoint{Protocol: probe.TLS}},
		{endpoint: probe.Endpoint{Protocol: probe.TLS}, inner: probe.IMAP},
		{endpoint: probe.Endpoint{Protocol: probe.TLS}, inner: probe.POP3},
		{endpoint: probe.Endpoint{Protocol: probe.TLS}, inner: probe.SMTP},
	} {
		t.Run(string(spec.endpoint.Protocol)+"/"+string(spec.inner), func(t *testing.T) {
			target := serveSpec(t, spec, cert)
			r := (&probe.Prober{Timeout: 5 * time.Second}).Probe(context.Background(), target, "mail.example.test")
			if r.Err != nil || r.SHA256 != cert.sha256 {
				t.Fatalf("probe: sha256 %s err %v; want %s", r.SHA256, r.Err, cert.sha256)
			}
		})
	}
}

// step is one exchange of a scripted client conversation: each step sends a line (if any)
// and expects the server's next lines to start with the given prefixes.
type step struct {
	send   string
	expect []string
	tls    bool // upgrade the connection after this step
}

func runDialog(t *testing.T, target probe.Target, implicitTLS bool, steps []step) {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort(target.IP, strconv.Itoa(int(target.Endpoint.Port))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var conn net.Conn = c
	upgrade := func() {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test client, self-signed server
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		conn = tc
	}
	if implicitTLS {
		upgrade()
	}
	r := bufio.NewReader(conn)
	for _, st := range steps {
		if st.send != "" {
			if _, err := conn.Write([]byte(st.send + "\r\n")); err != nil {
				t.Fatalf("send %q: %v", st.send, err)
			}
		}
		for _, want := range st.expect {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: want %q, got error %v", st.send, want, err)
			}
			if !strings.HasPrefix(line, want) {
				t.Fatalf("after %q: got %q, want prefix %q", st.send, line, want)
			}
		}
		if st.tls {
			upgrade()
			r = bufio.NewReader(conn)
		}
	}
	// Polite goodbyes end the session: the server hangs up.
	if line, err := r.ReadString('\n'); err == nil {
		t.Fatalf("server kept talking after goodbye: %q", line)
	}
}

func TestSessionsDialogs(t *testing.T) {
	cert := newTestCert(t, "mail.example.test")
	smtp := listenSpec{endpoint: probe.Endpoint{Protocol: probe.SMTP}}
	imap := listenSpec{endpoint: probe.Endpoint{Protocol: probe.IMAP}}
	pop3 := listenSpec{endpoint: probe.Endpoint{Protocol: probe.POP3}}
	imaps := listenSpec{endpoint: probe.Endpoint{Protocol: probe.TLS}, inner: probe.IMAP}
	tests := []struct {
		name        string
		spec        listenSpec
		implicitTLS bool
		steps       []step
	}{
		{"SMTP STARTTLS then QUIT", smtp, false, []step{
			{expect: []string{"220 mail-0.mailsim ESMTP"}},
			{send: "EHLO client", expect: []string{"250-mail-0.mailsim", "250-PIPELINING", "250-SIZE", "250-STARTTLS", "250 8BITMIME"}},
			{send: "STARTTLS", expect: []string{"220 2.0.0"}, tls: true},
			{send: "EHLO client", expect: []string{"250-mail-0.mailsim", "250-PIPELINING", "250-SIZE", "250 8BITMIME"}},
			{send: "STARTTLS", expect: []string{"554 5.5.1"}},
			{send: "MAIL FROM:<a@example.test>", expect: []string{"502 5.5.2"}},
			{send: "QUIT", expect: []string{"221 2.0.0"}},
		}},
		{"IMAP STARTTLS then LOGOUT", imap, false, []step{
			{expect: []string{"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED]"}},
			{send: "a1 CAPABILITY", expect: []string{"* CAPABILITY IMAP4rev1 STARTTLS", "a1 OK"}},
			{send: "a2 STARTTLS", expect: []string{"a2 OK"}, tls: true},
			{send: "a3 STARTTLS", expect: []string{"a3 BAD"}},
			{send: "a4 NOOP", expect: []string{"a4 OK"}},
			{send: "garbage", expect: []string{"* BAD"}},
			{send: "a5 LOGOUT", expect: []string{"* BYE", "a5 OK"}},
		}},
		{"POP3 STLS then QUIT", pop3, false, []step{
			{expect: []string{"+OK"}},
			{send: "CAPA", expect: []string{"+OK", "USER", "TOP", "UIDL", "STLS", "."}},
			{send: "STLS", expect: []string{"+OK"}, tls: true},
			{send: "STLS", expect: []string{"-ERR"}},
			{send: "RETR 1", expect: []string{"-ERR"}},
			{send: "QUIT", expect: []string{"+OK"}},
		}},
		{"IMAPS greets inside TLS", imaps, true, []step{
			{expect: []string{"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN]"}},
			{send: "a1 LOGOUT", expect: []string{"* BYE", "a1 OK"}},
		}},
		{"SMTP refuses a STARTTLS with pipelined plaintext", smtp, false, []step{
			{expect: []string{"220 "}},
			{send: "STARTTLS\r\nEHLO injected", expect: []string{"220 2.0.0"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runDialog(t, serveSpec(t, tt.spec, cert), tt.implicitTLS, tt.steps)
		})
	}
}
