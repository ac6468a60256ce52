package mailsim

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"certsync.io/certsync/internal/probe"
)

const (
	// sessionIdle is how long a connection may sit between commands, like a
	// real server's command timeout, so forgotten clients do not pile up.
	sessionIdle = 30 * time.Second
	// maxCommands ends a session that talks forever; the probe needs three.
	maxCommands = 100
	// maxLine is the longest command line accepted (RFC 5321 allows 512).
	maxLine = 4096
)

// mailSession is one client connection to a simulated mail server.
type mailSession struct {
	conn   net.Conn
	r      *bufio.Reader
	tlsCfg *tls.Config
	host   string
	secure bool
}

// serveConn speaks proto on c: a TLS handshake first for direct-TLS ports
// (then inner, if any, inside the tunnel), or the plaintext protocol with
// STARTTLS for the others.
func serveConn(c net.Conn, spec listenSpec, tlsCfg *tls.Config, host string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(sessionIdle))
	s := &mailSession{conn: c, tlsCfg: tlsCfg, host: host}
	proto := spec.endpoint.Protocol
	if proto == probe.TLS {
		if !s.upgrade() {
			return
		}
		if spec.inner == "" {
			// Nothing to say over HTTPS/LDAPS: wait for the client to hang up.
			_, _ = io.Copy(io.Discard, s.conn)
			return
		}
		proto = spec.inner
	}
	s.r = bufio.NewReaderSize(s.conn, maxLine)
	switch proto {
	case probe.SMTP:
		s.smtp()
	case probe.IMAP:
		s.imap()
	case probe.POP3:
		s.pop3()
	}
}

// upgrade runs the server side of the TLS handshake on the connection.
func (s *mailSession) upgrade() bool {
	// Bytes a client pipelined after STARTTLS would be read as plaintext
	// commands in the TLS session: refuse, as Postfix does (CVE-2011-0411).
	if s.r != nil && s.r.Buffered() > 0 {
		return false
	}
	tc := tls.Server(s.conn, s.tlsCfg)
	if err := tc.Handshake(); err != nil {
		return false
	}
	s.conn, s.secure = tc, true
	s.r = bufio.NewReaderSize(s.conn, maxLine)
	return true
}

// commands yields the client's command lines until it hangs up, idles out,
// sends an over-long line or too many commands.
func (s *mailSession) commands(yield func(string) bool) {
	for range maxCommands {
		_ = s.conn.SetDeadline(time.Now().Add(sessionIdle))
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || err != nil {
			return
		}
		if !yield(strings.TrimRight(string(line), "\r\n")) {
			return
		}
	}
}

func (s *mailSession) reply(lines ...string) bool {
	_, err := io.WriteString(s.conn, strings.Join(lines, "\r\n")+"\r\n")
	return err == nil
}

// verb splits "EHLO name" into "EHLO" and the rest.
func verb(line string) (string, string) {
	v, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	return strings.ToUpper(v), rest
}

func (s *mailSession) smtp() {
	if !s.reply("220 " + s.host + " ESMTP mailsim") {
		return
	}
	for line := range s.commands {
		switch v, _ := verb(line); v {
		case "EHLO":
			ext := []string{"250-" + s.host, "250-PIPELINING", "250-SIZE 10240000"}
			if !s.secure {
				ext = append(ext, "250-STARTTLS")
			}
			if !s.reply(append(ext, "250 8BITMIME")...) {
				return
			}
		case "HELO":
			s.reply("250 " + s.host)
		case "NOOP", "RSET":
			s.reply("250 2.0.0 Ok")
		case "STARTTLS":
			if s.secure {
				s.reply("554 5.5.1 Error: TLS already active")
				continue
			}
			if !s.reply("220 2.0.0 Ready to start TLS") || !s.upgrade() {
				return
			}
		case "QUIT":
			s.reply("221 2.0.0 Bye")
			return
		default:
			s.reply("502 5.5.2 Error: command not recognized")
		}
	}
}

func (s *mailSession) imapCapability() string {
	if s.secure {
		return "IMAP4rev1 AUTH=PLAIN"
	}
	return "IMAP4rev1 STARTTLS LOGINDISABLED"
}

func (s *mailSession) imap() {
	if !s.reply("* OK [CAPABILITY " + s.imapCapability() + "] mailsim ready.") {
		return
	}
	for line := range s.commands {
		tag, rest, ok := strings.Cut(line, " ")
		if !ok || tag == "" {
			s.reply("* BAD Error in IMAP command received by server.")
			continue
		}
		switch v, _ := verb(rest); v {
		case "CAPABILITY":
			s.reply("* CAPABILITY "+s.imapCapability(), tag+" OK Capability completed.")
		case "NOOP":
			s.reply(tag + " OK NOOP completed.")
		case "STARTTLS":
			if s.secure {
				s.reply(tag + " BAD TLS is already active.")
				continue
			}
			if !s.reply(tag+" OK Begin TLS negotiation now.") || !s.upgrade() {
				return
			}
		case "LOGOUT":
			s.reply("* BYE Logging out", tag+" OK Logout completed.")
			return
		default:
			s.reply(tag + " BAD Error in IMAP command received by server.")
		}
	}
}

func (s *mailSession) pop3() {
	if !s.reply("+OK mailsim ready.") {
		return
	}
	for line := range s.commands {
		switch v, _ := verb(line); v {
		case "CAPA":
			caps := []string{"+OK", "USER", "TOP", "UIDL"}
			if !s.secure {
				caps = append(caps, "STLS")
			}
			s.reply(append(caps, ".")...)
		case "NOOP":
			s.reply("+OK")
		case "STLS":
			if s.secure {
				s.reply("-ERR TLS is already active.")
				continue
			}
			if !s.reply("+OK Begin TLS negotiation now.") || !s.upgrade() {
				return
			}
		case "QUIT":
			s.reply("+OK Logging out.")
			return
		default:
			s.reply("-ERR Unknown command.")
		}
	}
}
