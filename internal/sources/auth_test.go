package sources_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
