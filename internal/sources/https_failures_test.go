package sources_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/sources"
)

func redirect(to string, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, code) }
}

func TestHTTPSFetchRedirects(t *testing.T) {
	p := newPKI(t)
	body := cat(p.chainPEM(), p.leaf.KeyPEM)
	srv, other := newPKIServer(t), newPKIServer(t)
	srv.file("/new.pem", pemType, "", body)
	srv.handle("/old.pem", redirect("/new.pem", http.StatusMovedPermanently))
	srv.handle("/loop.pem", redirect("/loop.pem", http.StatusFound))
	srv.handle("/plain.pem", redirect("http://"+strings.TrimPrefix(srv.URL, "https://")+"/new.pem", http.StatusFound))
	srv.handle("/login.pem", redirect("https://login.example.com/sso?return=/mail.pem", http.StatusFound))
	srv.handle("/moved.pem", redirect(other.URL+"/mail.pem", http.StatusFound))
	srv.handle("/userinfo.pem", redirect("https://someone:pw@"+strings.TrimPrefix(srv.URL, "https://")+"/new.pem", http.StatusFound))
	other.file("/mail.pem", pemType, "", body)
	otherHost := strings.TrimPrefix(other.URL, "https://")

	t.Run("same host is followed", func(t *testing.T) {
		var f sources.HTTPSFetcher
		cfg := srv.config("/old.pem")
		cfg.Auth.Token = "t0ken"
		m, info, err := f.Fetch(context.Background(), "k", cfg)
		if err != nil {
			t.Fatal(err)
		}
		assertValid(t, m, p)
		if info.Requests != 2 {
			t.Errorf("%d requests, want 2", info.Requests)
		}
		if got := srv.requestsFor("/new.pem")[0].header.Get("Authorization"); got != "Bearer t0ken" {
			t.Errorf("credentials not sent after a same-host redirect: %q", got)
		}
	})
	t.Run("userinfo in the Location is not sent", func(t *testing.T) {
		var f sources.HTTPSFetcher
		if _, _, err := f.Fetch(context.Background(), "k", srv.config("/userinfo.pem")); err != nil {
			t.Fatal(err)
		}
		reqs := srv.requestsFor("/new.pem")
		if got := reqs[len(reqs)-1].header.Get("Authorization"); got != "" {
			t.Errorf("Authorization %q sent from a Location's userinfo", got)
		}
	})
	t.Run("too many", func(t *testing.T) {
		var f sources.HTTPSFetcher
		_, info, err := f.Fetch(context.Background(), "k", srv.config("/loop.pem"))
		sourceError(t, err, sources.ReasonRedirected)
		if info.Requests != 4 {
			t.Errorf("%d requests, want 4 (3 redirects followed)", info.Requests)
		}
	})
	t.Run("to http", func(t *testing.T) {
		var f sources.HTTPSFetcher
		_, _, err := f.Fetch(context.Background(), "k", srv.config("/plain.pem"))
		sourceError(t, err, sources.ReasonInsecureURL)
	})
	t.Run("to a login page", func(t *testing.T) {
		var f sources.HTTPSFetcher
		_, _, err := f.Fetch(context.Background(), "k", srv.config("/login.pem"))
		se := sourceError(t, err, sources.ReasonRedirected)
		if !strings.Contains(se.Message, "redirected to login.example.com (302 Found)") || !strings.Contains(se.Message, "outage") || !se.Transient {
			t.Errorf("message %q (transient %v)", se.Message, se.Transient)
		}
		if strings.Contains(se.Message, "return=") {
			t.Errorf("message shows the redirect's query: %q", se.Message)
		}
	})
	t.Run("to another host is not followed", func(t *testing.T) {
		var f sources.HTTPSFetcher
		cfg := srv.config("/moved.pem")
		cfg.Auth.Token = "t0ken"
		_, _, err := f.Fetch(context.Background(), "k", cfg)
		se := sourceError(t, err, sources.ReasonRedirected)
		if !strings.Contains(se.Message, otherHost) {
			t.Errorf("message %q does not name %s", se.Message, otherHost)
		}
		if n := other.requestCount(); n != 0 {
			t.Errorf("the other host got %d requests", n)
		}
	})
	t.Run("to another host when allowed, without credentials", func(t *testing.T) {
		var f sources.HTTPSFetcher
		cfg := srv.config("/moved.pem")
		cfg.Auth = sources.HTTPSAuth{Username: "u", Password: "pw"}
		cfg.AllowCrossHostRedirects = true
		m, _, err := f.Fetch(context.Background(), "k", cfg)
		if err != nil {
			t.Fatal(err) // both servers share httptest's certificate, so cfg.CAPEM trusts both
		}
		assertValid(t, m, p)
		if got := other.requestsFor("/mail.pem")[0].header.Get("Authorization"); got != "" {
			t.Errorf("credentials sent to another host: %q", got)
		}
	})
}

func TestHTTPSFetchStatus(t *testing.T) {
	srv := newPKIServer(t)
	for _, tc := range []struct {
		code      int
		transient bool
	}{
		{http.StatusServiceUnavailable, true},
		{http.StatusBadGateway, true},
		{http.StatusTooManyRequests, true},
		{http.StatusNotFound, false},
		{http.StatusGone, false},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			srv.handle("/mail.pem", func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte("<html>nope</html>"))
			})
			var f sources.HTTPSFetcher
			cfg := srv.config("/mail.pem?sig=abc")
			_, _, err := f.Fetch(context.Background(), "k", cfg)
			se := sourceError(t, err, sources.ReasonHTTPStatus)
			want := fmt.Sprintf("GET %s/mail.pem: %d %s", srv.URL, tc.code, http.StatusText(tc.code))
			if !strings.HasPrefix(se.Message, want) || se.Transient != tc.transient {
				t.Errorf("got %q (transient %v), want %q... (transient %v)", se.Message, se.Transient, want, tc.transient)
			}
		})
	}
}

// A stuck endpoint must fail the fetch within the timeout. The handlers
// block until the test ends; the assertions are on the reason, not on time.
func TestHTTPSFetchTimeout(t *testing.T) {
	p := newPKI(t)
	srv := newPKIServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before srv.Close, which waits for handlers
	srv.handle("/headers.pem", func(http.ResponseWriter, *http.Request) { <-release })
	srv.handle("/body.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write(p.leaf.CertPEM)
		w.(http.Flusher).Flush()
		<-release
	})
	for _, path := range []string{"/headers.pem", "/body.pem"} {
		t.Run(path, func(t *testing.T) {
			var f sources.HTTPSFetcher
			cfg := srv.config(path)
			cfg.Timeout = 200 * time.Millisecond
			_, _, err := f.Fetch(context.Background(), "k", cfg)
			if se := sourceError(t, err, sources.ReasonTimeout); !se.Transient {
				t.Error("a timeout is transient")
			}
		})
	}
	t.Run("canceled by the caller", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var f sources.HTTPSFetcher
		_, _, err := f.Fetch(ctx, "k", srv.config("/headers.pem"))
		sourceError(t, err, sources.ReasonCanceled)
	})
}

func TestHTTPSFetchTooLarge(t *testing.T) {
	srv := newPKIServer(t)
	big := bytes.Repeat([]byte("A"), sources.DefaultHTTPSMaxBytes+1)
	srv.file("/length.pem", pemType, "", big)
	srv.handle("/chunked.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.(http.Flusher).Flush() // no Content-Length: the limit must hold while reading
		_, _ = w.Write(big)
	})
	for _, path := range []string{"/length.pem", "/chunked.pem"} {
		t.Run(path, func(t *testing.T) {
			var f sources.HTTPSFetcher
			_, info, err := f.Fetch(context.Background(), "k", srv.config(path))
			sourceError(t, err, sources.ReasonTooLarge)
			if info.BytesTransferred > sources.DefaultHTTPSMaxBytes+1 {
				t.Errorf("read %d bytes", info.BytesTransferred)
			}
		})
	}
	t.Run("configured limit", func(t *testing.T) {
		p := newPKI(t)
		srv.file("/mail.pem", pemType, "", cat(p.chainPEM(), p.leaf.KeyPEM))
		var f sources.HTTPSFetcher
		cfg := srv.config("/mail.pem")
		cfg.MaxBytes = 100
		_, _, err := f.Fetch(context.Background(), "k", cfg)
		sourceError(t, err, sources.ReasonTooLarge)
	})
}

func TestHTTPSFetchHTML(t *testing.T) {
	srv := newPKIServer(t)
	page := []byte("<!DOCTYPE html>\n<html><body><form action=/login>Sign in</form></body></html>\n")
	srv.file("/html.pem", "text/html; charset=utf-8", "", page)
	srv.file("/plain.pem", "text/plain", "", append([]byte("\n  "), page...))
	srv.file("/typed.pem", "text/html", "", []byte("maintenance"))
	for _, tc := range []struct{ path, format string }{
		{"/html.pem", sources.FormatPEM},
		{"/plain.pem", sources.FormatPEM},
		{"/typed.pem", sources.FormatPEM},
		{"/html.pem", sources.FormatPKCS12},
	} {
		t.Run(tc.path+" "+tc.format, func(t *testing.T) {
			var f sources.HTTPSFetcher
			cfg := srv.config(tc.path)
			cfg.Format = tc.format
			_, _, err := f.Fetch(context.Background(), "k", cfg)
			se := sourceError(t, err, certs.ReasonNotPEM)
			if !strings.Contains(se.Message, "the endpoint returned HTML (a login or error page?)") {
				t.Errorf("message %q", se.Message)
			}
		})
	}
	// The declared type alone does not make a PEM body a web page.
	p := newPKI(t)
	srv.file("/pem-as-html.pem", "text/html; charset=utf-8", "", cat(p.chainPEM(), p.leaf.KeyPEM))
	var f0 sources.HTTPSFetcher
	m, _, err := f0.Fetch(context.Background(), "k", srv.config("/pem-as-html.pem"))
	if err != nil {
		t.Fatalf("PEM served as text/html: %v", err)
	}
	assertValid(t, m, p)

	srv.file("/empty.pem", pemType, "", nil)
	var f sources.HTTPSFetcher
	_, _, err = f.Fetch(context.Background(), "k", srv.config("/empty.pem"))
	sourceError(t, err, certs.ReasonEmpty)
}

func TestHTTPSFetchTLSTrust(t *testing.T) {
	p := newPKI(t)
	srv := newPKIServer(t)
	srv.file("/mail.pem", pemType, "", cat(p.chainPEM(), p.leaf.KeyPEM))
	var f sources.HTTPSFetcher

	t.Run("system roots do not trust a private endpoint", func(t *testing.T) {
		cfg := srv.config("/mail.pem")
		cfg.CAPEM = nil
		_, _, err := f.Fetch(context.Background(), "k", cfg)
		se := sourceError(t, err, sources.ReasonTLSError)
		if !strings.Contains(se.Message, "certificate signed by unknown authority") || !strings.Contains(se.Message, "caSecretRef") || se.Transient {
			t.Errorf("message %q (transient %v)", se.Message, se.Transient)
		}
	})
	t.Run("another CA is no trust", func(t *testing.T) {
		cfg := srv.config("/mail.pem")
		cfg.CAPEM = certstest.NewCA(t).CertPEM
		_, _, err := f.Fetch(context.Background(), "k", cfg)
		sourceError(t, err, sources.ReasonTLSError)
	})
	t.Run("the endpoint's CA", func(t *testing.T) {
		m, _, err := f.Fetch(context.Background(), "k", srv.config("/mail.pem"))
		if err != nil {
			t.Fatal(err)
		}
		assertValid(t, m, p)
	})
	t.Run("a host name the certificate does not cover", func(t *testing.T) {
		cfg := srv.config("/mail.pem")
		cfg.URL = strings.Replace(cfg.URL, "127.0.0.1", "localhost", 1)
		_, _, err := f.Fetch(context.Background(), "k", cfg)
		if err == nil {
			t.Skip("this httptest certificate covers localhost")
		}
		var se *sources.Error
		if errors.As(err, &se) && se.Reason == sources.ReasonUnreachable {
			t.Skip("localhost does not reach 127.0.0.1 on this machine")
		}
		if se == nil || se.Reason != sources.ReasonTLSError || !strings.Contains(se.Message, "names in the endpoint's certificate") {
			t.Errorf("got %v, want %s about the host name", err, sources.ReasonTLSError)
		}
	})
}

func TestHTTPSFetchUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	var f sources.HTTPSFetcher
	_, _, err = f.Fetch(context.Background(), "k", sources.HTTPSConfig{URL: "https://" + addr + "/mail.pem", Timeout: 2 * time.Second})
	se := sourceError(t, err, sources.ReasonUnreachable)
	if !se.Transient {
		t.Error("an unreachable endpoint is transient")
	}
	if !strings.Contains(se.Message, "DialRefused") {
		t.Errorf("message %q does not name the failure class", se.Message)
	}
	if _, port, _ := net.SplitHostPort(addr); strings.Contains(strings.ReplaceAll(se.Message, addr, ""), port) {
		t.Errorf("message %q repeats the dialed address beyond the URL", se.Message)
	}
}

// The egress policy is checked on every hop and on the dialed address: a
// redirect to the metadata address (even with cross-host redirects
// allowed), a host outside the allow-list, and a name resolving to a denied
// address all end with EgressDenied and no request.
func TestHTTPSFetchEgress(t *testing.T) {
	srv := newPKIServer(t)
	srv.handle("/moved.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for name, tc := range map[string]struct {
		policy egress.Policy
		cfg    sources.HTTPSConfig
		before int // requests that may reach srv
	}{
		"redirect to metadata": {egress.Policy{AllowLoopback: true}, func() sources.HTTPSConfig {
			c := srv.config("/moved.pem")
			c.AllowCrossHostRedirects = true
			return c
		}(), 1},
		"host not allowed": {egress.Policy{AllowLoopback: true, AllowHosts: []string{"vault.example.com"}}, srv.config("/mail.pem"), 0},
		"name resolving to loopback": {egress.Policy{}, func() sources.HTTPSConfig {
			c := srv.config("/mail.pem")
			c.URL = "https://localhost:" + port + "/mail.pem"
			return c
		}(), 0},
	} {
		t.Run(name, func(t *testing.T) {
			before := srv.requestCount()
			f := sources.HTTPSFetcher{Egress: &tc.policy}
			_, _, err := f.Fetch(context.Background(), "k", tc.cfg)
			se := sourceError(t, err, sources.ReasonEgressDenied)
			if se.Transient {
				t.Error("a denied destination is not transient")
			}
			if strings.HasPrefix(tc.cfg.URL, "https://localhost") && strings.Contains(se.Message, "127.0.0.1") {
				t.Errorf("message %q names the resolved address", se.Message)
			}
			if n := srv.requestCount() - before; n != tc.before {
				t.Errorf("%d requests reached the server, want %d", n, tc.before)
			}
		})
	}
}

func TestHTTPSFetchConfigErrors(t *testing.T) {
	srv := newPKIServer(t)
	base := srv.config("/mail.pem")
	cases := []struct {
		name   string
		mutate func(*sources.HTTPSConfig)
		reason string
	}{
		{"http", func(c *sources.HTTPSConfig) { c.URL = "http://127.0.0.1:1/mail.pem" }, sources.ReasonInsecureURL},
		{"http key URL", func(c *sources.HTTPSConfig) { c.KeyURL = "http://127.0.0.1:1/key.pem" }, sources.ReasonInsecureURL},
		{"ftp", func(c *sources.HTTPSConfig) { c.URL = "ftp://127.0.0.1/mail.pem" }, sources.ReasonInvalidConfig},
		{"relative", func(c *sources.HTTPSConfig) { c.URL = "/mail.pem" }, sources.ReasonInvalidConfig},
		{"empty", func(c *sources.HTTPSConfig) { c.URL = "" }, sources.ReasonInvalidConfig},
		{"credentials in the URL", func(c *sources.HTTPSConfig) { c.URL = "https://admin:hunter2@127.0.0.1:1/mail.pem" }, sources.ReasonInvalidConfig},
		{"unknown format", func(c *sources.HTTPSConfig) { c.Format = "JKS" }, sources.ReasonInvalidConfig},
		{"key URL with PKCS12", func(c *sources.HTTPSConfig) { c.Format, c.KeyURL = sources.FormatPKCS12, base.URL }, sources.ReasonInvalidConfig},
		{"token and basic", func(c *sources.HTTPSConfig) { c.Auth = sources.HTTPSAuth{Token: "t", Username: "u"} }, sources.ReasonInvalidConfig},
		{"password without user", func(c *sources.HTTPSConfig) { c.Auth = sources.HTTPSAuth{Password: "p"} }, sources.ReasonInvalidConfig},
		{"colon in user", func(c *sources.HTTPSConfig) { c.Auth = sources.HTTPSAuth{Username: "a:b"} }, sources.ReasonInvalidConfig},
		{"newline inside token", func(c *sources.HTTPSConfig) { c.Auth = sources.HTTPSAuth{Token: "a\nb"} }, sources.ReasonInvalidConfig},
		{"CA is not PEM", func(c *sources.HTTPSConfig) { c.CAPEM = []byte("<html>") }, sources.ReasonInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mutate(&cfg)
			var f sources.HTTPSFetcher
			_, info, err := f.Fetch(context.Background(), "k", cfg)
			se := sourceError(t, err, tc.reason)
			if info.Requests != 0 || srv.requestCount() != 0 {
				t.Errorf("a request was sent for an invalid config (%+v)", info)
			}
			if strings.Contains(se.Message, "hunter2") {
				t.Errorf("message shows the URL's password: %q", se.Message)
			}
		})
	}
}

// TestCAMessageDescribesNothing: caSecretRef may name any Secret key of
// the namespace; whatever that value is (a private key, JSON, a token,
// HTML), the author reads one and the same message, so it cannot learn the
// form of a Secret it may not read.
func TestCAMessageDescribesNothing(t *testing.T) {
	srv := newPKIServer(t)
	values := map[string][]byte{
		"private key": certstest.New(t).KeyPEM,
		"json":        []byte(`{"password":"x"}`),
		"token":       []byte("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
		"html":        []byte("<html>"),
		"der":         certstest.NewCA(t).Cert.Raw,
	}
	messages := map[string]bool{}
	for name, v := range values {
		cfg := srv.config("/mail.pem")
		cfg.CAPEM = v
		var f sources.HTTPSFetcher
		_, _, err := f.Fetch(context.Background(), "k", cfg)
		se := sourceError(t, err, sources.ReasonInvalidConfig)
		if !strings.Contains(se.Message, "caSecretRef") {
			t.Errorf("%s: message %q does not name caSecretRef", name, se.Message)
		}
		messages[se.Message] = true
	}
	if len(messages) != 1 {
		t.Errorf("the messages tell the values apart: %v", messages)
	}
}
