package sources_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"reflect"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/sources"
)

const (
	pemType    = "application/x-pem-file"
	p12Type    = "application/x-pkcs12"
	mailDomain = "mail.example.com"
)

// pki is what a legacy PKI hands out: a leaf for the mail servers, issued
// by an intermediate under a private root.
type pki struct {
	root, inter *certstest.CA
	leaf        *certstest.Pair
}

func newPKI(t testing.TB) pki {
	t.Helper()
	root := certstest.NewCA(t, certstest.WithCommonName("Legacy Root"))
	inter := certstest.NewCA(t, certstest.WithCommonName("Legacy Issuing CA"), certstest.WithIssuer(root))
	leaf := certstest.New(t, certstest.WithDNSNames(mailDomain), certstest.WithIssuer(inter))
	return pki{root: root, inter: inter, leaf: leaf}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// chainPEM is the leaf and its intermediate, as servers send them.
func (p pki) chainPEM() []byte { return cat(p.leaf.CertPEM, p.inter.CertPEM) }

// assertValid runs m through the pipeline every source feeds and checks
// the winner is the PKI's leaf.
func assertValid(t *testing.T, m sources.Material, p pki) {
	t.Helper()
	c := selection.Evaluate("https", m, nil, certs.Requirements{DNSNames: []string{mailDomain}}, time.Now())
	if !c.Valid {
		t.Fatalf("candidate not valid: %s: %s", c.Reason, c.Message)
	}
	if c.Bundle.SHA256() != certs.Fingerprint(p.leaf.Cert) {
		t.Fatalf("got %s, want the PKI's leaf", certs.Describe(c.Bundle.Leaf))
	}
}

func TestHTTPSFetchPEMBundle(t *testing.T) {
	p := newPKI(t)
	openssl := cat([]byte("Bag Attributes\n    localKeyID: 01\nsubject=CN = mail.example.com\n"), p.leaf.CertPEM,
		[]byte("subject=CN = Legacy Issuing CA\n"), p.inter.CertPEM,
		[]byte("Bag Attributes\n    localKeyID: 01\nKey Attributes: <No Attributes>\n"), p.leaf.KeyPKCS8PEM)
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	for name, body := range map[string][]byte{
		"chain then key":           cat(p.chainPEM(), p.leaf.KeyPEM),
		"key first":                cat(p.leaf.KeyPEM, p.chainPEM()),
		"openssl pkcs12 -nodes":    openssl,
		"CRLF":                     bytes.ReplaceAll(cat(p.chainPEM(), p.leaf.KeyPEM), []byte("\n"), []byte("\r\n")),
		"EC PARAMETERS before key": cat(p.chainPEM(), ecParams, p.leaf.KeyPEM),
		"chain with its root":      cat(p.chainPEM(), p.root.CertPEM, p.leaf.KeyPEM),
	} {
		t.Run(name, func(t *testing.T) {
			srv := newPKIServer(t)
			srv.file("/mail.pem", pemType, "", body)
			var f sources.HTTPSFetcher
			m, info, err := f.Fetch(context.Background(), "mail/cs/pki", srv.config("/mail.pem"))
			if err != nil {
				t.Fatal(err)
			}
			assertValid(t, m, p)
			if info.NotModified || info.Requests != 1 || info.BytesTransferred != int64(len(body)) {
				t.Errorf("info %+v, want one request of %d bytes", info, len(body))
			}
		})
	}
}

// A damaged block must reach the parser (and be reported), not vanish.
func TestHTTPSFetchPEMDamagedBlockIsReported(t *testing.T) {
	p := newPKI(t)
	inter := bytes.TrimSuffix(p.inter.CertPEM, []byte("-----END CERTIFICATE-----\n")) // END line lost
	srv := newPKIServer(t)
	srv.file("/mail.pem", pemType, "", cat(p.leaf.CertPEM, inter, p.leaf.KeyPEM))
	var f sources.HTTPSFetcher
	m, _, err := f.Fetch(context.Background(), "k", srv.config("/mail.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c := selection.Evaluate("https", m, nil, certs.Requirements{}, time.Now())
	if c.Valid || c.Reason != certs.ReasonParseError {
		t.Fatalf("got %s (%s), want the truncated block reported as %s", c.Reason, c.Message, certs.ReasonParseError)
	}
}

func TestHTTPSFetchPEMWithoutKey(t *testing.T) {
	p := newPKI(t)
	srv := newPKIServer(t)
	srv.file("/chain.pem", pemType, "", p.chainPEM())
	var f sources.HTTPSFetcher
	_, _, err := f.Fetch(context.Background(), "k", srv.config("/chain.pem"))
	sourceError(t, err, certs.ReasonNoPrivateKey)
}

func TestHTTPSFetchDERInsteadOfPEM(t *testing.T) {
	p := newPKI(t)
	srv := newPKIServer(t)
	srv.file("/mail.cer", "application/pkix-cert", "", p.leaf.Cert.Raw)
	var f sources.HTTPSFetcher
	_, _, err := f.Fetch(context.Background(), "k", srv.config("/mail.cer"))
	se := sourceError(t, err, certs.ReasonNotPEM)
	if !bytes.Contains([]byte(se.Message), []byte("DER")) {
		t.Errorf("message %q does not say it is DER", se.Message)
	}
}

func TestHTTPSFetchSeparateKeyURL(t *testing.T) {
	p := newPKI(t)
	srv := newPKIServer(t)
	srv.file("/chain.pem", pemType, `"c1"`, p.chainPEM())
	srv.file("/key.pem", pemType, `"k1"`, p.leaf.KeyPEM)
	cfg := srv.config("/chain.pem")
	cfg.KeyURL = srv.URL + "/key.pem"
	var f sources.HTTPSFetcher
	m, info, err := f.Fetch(context.Background(), "k", cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertValid(t, m, p)
	if info.Requests != 2 {
		t.Errorf("%d requests, want 2", info.Requests)
	}
	// Both answer 304 the second time.
	m2, info, err := f.Fetch(context.Background(), "k", cfg)
	if err != nil || !info.NotModified || info.BytesTransferred != 0 || !reflect.DeepEqual(m, m2) {
		t.Fatalf("second fetch: info %+v, err %v, same material %v", info, err, reflect.DeepEqual(m, m2))
	}
	// A new key alone (a re-key with the same chain cannot validate, but the
	// fetch must still notice the change).
	srv.file("/key.pem", pemType, `"k2"`, certstest.New(t).KeyPEM)
	_, info, err = f.Fetch(context.Background(), "k", cfg)
	if err != nil || info.NotModified {
		t.Fatalf("after the key changed: info %+v, err %v; want a fresh fetch", info, err)
	}
}

func TestHTTPSFetchPKCS12(t *testing.T) {
	p := newPKI(t)
	const password = "pfx-password"
	for name, enc := range map[string]*pkcs12.Encoder{
		"modern":     pkcs12.Modern,
		"legacy RC2": pkcs12.LegacyRC2,
		"legacy DES": pkcs12.LegacyDES,
	} {
		t.Run(name, func(t *testing.T) {
			pfx, err := enc.Encode(p.leaf.Key, p.leaf.Cert, []*x509.Certificate{p.root.Cert, p.inter.Cert}, password)
			if err != nil {
				t.Fatal(err)
			}
			srv := newPKIServer(t)
			srv.file("/mail.p12", p12Type, `"v1"`, pfx)
			cfg := srv.config("/mail.p12")
			cfg.Format, cfg.PKCS12Password = sources.FormatPKCS12, password
			var f sources.HTTPSFetcher
			m, _, err := f.Fetch(context.Background(), "k", cfg)
			if err != nil {
				t.Fatal(err)
			}
			assertValid(t, m, p)
			if !bytes.Equal(m.CAPEM, p.root.CertPEM) {
				t.Errorf("CA is %q, want the root", m.CAPEM)
			}
			if got := srv.requestsFor("/mail.p12")[0].header.Get("Accept"); !bytes.Contains([]byte(got), []byte(p12Type)) {
				t.Errorf("Accept %q does not ask for PKCS#12", got)
			}

			cfg.PKCS12Password = "wrong"
			_, _, err = f.Fetch(context.Background(), "k", cfg)
			if se := sourceError(t, err, certs.ReasonPKCS12Password); se.Transient {
				t.Error("a wrong password is not transient")
			}
		})
	}
}

func TestHTTPSFetchAuth(t *testing.T) {
	p := newPKI(t)
	body := cat(p.chainPEM(), p.leaf.KeyPEM)
	srv := newPKIServer(t)
	srv.handle("/bearer.pem", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(body)
	})
	srv.handle("/basic.pem", func(w http.ResponseWriter, r *http.Request) {
		if u, pw, ok := r.BasicAuth(); !ok || u != "certsync" || pw != "good-password" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = w.Write(body)
	})
	cases := []struct {
		name, path string
		auth       sources.HTTPSAuth
		ok         bool
		hint       string
	}{
		{"bearer", "/bearer.pem", sources.HTTPSAuth{Token: "good-token\n"}, true, ""},
		{"bearer, wrong token", "/bearer.pem", sources.HTTPSAuth{Token: "bad-token"}, false, "401 Unauthorized; check the credentials"},
		{"bearer, none", "/bearer.pem", sources.HTTPSAuth{}, false, "401 Unauthorized; the endpoint wants credentials"},
		{"basic", "/basic.pem", sources.HTTPSAuth{Username: "certsync", Password: "good-password"}, true, ""},
		{"basic, wrong password", "/basic.pem", sources.HTTPSAuth{Username: "certsync", Password: "bad-password"}, false, "403 Forbidden; check the credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config(tc.path)
			cfg.Auth = tc.auth
			var f sources.HTTPSFetcher
			m, _, err := f.Fetch(context.Background(), "k", cfg)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				assertValid(t, m, p)
				return
			}
			se := sourceError(t, err, sources.ReasonHTTPStatus)
			if se.Transient || !bytes.Contains([]byte(se.Message), []byte(tc.hint)) {
				t.Errorf("got %q (transient %v); want a permanent error saying %q", se.Message, se.Transient, tc.hint)
			}
		})
	}
}

// A caller-supplied client brings its own transport and trust; Fetch still
// applies its redirect rules.
func TestHTTPSFetchCustomClient(t *testing.T) {
	p := newPKI(t)
	srv, other := newPKIServer(t), newPKIServer(t)
	srv.file("/mail.pem", pemType, "", cat(p.chainPEM(), p.leaf.KeyPEM))
	srv.handle("/moved.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/mail.pem", http.StatusFound)
	})
	f := sources.HTTPSFetcher{Client: srv.Client()}
	cfg := srv.config("/mail.pem")
	cfg.CAPEM = nil // the client's trust applies
	m, _, err := f.Fetch(context.Background(), "k", cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertValid(t, m, p)
	cfg.URL = srv.URL + "/moved.pem"
	_, _, err = f.Fetch(context.Background(), "k", cfg)
	sourceError(t, err, sources.ReasonRedirected)
	if other.requestCount() != 0 {
		t.Error("the client followed a cross-host redirect")
	}
}
