package consent

import "testing"

func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		annotation, host string
		want             bool
	}{
		{"", "vault.example.com", false},
		{"vault.example.com", "vault.example.com", true},
		{" Vault.Example.com. , other", "vault.example.com", true},
		{"vault.example.com", "vault.example.com.evil.net", false},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "evilexample.com", false},
		{"*", "anything.example", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"::1", "[::1]", true},
		{"vault.example.com", "", false},
	} {
		annotations := map[string]string{}
		if tc.annotation != "" {
			annotations[AnnotationAllowedHosts] = tc.annotation
		}
		if got := HostAllowed(annotations, tc.host); got != tc.want {
			t.Errorf("HostAllowed(%q, %q) = %v, want %v", tc.annotation, tc.host, got, tc.want)
		}
	}
}

func TestFirstDenied(t *testing.T) {
	a := map[string]string{AnnotationAllowedHosts: "pki.example.com"}
	if host, ok := FirstDenied(a, "https://pki.example.com/mail.pem", "", "https://pki.example.com:8443/mail.key"); !ok {
		t.Errorf("denied %s", host)
	}
	if host, ok := FirstDenied(a, "https://pki.example.com/mail.pem", "https://keys.example.com/mail.key"); ok || host != "keys.example.com" {
		t.Errorf("got %q, %v; want keys.example.com denied", host, ok)
	}
}
