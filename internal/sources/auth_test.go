package sources_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/sources"
)

// TestAuthFrom: a token, or a username and password; neither is
// MissingKey, with no value in the message.
func TestAuthFrom(t *testing.T) {
	secret := func(kv ...string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "pki-auth"}, Data: map[string][]byte{}}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Data[kv[i]] = []byte(kv[i+1])
		}
		return s
	}
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   sources.HTTPSAuth
		reason string
	}{
		{"token", secret("token", "t0ken"), sources.HTTPSAuth{Token: "t0ken"}, ""},
		{"basic", secret("username", "u", "password", "p4ss"), sources.HTTPSAuth{Username: "u", Password: "p4ss"}, ""},
		{"neither", secret("password", "p4ss"), sources.HTTPSAuth{}, sources.ReasonMissingKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sources.AuthFrom(tt.secret)
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("AuthFrom = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var se *sources.Error
			if !errors.As(err, &se) || se.Reason != tt.reason || strings.Contains(se.Message, "p4ss") || !strings.Contains(se.Message, "mail/pki-auth") {
				t.Fatalf("AuthFrom error = %v, want %s naming the Secret and no value", err, tt.reason)
			}
		})
	}
}

// TestPasswordReleased: a PKCS#12 password opens files only from hosts its
// Secret's certsync.io/allowed-hosts names; a refusal is
// CredentialNotReleased, names the annotation and the host to add, and
// never the value.
func TestPasswordReleased(t *testing.T) {
	const value = "p12-DO-NOT-LEAK"
	secret := func(allowed string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "pki-p12"}, Data: map[string][]byte{"password": []byte(value)}}
		if allowed != "" {
			s.Annotations = map[string]string{consent.AnnotationAllowedHosts: allowed}
		}
		return s
	}
	tests := []struct {
		name, allowed, url string
		released           bool
	}{
		{"no annotation", "", "https://pki.example.com/mail.p12", false},
		{"the host", "pki.example.com", "https://pki.example.com:8443/mail.p12", true},
		{"another host", "pki.example.com", "https://tenant.example.net/mail.p12", false},
		{"a wildcard", "*.example.com", "https://pki.example.com/mail.p12", true},
		{"any host", "*", "https://tenant.example.net/mail.p12", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sources.PasswordReleased(secret(tt.allowed), tt.url)
			if tt.released {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *sources.Error
			if !errors.As(err, &se) || se.Reason != consent.ReasonCredentialNotReleased {
				t.Fatalf("got %v, want %s", err, consent.ReasonCredentialNotReleased)
			}
			for _, want := range []string{"mail/pki-p12", consent.AnnotationAllowedHosts, "nothing was fetched"} {
				if !strings.Contains(se.Message, want) {
					t.Errorf("message %q does not name %q", se.Message, want)
				}
			}
			if strings.Contains(se.Message, value) {
				t.Errorf("message %q carries the password", se.Message)
			}
		})
	}
}
