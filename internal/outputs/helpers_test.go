package outputs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

const testPassword = "s3cret-Passw0rd"

var keyTypes = []certstest.KeyType{certstest.RSA, certstest.ECDSA, certstest.Ed25519}

// allFormats selects every format with the test password.
var allFormats = Options{Formats: AllFormats, Password: testPassword}

// pki is a root CA and an intermediate that issues the leaves, so bundles
// have a chain (leaf + intermediate) and a CA (root) as a real one would.
type pki struct{ root, inter *certstest.CA }

func newPKI(t testing.TB) pki {
	t.Helper()
	root := certstest.NewCA(t, certstest.WithCommonName("test root"))
	inter := certstest.NewCA(t, certstest.WithCommonName("test intermediate"), certstest.WithIssuer(root))
	return pki{root, inter}
}

// bundle issues a leaf with a key of type kt; tls.crt is leaf +
// intermediate, ca.crt the root when withCA.
func (p pki) bundle(t testing.TB, kt certstest.KeyType, withCA bool) *certs.Bundle {
	t.Helper()
	leaf := certstest.New(t, certstest.WithKeyType(kt), certstest.WithIssuer(p.inter))
	var caPEM []byte
	if withCA {
		caPEM = p.root.CertPEM
	}
	return parse(t, append(append([]byte(nil), leaf.CertPEM...), p.inter.CertPEM...), leaf.KeyPEM, caPEM)
}

// selfSigned is a self-signed leaf whose ca.crt is itself, as tools that
// generate self-signed certificates often write it.
func selfSigned(t testing.TB, kt certstest.KeyType) *certs.Bundle {
	t.Helper()
	p := certstest.New(t, certstest.WithKeyType(kt))
	return parse(t, p.CertPEM, p.KeyPEM, p.CertPEM)
}

func parse(t testing.TB, certPEM, keyPEM, caPEM []byte) *certs.Bundle {
	t.Helper()
	b, err := certs.ParseBundle(certPEM, keyPEM, caPEM)
	if err != nil {
		t.Fatalf("ParseBundle: %v", err)
	}
	return b
}

func mustData(t testing.TB, b *certs.Bundle, opts Options, existing map[string][]byte) map[string][]byte {
	t.Helper()
	out, err := Data(b, opts, existing)
	if err != nil {
		t.Fatalf("Data: %v", err)
	}
	return out
}

// wantCAs is what keystore.p12 should hold after the leaf.
func wantCAs(b *certs.Bundle) []*x509.Certificate {
	out := append([]*x509.Certificate(nil), b.Chain...)
	for _, ca := range b.CA {
		if !ca.Equal(b.Leaf) && !containsCert(out, ca) {
			out = append(out, ca)
		}
	}
	return out
}

func checkKey(t *testing.T, got any, want crypto.Signer) {
	t.Helper()
	if !sameKey(got, want) {
		t.Errorf("decoded key %T differs from the bundle's key", got)
	}
}

func checkCerts(t *testing.T, what string, got, want []*x509.Certificate) {
	t.Helper()
	if !sameCerts(got, want) {
		t.Errorf("%s: got %d certificates %v, want %d %v", what, len(got), subjects(got), len(want), subjects(want))
	}
}

func subjects(cs []*x509.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Subject.CommonName
	}
	return out
}

// pemCerts parses every CERTIFICATE block in data, skipping other blocks
// and text (openssl prints "Bag Attributes" lines).
func pemCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("parse certificate: %v", err)
		}
		out = append(out, c)
	}
}

// noSecrets fails when an error message contains the password or any
// encoding of the key.
func noSecrets(t *testing.T, err error, password string, b *certs.Bundle) {
	t.Helper()
	msg := err.Error()
	if password != "" && bytes.Contains([]byte(msg), []byte(password)) {
		t.Errorf("error contains the password: %s", msg)
	}
	if der, e := x509.MarshalPKCS8PrivateKey(b.Key); e == nil && bytes.Contains([]byte(msg), der) {
		t.Errorf("error contains the key")
	}
	if len(b.KeyPEM) > 0 {
		body := b.KeyPEM[bytes.IndexByte(b.KeyPEM, '\n')+1:]
		if line := body[:min(40, len(body))]; bytes.Contains([]byte(msg), line) {
			t.Errorf("error contains PEM key material")
		}
	}
}
