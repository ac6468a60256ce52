package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

const (
	// maxLineBytes bounds one server line (CRLF included). RFC 5321 allows
	// 512 bytes per reply line; real servers stay far below 4 KiB, so a longer
	// line means a broken or hostile peer, not a legitimate banner.
	maxLineBytes = 4096
	// maxReplyLines bounds a multi-line reply (SMTP "250-", IMAP untagged
	// lines) so a server cannot keep the probe reading forever within its
	// deadline or grow its memory.
	maxReplyLines = 64
	// maxQuoted bounds how much server text goes into an error message, which
	// ends up in status conditions and events.
	maxQuoted = 120
)

var (
	errLineTooLong  = fmt.Errorf("server sent a line longer than %d bytes", maxLineBytes)
	errTooManyLines = fmt.Errorf("server sent more than %d lines in one reply", maxReplyLines)
	errClosed       = errors.New("connection closed by server")
)

// protocolError is a refusal or a reply the probe cannot work with. Its text
// already says what happened, so it is reported without a phase prefix.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func protocolErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// lineConn speaks a CRLF line protocol over a connection whose deadline the
// caller has set. Its buffer is exactly one maximum line, which is what makes
// the length limit hold.
type lineConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func newLineConn(c net.Conn) *lineConn {
	return &lineConn{conn: c, r: bufio.NewReaderSize(c, maxLineBytes)}
}

// readLine returns the next line without its line ending.
func (l *lineConn) readLine() (string, error) {
	line, err := l.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", errLineTooLong
	case errors.Is(err, io.EOF):
		return "", errClosed
	case err != nil:
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (l *lineConn) writeLine(s string) error {
	_, err := io.WriteString(l.conn, s+"\r\n")
	return err
}

// ensureDrained fails when the server sent more than its STARTTLS reply:
// those bytes would otherwise be read as the start of the TLS handshake (or
// silently dropped), which only a confused or malicious server does.
func (l *lineConn) ensureDrained(proto Protocol) error {
	if n := l.r.Buffered(); n > 0 {
		return protocolErrorf("%s server sent %d unexpected bytes after its STARTTLS reply", proto, n)
	}
	return nil
}

// quote makes server text safe and short enough for an error message.
func quote(s string) string {
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
