package sources_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/sources"
)

// Credentials must never reach an error: its message goes to status,
// events and logs. Every failure path is driven with every kind of secret
// configured, and the messages are searched for each of them.
func TestHTTPSFetchErrorsCarryNoCredentials(t *testing.T) {
	const (
		token    = "TOKEN-s3cr3t-0001"
		password = "BASIC-s3cr3t-0002"
		p12pw    = "P12-s3cr3t-0003"
		query    = "QUERY-s3cr3t-0004"
		urlPW    = "URLPW-s3cr3t-0005"
	)
	secrets := []string{token, password, p12pw, query, urlPW,
		base64.StdEncoding.EncodeToString([]byte("certsync:" + password)), "Bearer"}

	p := newPKI(t)
	pfx, err := pkcs12.Modern.Encode(p.leaf.Key, p.leaf.Cert, nil, "another password")
	if err != nil {
		t.Fatal(err)
	}
	srv, other := newPKIServer(t), newPKIServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv.handle("/401", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	srv.handle("/503", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	srv.handle("/away", redirect(other.URL+"/x?"+query, http.StatusFound))
	srv.handle("/plain", redirect("http://127.0.0.1:1/x?"+query, http.StatusFound))
	srv.handle("/slow", func(http.ResponseWriter, *http.Request) { <-release })
	srv.file("/html", "text/html", "", []byte("<html>login</html>"))
	srv.file("/p12", p12Type, "", pfx)
	srv.file("/garbage", pemType, "", []byte("garbage"))

	withQuery := func(path string) string { return srv.URL + path + "?sig=" + query }
	bearer := sources.HTTPSAuth{Token: token}
	basic := sources.HTTPSAuth{Username: "certsync", Password: password}
	cases := []struct {
		name string
		cfg  func(*sources.HTTPSConfig)
	}{
		{"401 bearer", func(c *sources.HTTPSConfig) { c.URL, c.Auth = withQuery("/401"), bearer }},
		{"401 basic", func(c *sources.HTTPSConfig) { c.URL, c.Auth = withQuery("/401"), basic }},
		{"503", func(c *sources.HTTPSConfig) { c.URL, c.Auth = withQuery("/503"), bearer }},
		{"cross-host redirect", func(c *sources.HTTPSConfig) { c.URL, c.Auth = withQuery("/away"), basic }},
		{"redirect to http", func(c *sources.HTTPSConfig) { c.URL, c.Auth = withQuery("/plain"), bearer }},
		{"timeout", func(c *sources.HTTPSConfig) {
			c.URL, c.Auth, c.Timeout = withQuery("/slow"), basic, 100*time.Millisecond
		}},
		{"untrusted", func(c *sources.HTTPSConfig) { c.URL, c.Auth, c.CAPEM = withQuery("/503"), bearer, nil }},
		{"HTML", func(c *sources.HTTPSConfig) { c.URL, c.Auth = withQuery("/html"), basic }},
		{"not PEM", func(c *sources.HTTPSConfig) { c.URL, c.Auth = withQuery("/garbage"), basic }},
		{"wrong PKCS12 password", func(c *sources.HTTPSConfig) {
			c.URL, c.Auth, c.Format, c.PKCS12Password = withQuery("/p12"), bearer, sources.FormatPKCS12, p12pw+"\n"
		}},
		{"too large", func(c *sources.HTTPSConfig) { c.URL, c.Auth, c.MaxBytes = withQuery("/html"), basic, 3 }},
		{"unreachable", func(c *sources.HTTPSConfig) { c.URL, c.Auth = "https://127.0.0.1:1/x?sig="+query, bearer }},
		{"userinfo", func(c *sources.HTTPSConfig) { c.URL = "https://certsync:" + urlPW + "@127.0.0.1:1/x?sig=" + query }},
		{"userinfo, http", func(c *sources.HTTPSConfig) { c.URL = "http://certsync:" + urlPW + "@127.0.0.1:1/x" }},
		{"unparsable URL", func(c *sources.HTTPSConfig) { c.URL = "https://certsync:" + urlPW + "@127.0.0.1:port/x" }},
		{"both auth kinds", func(c *sources.HTTPSConfig) {
			c.Auth = sources.HTTPSAuth{Token: token, Username: "u", Password: password}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config("/")
			tc.cfg(&cfg)
			var f sources.HTTPSFetcher
			_, _, err := f.Fetch(context.Background(), "k", cfg)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error contains %q: %v", s, err)
				}
			}
		})
	}
}
