package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"certsync.io/certsync/test/mailsim"
)

func TestControlHandler(t *testing.T) {
	// Never started: the handler only needs Serving and ServeStale.
	sim, err := mailsim.New(mailsim.Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	h := controlHandler(sim)
	tests := []struct {
		method, target, body string
		code                 int
		wantBody             string
	}{
		{"GET", "/serving", "", http.StatusOK, "{}"},
		{"POST", "/stale", "", http.StatusBadRequest, "missing ?pod=NAME"},
		{"POST", "/stale?pod=mail-0", "not pem", http.StatusConflict, "not a valid key pair"},
		{"GET", "/stale?pod=mail-0", "", http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), tt.method, tt.target, strings.NewReader(tt.body)))
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("%s %s: %d %q, want %d containing %q", tt.method, tt.target, rec.Code, rec.Body, tt.code, tt.wantBody)
		}
	}
}

func TestSplitPEM(t *testing.T) {
	in := "junk\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n" +
		"-----BEGIN CERTIFICATE-----\nBAUG\n-----END CERTIFICATE-----\n" +
		"-----BEGIN EC PRIVATE KEY-----\nBwgJ\n-----END EC PRIVATE KEY-----\n"
	certPEM, keyPEM := splitPEM([]byte(in))
	if strings.Count(string(certPEM), "BEGIN CERTIFICATE") != 2 || strings.Contains(string(certPEM), "KEY") {
		t.Errorf("certificates: %q", certPEM)
	}
	if !strings.HasPrefix(string(keyPEM), "-----BEGIN EC PRIVATE KEY-----") || strings.Contains(string(keyPEM), "CERTIFICATE") {
		t.Errorf("key: %q", keyPEM)
	}
}

func TestControlAddrMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "localhost:0"} {
		if _, err := startControl(context.Background(), addr, nil); err == nil {
			t.Errorf("startControl(%q) accepted a non-loopback address", addr)
		}
	}
	srv, err := startControl(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}
