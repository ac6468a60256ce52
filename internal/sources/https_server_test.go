package sources_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"certsync.io/certsync/internal/sources"
)

// pkiServer is a legacy PKI endpoint: an in-process TLS server on
// 127.0.0.1 with per-path handlers, recording every request it gets.
type pkiServer struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	requests []recorded
}

type recorded struct {
	path   string
	header http.Header
}

func newPKIServer(t testing.TB) *pkiServer {
	t.Helper()
	s := &pkiServer{handlers: map[string]http.HandlerFunc{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Listener.Close()
	s.Listener = l
	// Handshakes that tests make fail on purpose would log noise.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *pkiServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, recorded{path: r.URL.Path, header: r.Header.Clone()})
	h := s.handlers[r.URL.Path]
	s.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (s *pkiServer) handle(path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

// file serves body like a web server does: with an ETag (if etag is set), a
// Last-Modified date, and 304 answers to matching conditional requests.
func (s *pkiServer) file(path, contentType, etag string, body []byte) {
	modified := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.handle(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		http.ServeContent(w, r, "", modified, bytes.NewReader(body))
	})
}

func (s *pkiServer) requestsFor(path string) []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recorded
	for _, r := range s.requests {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func (s *pkiServer) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// caPEM is the trust for the server's self-signed certificate.
func (s *pkiServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// config is an HTTPSConfig for path on s that trusts s.
func (s *pkiServer) config(path string) sources.HTTPSConfig {
	return sources.HTTPSConfig{URL: s.URL + path, CAPEM: s.caPEM(), Timeout: 5 * time.Second}
}

// sourceError asserts err is a *sources.Error with reason and returns it.
func sourceError(t *testing.T, err error, reason string) *sources.Error {
	t.Helper()
	var se *sources.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *sources.Error", err, err)
	}
	if se.Reason != reason {
		t.Fatalf("reason %s (%s), want %s", se.Reason, se.Message, reason)
	}
	if strings.ContainsAny(se.Message, "\r\n") {
		t.Errorf("message is not one line: %q", se.Message)
	}
	return se
}
