package probe

import (
	"fmt"
	"strings"
)

// Phases name the step a probe was in, for error messages.
const (
	phaseConnect   = "connect"
	phaseHandshake = "TLS handshake"
)

// ehloName identifies the probe in SMTP logs, so a postmaster seeing the
// connections knows what they are.
const ehloName = "certsync.probe"

// imapTag is the tag of the probe's only IMAP command. CAPABILITY is skipped:
// STARTTLS either works or the tagged reply says why, one round trip less.
const imapTag = "a001"

// startTLS runs the plaintext part of proto up to the point where the server
// expects a TLS ClientHello. phase is updated before each step so a failure
// (timeout above all) can say where it happened.
func startTLS(l *lineConn, proto Protocol, phase *string) error {
	var err error
	switch proto {
	case SMTP:
		err = startSMTP(l, phase)
	case IMAP:
		err = startIMAP(l, phase)
	case POP3:
		err = startPOP3(l, phase)
	default:
		return protocolErrorf("unsupported protocol %q", proto)
	}
	if err != nil {
		return err
	}
	return l.ensureDrained(proto)
}

func startSMTP(l *lineConn, phase *string) error {
	*phase = "SMTP greeting"
	code, lines, err := readSMTPReply(l)
	if err != nil {
		return err
	}
	if code != 220 {
		return protocolErrorf("SMTP server rejected the connection: %s", quote(lines[0]))
	}

	*phase = "SMTP EHLO"
	if err := l.writeLine("EHLO " + ehloName); err != nil {
		return err
	}
	code, lines, err = readSMTPReply(l)
	if err != nil {
		return err
	}
	if code != 250 {
		return protocolErrorf("SMTP server rejected EHLO: %s", quote(lines[0]))
	}
	offered := false
	for _, ext := range lines[1:] {
		if f := strings.Fields(ext[min(4, len(ext)):]); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			offered = true
		}
	}

	// Try even when not advertised: some servers only list it after a
	// matching HELO name, and the refusal text is the most useful error.
	*phase = "SMTP STARTTLS"
	if err := l.writeLine("STARTTLS"); err != nil {
		return err
	}
	code, lines, err = readSMTPReply(l)
	if err != nil {
		return err
	}
	if code != 220 {
		if !offered {
			return protocolErrorf("SMTP server did not offer STARTTLS: %s", quote(lines[0]))
		}
		return protocolErrorf("SMTP server refused STARTTLS: %s", quote(lines[0]))
	}
	return nil
}

// readSMTPReply reads one possibly multi-line reply ("250-a" ... "250 z").
func readSMTPReply(l *lineConn) (code int, lines []string, err error) {
	for i := 0; i < maxReplyLines; i++ {
		line, err := l.readLine()
		if err != nil {
			return 0, nil, err
		}
		c, last, ok := parseSMTPLine(line)
		if !ok || (i > 0 && c != code) {
			return 0, nil, fmt.Errorf("not an SMTP reply: %q", quote(line))
		}
		code = c
		lines = append(lines, line)
		if last {
			return code, lines, nil
		}
	}
	return 0, nil, errTooManyLines
}

// parseSMTPLine splits "250-text" / "250 text" / "250" into code and whether
// it is the reply's last line.
func parseSMTPLine(line string) (code int, last, ok bool) {
	if len(line) < 3 {
		return 0, false, false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		code = code*10 + int(c-'0')
	}
	switch {
	case len(line) == 3 || line[3] == ' ':
		return code, true, true
	case line[3] == '-':
		return code, false, true
	}
	return 0, false, false
}

func startIMAP(l *lineConn, phase *string) error {
	*phase = "IMAP greeting"
	line, err := l.readLine()
	if err != nil {
		return err
	}
	// PREAUTH is refused too: STARTTLS is only allowed before authentication.
	if !hasPrefixFold(line, "* OK") {
		return protocolErrorf("IMAP server sent an unexpected greeting: %s", quote(line))
	}

	*phase = "IMAP STARTTLS"
	if err := l.writeLine(imapTag + " STARTTLS"); err != nil {
		return err
	}
	for i := 0; i < maxReplyLines; i++ {
		line, err := l.readLine()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "* ") {
			continue // untagged data, e.g. a CAPABILITY the server volunteers
		}
		rest, tagged := strings.CutPrefix(line, imapTag+" ")
		if !tagged {
			return fmt.Errorf("not an IMAP reply: %q", quote(line))
		}
		if !hasPrefixFold(rest, "OK") {
			return protocolErrorf("IMAP server refused STARTTLS: %s", quote(line))
		}
		return nil
	}
	return errTooManyLines
}

func startPOP3(l *lineConn, phase *string) error {
	*phase = "POP3 greeting"
	line, err := l.readLine()
	if err != nil {
		return err
	}
	if !hasPrefixFold(line, "+OK") {
		return protocolErrorf("POP3 server sent an unexpected greeting: %s", quote(line))
	}

	*phase = "POP3 STLS"
	if err := l.writeLine("STLS"); err != nil {
		return err
	}
	line, err = l.readLine()
	if err != nil {
		return err
	}
	if !hasPrefixFold(line, "+OK") {
		return protocolErrorf("POP3 server refused STLS: %s", quote(line))
	}
	return nil
}
