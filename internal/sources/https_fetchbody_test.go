package sources_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"certsync.io/certsync/internal/sources"
)

// bodyConfig is an HTTPSConfig reading path on s as format (JSON or Raw).
func bodyConfig(s *pkiServer, path, format string) sources.HTTPSConfig {
	cfg := s.config(path)
	cfg.Format = format
	return cfg
}

func TestHTTPSFetchBody(t *testing.T) {
	const secret = "BODY-s3cr3t-0001"
	jsonBody := []byte(`{"data":{"client_id":"mail","client_secret":"` + secret + `"},"expires_at":1798761600}`)
	rawBody := []byte(secret + "\n")
	srv := newPKIServer(t)
	srv.file("/oauth.json", "application/json", `"v1"`, jsonBody)
	srv.file("/token", "application/octet-stream", "", rawBody) // Last-Modified only
	srv.file("/legacy.json", "text/html; charset=utf-8", "", jsonBody)

	for _, tc := range []struct {
		name, path, format, accept string
		want                       []byte
	}{
		{"JSON with ETag", "/oauth.json", sources.FormatJSON, "application/json", jsonBody},
		{"Raw with Last-Modified", "/token", sources.FormatRaw, "application/octet-stream", rawBody},
		{"JSON declared as text/html", "/legacy.json", sources.FormatJSON, "application/json", jsonBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f sources.HTTPSFetcher
			cfg := bodyConfig(srv, tc.path, tc.format)
			cfg.Auth.Token = "t0ken"
			got, info, err := f.FetchBody(context.Background(), "ns/ss/idp", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) || info.NotModified || info.BytesTransferred != int64(len(tc.want)) || info.Requests != 1 {
				t.Fatalf("first fetch: %d bytes, %+v", len(got), info)
			}
			got[0] = 'X' // the caller owns what it gets: the cache must not change
			again, info, err := f.FetchBody(context.Background(), "ns/ss/idp", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, tc.want) || !info.NotModified || info.BytesTransferred != 0 || info.Requests != 1 {
				t.Fatalf("second fetch: %d bytes, %+v; want the same body from one 304", len(again), info)
			}
			reqs := srv.requestsFor(tc.path)
			last := reqs[len(reqs)-1].header
			if last.Get("If-None-Match") == "" && last.Get("If-Modified-Since") == "" {
				t.Error("the second request was not conditional")
			}
			if a := last.Get("Accept"); !strings.HasPrefix(a, tc.accept) {
				t.Errorf("Accept %q, want it to prefer %s", a, tc.accept)
			}
			if a := last.Get("Authorization"); a != "Bearer t0ken" {
				t.Errorf("Authorization %q, want the bearer token", a)
			}
		})
	}
}

func TestHTTPSFetchBodyRefusals(t *testing.T) {
	const secret = "BODY-s3cr3t-0002"
	srv, other := newPKIServer(t), newPKIServer(t)
	srv.file("/login.json", "text/html", "", []byte("<!DOCTYPE html><html>login "+secret+"</html>"))
	srv.file("/page.json", "text/html", "", []byte("maintenance "+secret))
	srv.file("/xml", "application/octet-stream", "", []byte("\n  <?xml version=\"1.0\"?><error>"+secret+"</error>"))
	srv.file("/plain.json", "text/plain", `"x"`, []byte("client_secret="+secret))
	srv.file("/two.json", "application/json", "", []byte(`{"a":"`+secret+`"} {"b":1}`))
	srv.file("/empty", "application/octet-stream", "", []byte(" \n"))
	srv.file("/big", "application/octet-stream", "", bytes.Repeat([]byte("s"), 2<<20))
	srv.handle("/503", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	srv.handle("/away", redirect(other.URL+"/oauth.json", http.StatusFound))

	for _, tc := range []struct {
		name, path, format, reason string
		transient                  bool
	}{
		{"JSON: HTML login page", "/login.json", sources.FormatJSON, sources.ReasonHTMLResponse, true},
		{"JSON: declared HTML, not JSON", "/page.json", sources.FormatJSON, sources.ReasonHTMLResponse, true},
		{"Raw: body starting with <", "/xml", sources.FormatRaw, sources.ReasonHTMLResponse, true},
		{"JSON: not JSON", "/plain.json", sources.FormatJSON, sources.ReasonNotJSON, false},
		{"JSON: two values", "/two.json", sources.FormatJSON, sources.ReasonNotJSON, false},
		{"Raw: empty", "/empty", sources.FormatRaw, "Empty", true},
		{"Raw: larger than 1 MiB", "/big", sources.FormatRaw, sources.ReasonTooLarge, false},
		{"JSON: 503", "/503", sources.FormatJSON, sources.ReasonHTTPStatus, true},
		{"JSON: cross-host redirect", "/away", sources.FormatJSON, sources.ReasonRedirected, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f sources.HTTPSFetcher
			body, _, err := f.FetchBody(context.Background(), "k", bodyConfig(srv, tc.path, tc.format))
			se := sourceError(t, err, tc.reason)
			if body != nil {
				t.Error("a refused body was returned")
			}
			if se.Transient != tc.transient {
				t.Errorf("transient %v, want %v (%s)", se.Transient, tc.transient, se.Message)
			}
			if strings.Contains(se.Message, secret) {
				t.Errorf("the message quotes the body: %s", se.Message)
			}
		})
	}

	t.Run("Raw takes HTML that does not start with <", func(t *testing.T) {
		var f sources.HTTPSFetcher
		if _, _, err := f.FetchBody(context.Background(), "k", bodyConfig(srv, "/page.json", sources.FormatRaw)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a refused body is not revalidated", func(t *testing.T) {
		var f sources.HTTPSFetcher
		cfg := bodyConfig(srv, "/plain.json", sources.FormatJSON)
		for range 2 {
			_, info, err := f.FetchBody(context.Background(), "k", cfg)
			sourceError(t, err, sources.ReasonNotJSON)
			if info.NotModified || info.BytesTransferred == 0 {
				t.Fatalf("%+v: a body refused once must be fetched whole again", info)
			}
		}
	})
}

func TestHTTPSFetchBodyConfig(t *testing.T) {
	srv := newPKIServer(t)
	for _, tc := range []struct {
		name string
		body bool
		cfg  func(*sources.HTTPSConfig)
	}{
		{"FetchBody of PEM", true, func(c *sources.HTTPSConfig) { c.Format = sources.FormatPEM }},
		{"FetchBody of the default format", true, func(c *sources.HTTPSConfig) { c.Format = "" }},
		{"Fetch of JSON", false, func(c *sources.HTTPSConfig) { c.Format = sources.FormatJSON }},
		{"Fetch of Raw", false, func(c *sources.HTTPSConfig) { c.Format = sources.FormatRaw }},
		{"keyURL with JSON", true, func(c *sources.HTTPSConfig) { c.Format, c.KeyURL = sources.FormatJSON, srv.URL+"/key" }},
		{"unknown format", true, func(c *sources.HTTPSConfig) { c.Format = "YAML" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config("/x")
			tc.cfg(&cfg)
			var (
				f   sources.HTTPSFetcher
				err error
			)
			if tc.body {
				_, _, err = f.FetchBody(context.Background(), "k", cfg)
			} else {
				_, _, err = f.Fetch(context.Background(), "k", cfg)
			}
			sourceError(t, err, sources.ReasonInvalidConfig)
			if n := srv.requestCount(); n != 0 {
				t.Fatalf("%d requests sent for a configuration that cannot work", n)
			}
		})
	}
	t.Run("http:// names secrets", func(t *testing.T) {
		var f sources.HTTPSFetcher
		cfg := bodyConfig(srv, "/x", sources.FormatRaw)
		cfg.URL = "http://127.0.0.1:1/x"
		_, _, err := f.FetchBody(context.Background(), "k", cfg)
		if se := sourceError(t, err, sources.ReasonInsecureURL); !strings.Contains(se.Message, "secrets are only fetched over https://") {
			t.Errorf("message %q", se.Message)
		}
	})
}
