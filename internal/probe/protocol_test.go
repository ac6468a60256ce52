package probe

import "testing"

func TestProtocolFor(t *testing.T) {
	tests := []struct {
		port   int32
		name   string
		want   Protocol
		wantOK bool
	}{
		// Well-known numbers win, whatever the name says.
		{443, "", TLS, true},
		{465, "", TLS, true},
		{636, "", TLS, true},
		{993, "", TLS, true},
		{995, "", TLS, true},
		{8443, "", TLS, true},
		{25, "", SMTP, true},
		{587, "", SMTP, true},
		{143, "", IMAP, true},
		{110, "", POP3, true},
		{993, "imap", TLS, true},
		{25, "metrics", SMTP, true},
		// Unprivileged ports, by IANA service name in any case.
		{1443, "https", TLS, true},
		{1465, "smtps", TLS, true},
		{1465, "submissions", TLS, true},
		{1636, "ldaps", TLS, true},
		{1993, "imaps", TLS, true},
		{1995, "pop3s", TLS, true},
		{1025, "smtp", SMTP, true},
		{1587, "submission", SMTP, true},
		{1143, "imap", IMAP, true},
		{1110, "pop3", POP3, true},
		{1993, "IMAPS", TLS, true},
		{1025, "SMTP", SMTP, true},
		{1143, "Imap", IMAP, true},
		// Neither known: not probed.
		{8080, "http", "", false},
		{9090, "metrics", "", false},
		{1025, "", "", false},
		{80, "", "", false},
		{1143, "imap-alt", "", false},
	}
	for _, tt := range tests {
		got, ok := ProtocolFor(tt.port, tt.name)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ProtocolFor(%d, %q) = %q, %v; want %q, %v", tt.port, tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}
