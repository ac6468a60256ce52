package probe

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mailServer is a scripted TLS / STARTTLS server, just enough protocol for
// the probe, with knobs for the ways real servers go wrong.
type mailServer struct {
	proto Protocol
	cert  *testCert
	// greeting replaces the protocol's normal greeting (sent as is, CRLF added).
	greeting string
	// raw is written instead of any protocol (e.g. an over-long line), then
	// the server waits for the client to hang up.
	raw string
	// hangUp closes the connection right after raw.
	hangUp bool
	// silent servers accept and never say anything.
	silent bool
	// refuse answers the STARTTLS command with an error.
	refuse bool
	// hideSTARTTLS leaves STARTTLS out of the SMTP EHLO reply.
	hideSTARTTLS bool
	// afterUpgrade is sent right after the positive STARTTLS reply, in
	// plaintext: a response-injection attempt.
	afterUpgrade string

	mu  sync.Mutex
	sni []string // server names clients asked for
}

// serverIdle bounds how long a test server waits for a client that went
// away without closing; it only keeps goroutines from piling up.
const serverIdle = 10 * time.Second

func (m *mailServer) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(serverIdle))
	if m.silent {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	if m.raw != "" {
		_, _ = io.WriteString(c, m.raw)
		if !m.hangUp {
			_, _ = io.Copy(io.Discard, c)
		}
		return
	}
	if m.proto == TLS {
		m.handshake(c)
		return
	}
	w := func(lines ...string) { _, _ = io.WriteString(c, strings.Join(lines, "\r\n")+"\r\n") }
	switch {
	case m.greeting != "":
		w(m.greeting)
	case m.proto == SMTP:
		w("220-mail.example.test ESMTP", "220 probe test server")
	case m.proto == IMAP:
		w("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready")
	case m.proto == POP3:
		w("+OK ready")
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.Fields(strings.TrimSpace(line))
		if len(cmd) == 0 {
			continue
		}
		upgrade := false
		switch m.proto {
		case SMTP:
			switch strings.ToUpper(cmd[0]) {
			case "EHLO":
				if m.hideSTARTTLS {
					w("250-mail.example.test", "250 8BITMIME")
				} else {
					w("250-mail.example.test", "250-PIPELINING", "250-STARTTLS", "250 8BITMIME")
				}
			case "STARTTLS":
				if m.refuse {
					w("502 5.5.1 command not implemented")
				} else {
					w("220 2.0.0 ready to start TLS")
					upgrade = true
				}
			default:
				w("500 5.5.2 unknown command")
			}
		case IMAP:
			if len(cmd) >= 2 && strings.EqualFold(cmd[1], "STARTTLS") {
				if m.refuse {
					w(cmd[0] + " BAD STARTTLS not supported")
				} else {
					w("* NOTE untagged noise the client must skip", cmd[0]+" OK begin TLS now")
					upgrade = true
				}
			} else {
				w("* BAD unknown")
			}
		case POP3:
			if strings.EqualFold(cmd[0], "STLS") {
				if m.refuse {
					w("-ERR STLS not supported")
				} else {
					w("+OK begin TLS")
					upgrade = true
				}
			} else {
				w("-ERR unknown")
			}
		}
		if upgrade {
			if m.afterUpgrade != "" {
				_, _ = io.WriteString(c, m.afterUpgrade)
			}
			m.handshake(c)
			return
		}
	}
}

// handshake serves TLS on c and waits until the client hangs up.
func (m *mailServer) handshake(c net.Conn) {
	tc := tls.Server(c, &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			m.mu.Lock()
			m.sni = append(m.sni, hello.ServerName)
			m.mu.Unlock()
			return &m.cert.tls, nil
		},
	})
	if tc.Handshake() != nil {
		return
	}
	_, _ = io.Copy(io.Discard, tc)
}

func (m *mailServer) serverNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sni...)
}

// listen serves m on a fresh port of ip until the test ends.
func listen(tb testing.TB, ip string, m *mailServer) Target {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { m.handle(c) })
		}
	})
	tb.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(port)
	return Target{Pod: "pod-" + port, IP: ip, Endpoint: Endpoint{Port: int32(n), Protocol: m.proto}}
}

// closedPort returns a loopback target on which nothing listens.
func closedPort(tb testing.TB) Target {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	n, _ := strconv.Atoi(port)
	return Target{Pod: "gone", IP: "127.0.0.1", Endpoint: Endpoint{Port: int32(n), Protocol: TLS}}
}
