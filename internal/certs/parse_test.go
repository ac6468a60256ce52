package certs_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func crlf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

func block(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func reasonOf(t *testing.T, err error) *certs.Error {
	t.Helper()
	var e *certs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *certs.Error", err, err)
	}
	return e
}

// chainFixture is root -> intermediate -> leaf, the shape most public CAs use.
type chainFixture struct {
	root, inter *certstest.CA
	leaf        *certstest.Pair
}

func newChain(t testing.TB, opts ...certstest.Option) chainFixture {
	t.Helper()
	root := certstest.NewCA(t, certstest.WithCommonName("Test Root"))
	inter := certstest.NewCA(t, certstest.WithCommonName("Test Intermediate"), certstest.WithIssuer(root))
	leaf := certstest.New(t, append([]certstest.Option{certstest.WithIssuer(inter)}, opts...)...)
	return chainFixture{root: root, inter: inter, leaf: leaf}
}

func TestParseBundleValid(t *testing.T) {
	rsaPair := certstest.New(t, certstest.WithKeyType(certstest.RSA), certstest.WithDNSNames("rsa.example.com"))
	ecPair := certstest.New(t, certstest.WithKeyType(certstest.ECDSA), certstest.WithDNSNames("ec.example.com"))
	edPair := certstest.New(t, certstest.WithKeyType(certstest.Ed25519), certstest.WithDNSNames("ed.example.com"))
	ch := newChain(t, certstest.WithDNSNames("mail.example.com"))

	ecParams, err := asn1ECParamsP256()
	if err != nil {
		t.Fatal(err)
	}
	bagAttributes := func(cn string) []byte {
		return []byte("Bag Attributes\n    localKeyID: 01 02 03 04\n    friendlyName: " + cn +
			"\nsubject=CN = " + cn + "\n\nissuer=CN = Test Intermediate\n\n")
	}

	many := make([]string, 500)
	for i := range many {
		many[i] = fmt.Sprintf("host-%03d.mail.example.com", i)
	}
	manySANs := certstest.New(t, certstest.WithDNSNames(many...))

	tests := []struct {
		name          string
		cert, key, ca []byte
		want          *certstest.Pair
		wantKeyType   string
		wantChain     int
		wantCA        int
		wantCertPEM   []byte
	}{
		{name: "RSA PKCS#1", cert: rsaPair.CertPEM, key: rsaPair.KeyPKCS1PEM, want: rsaPair, wantKeyType: "RSA PRIVATE KEY"},
		{name: "RSA PKCS#8", cert: rsaPair.CertPEM, key: rsaPair.KeyPKCS8PEM, want: rsaPair, wantKeyType: "PRIVATE KEY"},
		{name: "ECDSA SEC1", cert: ecPair.CertPEM, key: ecPair.KeySEC1PEM, want: ecPair, wantKeyType: "EC PRIVATE KEY"},
		{name: "ECDSA PKCS#8", cert: ecPair.CertPEM, key: ecPair.KeyPKCS8PEM, want: ecPair, wantKeyType: "PRIVATE KEY"},
		{name: "Ed25519 PKCS#8", cert: edPair.CertPEM, key: edPair.KeyPKCS8PEM, want: edPair, wantKeyType: "PRIVATE KEY"},
		{
			name: "chain with intermediate and CA", cert: cat(ch.leaf.CertPEM, ch.inter.CertPEM), key: ch.leaf.KeyPEM, ca: ch.root.CertPEM,
			want: ch.leaf, wantKeyType: "EC PRIVATE KEY", wantChain: 1, wantCA: 1,
		},
		{
			name: "chain including the root", cert: ch.leaf.ChainPEM, key: ch.leaf.KeyPEM,
			want: ch.leaf, wantKeyType: "EC PRIVATE KEY", wantChain: 2,
		},
		{
			name: "CRLF line endings", cert: crlf(ch.leaf.ChainPEM), key: crlf(ch.leaf.KeyPEM), ca: crlf(ch.root.CertPEM),
			want: ch.leaf, wantKeyType: "EC PRIVATE KEY", wantChain: 2, wantCA: 1, wantCertPEM: ch.leaf.ChainPEM,
		},
		{
			name: "openssl text between blocks",
			cert: cat([]byte("subject=CN = mail.example.com\n"), ch.leaf.CertPEM, bagAttributes("Test Intermediate"), ch.inter.CertPEM, []byte("\n\n")),
			key:  cat([]byte("Bag Attributes\n    localKeyID: 01 02 03 04\nKey Attributes: <No Attributes>\n"), ch.leaf.KeyPKCS8PEM),
			want: ch.leaf, wantKeyType: "PRIVATE KEY", wantChain: 1, wantCertPEM: cat(ch.leaf.CertPEM, ch.inter.CertPEM),
		},
		{
			name: "EC PARAMETERS block before the key is dropped", cert: ecPair.CertPEM,
			key: cat(block("EC PARAMETERS", ecParams), ecPair.KeySEC1PEM), want: ecPair, wantKeyType: "EC PRIVATE KEY",
		},
		{
			name: "combined file in the key field", cert: ecPair.CertPEM, key: cat(ecPair.CertPEM, ecPair.KeySEC1PEM),
			want: ecPair, wantKeyType: "EC PRIVATE KEY",
		},
		{
			name: "UTF-8 BOM and surrounding whitespace", cert: cat([]byte("\xef\xbb\xbf"), ecPair.CertPEM), key: cat([]byte("\n\n  \n"), ecPair.KeySEC1PEM, []byte("\n \n")),
			want: ecPair, wantKeyType: "EC PRIVATE KEY",
		},
		{
			name: "key block headers are dropped", cert: ecPair.CertPEM, want: ecPair, wantKeyType: "EC PRIVATE KEY",
			key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Comment": "from the legacy PKI"}, Bytes: mustDecode(t, ecPair.KeySEC1PEM)}),
		},
		{name: "whitespace-only CA is no CA", cert: ecPair.CertPEM, key: ecPair.KeyPEM, ca: []byte(" \n"), want: ecPair, wantKeyType: "EC PRIVATE KEY"},
		{name: "500 SANs", cert: manySANs.CertPEM, key: manySANs.KeyPEM, want: manySANs, wantKeyType: "EC PRIVATE KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := certs.ParseBundle(tc.cert, tc.key, tc.ca)
			if err != nil {
				t.Fatalf("ParseBundle: %v", err)
			}
			if !b.Leaf.Equal(tc.want.Cert) {
				t.Errorf("leaf = %s, want %s", certs.Describe(b.Leaf), certs.Describe(tc.want.Cert))
			}
			if b.SHA256() != certs.Fingerprint(tc.want.Cert) {
				t.Errorf("SHA256 = %s, want %s", b.SHA256(), certs.Fingerprint(tc.want.Cert))
			}
			if !b.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.want.Key.Public()) {
				t.Error("key differs from the generated one")
			}
			if len(b.Chain) != tc.wantChain {
				t.Errorf("len(Chain) = %d, want %d", len(b.Chain), tc.wantChain)
			}
			if len(b.CA) != tc.wantCA {
				t.Errorf("len(CA) = %d, want %d", len(b.CA), tc.wantCA)
			}
			if (b.CAPEM == nil) != (tc.wantCA == 0) {
				t.Errorf("CAPEM nil = %v with %d CA certificates", b.CAPEM == nil, tc.wantCA)
			}
			wantCertPEM := tc.wantCertPEM
			if wantCertPEM == nil {
				wantCertPEM = tc.cert
				if tc.wantChain == 0 {
					wantCertPEM = tc.want.CertPEM
				}
			}
			if !bytes.Equal(b.CertPEM, wantCertPEM) {
				t.Errorf("CertPEM is not the canonical encoding:\n%s", b.CertPEM)
			}
			kb, rest := pem.Decode(b.KeyPEM)
			if kb == nil || len(rest) != 0 || len(kb.Headers) != 0 {
				t.Fatalf("KeyPEM is not exactly one header-free PEM block")
			}
			if kb.Type != tc.wantKeyType {
				t.Errorf("KeyPEM block type = %q, want %q", kb.Type, tc.wantKeyType)
			}
			if bytes.Contains(b.CertPEM, []byte("\r")) || bytes.Contains(b.KeyPEM, []byte("\r")) || bytes.Contains(b.CAPEM, []byte("\r")) {
				t.Error("canonical output contains CR")
			}
		})
	}
}

func mustDecode(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

// asn1ECParamsP256 is what `openssl ecparam -name prime256v1` writes before
// the key: the named-curve OID.
func asn1ECParamsP256() ([]byte, error) {
	return base64.StdEncoding.DecodeString("BggqhkjOPQMBBw==")
}

type errorCase struct {
	name          string
	cert, key, ca []byte
	reason        string
	contains      []string // substrings the message must have
}

// errorCases covers every reason ParseBundle can return, so the tests below
// can check both the reason and properties of every message.
func errorCases(t *testing.T) []errorCase {
	t.Helper()
	ec := certstest.New(t, certstest.WithDNSNames("mail.example.com"))
	otherEC := certstest.New(t)
	rsaPair := certstest.New(t, certstest.WithKeyType(certstest.RSA))
	ed := certstest.New(t, certstest.WithKeyType(certstest.Ed25519))
	otherEd := certstest.New(t, certstest.WithKeyType(certstest.Ed25519))
	ch := newChain(t)
	unrelatedCA := certstest.NewCA(t, certstest.WithCommonName("Unrelated CA"))

	tooLarge := bytes.Repeat([]byte("A"), certs.MaxInputSize+1)
	html := []byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n")
	garbage := make([]byte, 512)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	garbage[0] = 0x01 // not a DER SEQUENCE, so the generic binary path is taken

	certDER, _ := pem.Decode(ec.CertPEM)
	keyDER, _ := pem.Decode(ec.KeySEC1PEM)
	pkcs8DER, _ := pem.Decode(ec.KeyPKCS8PEM)

	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519DER, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatal(err)
	}
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "EC PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   keyDER.Bytes,
	})
	pubDER, err := x509.MarshalPKIXPublicKey(ec.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	half := func(b []byte) []byte { return b[:len(b)/2] }
	interKeyDER, err := x509.MarshalPKCS8PrivateKey(ch.inter.Key)
	if err != nil {
		t.Fatal(err)
	}
	interKeyPEM := block("PRIVATE KEY", interKeyDER)

	// A certificate for a 20000-bit RSA key: cheap to make without the
	// private half, expensive to verify against.
	hugeN, err := rand.Prime(rand.Reader, 64)
	if err != nil {
		t.Fatal(err)
	}
	hugeN.Lsh(hugeN, 20000-64).SetBit(hugeN, 0, 1)
	hugeDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: ec.Cert.NotBefore, NotAfter: ec.Cert.NotAfter},
		ch.inter.Cert, &rsa.PublicKey{N: hugeN, E: 65537}, ch.inter.Key)
	if err != nil {
		t.Fatal(err)
	}

	return []errorCase{
		{name: "nil cert", cert: nil, key: ec.KeyPEM, reason: certs.ReasonEmpty, contains: []string{"certificate data is empty"}},
		{name: "whitespace cert", cert: []byte(" \r\n\t\n"), key: ec.KeyPEM, reason: certs.ReasonEmpty},
		{name: "empty key", cert: ec.CertPEM, key: []byte{}, reason: certs.ReasonEmpty, contains: []string{"private key data is empty"}},

		{name: "oversize cert", cert: tooLarge, key: ec.KeyPEM, reason: certs.ReasonTooLarge},
		{name: "oversize key", cert: ec.CertPEM, key: tooLarge, reason: certs.ReasonTooLarge},
		{name: "oversize CA checked before a broken cert", cert: html, key: ec.KeyPEM, ca: tooLarge, reason: certs.ReasonTooLarge, contains: []string{"CA data"}},
		{name: "oversize valid PEM", cert: cat(ec.CertPEM, bytes.Repeat([]byte("\n"), certs.MaxInputSize)), key: ec.KeyPEM, reason: certs.ReasonTooLarge},

		{name: "garbage bytes", cert: garbage, key: ec.KeyPEM, reason: certs.ReasonNotPEM},
		{name: "text", cert: []byte("hello world\n"), key: ec.KeyPEM, reason: certs.ReasonNotPEM, contains: []string{"-----BEGIN <TYPE>-----"}},
		{name: "HTML page", cert: html, key: ec.KeyPEM, reason: certs.ReasonNotPEM, contains: []string{"looks like HTML"}},
		{name: "HTML after whitespace", cert: cat([]byte("\r\n \t\n"), html), key: ec.KeyPEM, reason: certs.ReasonNotPEM, contains: []string{"looks like HTML"}},
		{name: "HTML as key", cert: ec.CertPEM, key: html, reason: certs.ReasonNotPEM, contains: []string{"private key data", "looks like HTML"}},
		{name: "JSON", cert: []byte(`{"error":"unauthorized"}`), key: ec.KeyPEM, reason: certs.ReasonNotPEM, contains: []string{"JSON"}},
		{name: "DER certificate", cert: certDER.Bytes, key: ec.KeyPEM, reason: certs.ReasonNotPEM, contains: []string{"DER-encoded certificate"}},
		{name: "double base64", cert: []byte(base64.StdEncoding.EncodeToString(ec.CertPEM)), key: ec.KeyPEM, reason: certs.ReasonNotPEM, contains: []string{"base64-encoded twice"}},

		{name: "certificate block with garbage DER", cert: block("CERTIFICATE", []byte("not a certificate")), key: ec.KeyPEM, reason: certs.ReasonParseError, contains: []string{"certificate 1 does not parse"}},
		{name: "truncated PEM", cert: half(ec.CertPEM), key: ec.KeyPEM, reason: certs.ReasonParseError, contains: []string{"truncated"}},
		{name: "truncated intermediate", cert: cat(ch.leaf.CertPEM, half(ch.inter.CertPEM)), key: ch.leaf.KeyPEM, reason: certs.ReasonParseError, contains: []string{"PEM block 2"}},
		{name: "truncated block followed by a good one", cert: cat(half(ch.leaf.CertPEM), []byte("\n"), ch.inter.CertPEM), key: ch.leaf.KeyPEM, reason: certs.ReasonParseError, contains: []string{"PEM block 1"}},
		{name: "missing END line", cert: bytes.Replace(ec.CertPEM, []byte("-----END CERTIFICATE-----"), nil, 1), key: ec.KeyPEM, reason: certs.ReasonParseError},
		{name: "invalid base64", cert: bytes.Replace(ec.CertPEM, []byte("\nM"), []byte("\n!"), 1), key: ec.KeyPEM, reason: certs.ReasonParseError},
		{name: "trailing garbage", cert: cat(ec.CertPEM, []byte("garbage\n")), key: ec.KeyPEM, reason: certs.ReasonParseError, contains: []string{"after the last PEM block"}},
		{name: "trailing HTML", cert: cat(ec.CertPEM, html), key: ec.KeyPEM, reason: certs.ReasonParseError, contains: []string{"looks like HTML"}},
		{name: "private key in certificate data", cert: cat(ec.CertPEM, ec.KeyPEM), key: ec.KeyPEM, reason: certs.ReasonParseError, contains: []string{"private key block"}},
		{name: "broken CA", cert: ec.CertPEM, key: ec.KeyPEM, ca: half(ch.root.CertPEM), reason: certs.ReasonParseError, contains: []string{"CA data"}},

		{name: "only a public key", cert: block("PUBLIC KEY", pubDER), key: ec.KeyPEM, reason: certs.ReasonNoCertificate, contains: []string{"PUBLIC KEY"}},
		{name: "only a private key", cert: ec.KeyPEM, key: ec.KeyPEM, reason: certs.ReasonNoCertificate},
		{name: "CA without certificates", cert: ec.CertPEM, key: ec.KeyPEM, ca: block("X509 CRL", []byte{0x30, 0x00}), reason: certs.ReasonNoCertificate, contains: []string{"CA data"}},

		{name: "certificate as key", cert: ec.CertPEM, key: ec.CertPEM, reason: certs.ReasonNoPrivateKey, contains: []string{"CERTIFICATE"}},
		{name: "public key as key", cert: ec.CertPEM, key: block("PUBLIC KEY", pubDER), reason: certs.ReasonNoPrivateKey},

		{name: "garbage SEC1", cert: ec.CertPEM, key: block("EC PRIVATE KEY", []byte("garbage")), reason: certs.ReasonKeyParseError},
		{name: "garbage PKCS#1", cert: rsaPair.CertPEM, key: block("RSA PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}), reason: certs.ReasonKeyParseError},
		{name: "garbage PKCS#8", cert: ec.CertPEM, key: block("PRIVATE KEY", []byte{0x30, 0x00}), reason: certs.ReasonKeyParseError},
		{name: "PKCS#8 labelled as SEC1", cert: ec.CertPEM, key: block("EC PRIVATE KEY", pkcs8DER.Bytes), reason: certs.ReasonKeyParseError, contains: []string{"labelled as SEC1", "PKCS#8"}},
		{name: "trailing data after key DER", cert: ec.CertPEM, key: block("EC PRIVATE KEY", cat(keyDER.Bytes, []byte{0, 0})), reason: certs.ReasonKeyParseError},
		{name: "two keys", cert: ec.CertPEM, key: cat(ec.KeySEC1PEM, ec.KeyPKCS8PEM), reason: certs.ReasonKeyParseError, contains: []string{"more than one"}},
		{name: "truncated key", cert: ec.CertPEM, key: half(ec.KeyPEM), reason: certs.ReasonKeyParseError, contains: []string{"truncated"}},
		{name: "trailing garbage after key", cert: ec.CertPEM, key: cat(ec.KeyPEM, []byte("oops")), reason: certs.ReasonKeyParseError},

		{name: "encrypted PKCS#8", cert: ec.CertPEM, key: block("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}), reason: certs.ReasonUnsupportedKey, contains: []string{"unencrypted"}},
		{name: "legacy encrypted PEM", cert: ec.CertPEM, key: legacyEncrypted, reason: certs.ReasonUnsupportedKey, contains: []string{"passphrase"}},
		{name: "OpenSSH key", cert: ec.CertPEM, key: block("OPENSSH PRIVATE KEY", []byte("openssh-key-v1\x00")), reason: certs.ReasonUnsupportedKey},
		{name: "DSA key", cert: ec.CertPEM, key: block("DSA PRIVATE KEY", []byte{0x30, 0x00}), reason: certs.ReasonUnsupportedKey},
		{name: "X25519 key", cert: ec.CertPEM, key: block("PRIVATE KEY", x25519DER), reason: certs.ReasonUnsupportedKey, contains: []string{"X25519"}},

		{name: "huge RSA key in chain", cert: cat(ec.CertPEM, block("CERTIFICATE", hugeDER)), key: ec.KeyPEM, reason: certs.ReasonUnsupportedKey, contains: []string{"certificate 2", "20000-bit RSA key"}},
		{name: "huge RSA leaf", cert: block("CERTIFICATE", hugeDER), key: ec.KeyPEM, reason: certs.ReasonUnsupportedKey, contains: []string{"certificate 1"}},
		{name: "oversize key DER", cert: rsaPair.CertPEM, key: block("RSA PRIVATE KEY", bytes.Repeat([]byte{0x30}, 17<<10)), reason: certs.ReasonUnsupportedKey, contains: []string{"larger than any supported key"}},
		{name: "ECDSA key of another certificate", cert: ec.CertPEM, key: otherEC.KeyPEM, reason: certs.ReasonKeyMismatch, contains: []string{"both ECDSA P-256"}},
		{name: "Ed25519 key of another certificate", cert: ed.CertPEM, key: otherEd.KeyPEM, reason: certs.ReasonKeyMismatch, contains: []string{"both Ed25519"}},
		{name: "RSA key for ECDSA certificate", cert: ec.CertPEM, key: rsaPair.KeyPKCS1PEM, reason: certs.ReasonKeyMismatch, contains: []string{"(RSA 2048 key vs ECDSA P-256 certificate)"}},
		{name: "ECDSA key for RSA certificate", cert: rsaPair.CertPEM, key: ec.KeyPKCS8PEM, reason: certs.ReasonKeyMismatch, contains: []string{"(ECDSA P-256 key vs RSA 2048 certificate)"}},
		{name: "Ed25519 key for ECDSA certificate", cert: ec.CertPEM, key: ed.KeyPEM, reason: certs.ReasonKeyMismatch, contains: []string{"Ed25519 key vs ECDSA P-256 certificate"}},

		{name: "root before intermediate", cert: cat(ch.leaf.CertPEM, ch.root.CertPEM, ch.inter.CertPEM), key: ch.leaf.KeyPEM, reason: certs.ReasonChainInvalid, contains: []string{"certificate 1", "certificate 3 signed it"}},
		{name: "intermediate missing", cert: cat(ch.leaf.CertPEM, ch.root.CertPEM), key: ch.leaf.KeyPEM, reason: certs.ReasonChainInvalid, contains: []string{"CN=Test Root"}},
		{name: "unrelated CA in chain", cert: cat(ch.leaf.CertPEM, ch.inter.CertPEM, unrelatedCA.CertPEM), key: ch.leaf.KeyPEM, reason: certs.ReasonChainInvalid, contains: []string{"certificate 2 (CN=Test Intermediate)"}},
		{name: "self-signed leaf with a chain", cert: cat(ec.CertPEM, ch.inter.CertPEM), key: ec.KeyPEM, reason: certs.ReasonChainInvalid},
		{name: "reversed chain", cert: cat(ch.root.CertPEM, ch.inter.CertPEM, ch.leaf.CertPEM), key: ch.leaf.KeyPEM, reason: certs.ReasonChainInvalid, contains: []string{"belongs to certificate 3 (CN=example.com)"}},
		{name: "intermediate first", cert: cat(ch.inter.CertPEM, ch.leaf.CertPEM), key: ch.leaf.KeyPEM, reason: certs.ReasonChainInvalid, contains: []string{"certificate 2"}},
		{name: "CA certificate with its issued certificate reversed", cert: cat(ch.inter.CertPEM, ch.leaf.CertPEM), key: interKeyPEM, reason: certs.ReasonChainInvalid, contains: []string{"looks reversed"}},
		{name: "leaf twice", cert: cat(ch.leaf.CertPEM, ch.leaf.CertPEM), key: ch.leaf.KeyPEM, reason: certs.ReasonChainInvalid},
	}
}

func TestParseBundleErrors(t *testing.T) {
	for _, tc := range errorCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b, err := certs.ParseBundle(tc.cert, tc.key, tc.ca)
			if err == nil {
				t.Fatalf("ParseBundle succeeded (leaf %s), want reason %s", certs.Describe(b.Leaf), tc.reason)
			}
			if b != nil {
				t.Error("bundle returned together with an error")
			}
			e := reasonOf(t, err)
			t.Log(e.Error())
			if e.Reason != tc.reason {
				t.Fatalf("reason = %s, want %s (message: %s)", e.Reason, tc.reason, e.Message)
			}
			for _, s := range tc.contains {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not contain %q", e.Message, s)
				}
			}
			if e.Error() != e.Reason+": "+e.Message {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
}

// TestParseBundleReasonsCovered keeps errorCases honest: a new reason
// without a case fails here.
func TestParseBundleReasonsCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range errorCases(t) {
		seen[tc.reason] = true
	}
	for _, r := range []string{
		certs.ReasonEmpty, certs.ReasonTooLarge, certs.ReasonNotPEM, certs.ReasonParseError,
		certs.ReasonNoCertificate, certs.ReasonNoPrivateKey, certs.ReasonKeyParseError,
		certs.ReasonUnsupportedKey, certs.ReasonKeyMismatch, certs.ReasonChainInvalid,
	} {
		if !seen[r] {
			t.Errorf("no error case for reason %s", r)
		}
	}
}

// Messages end up in status, events and logs, which must never carry keys.
func TestErrorMessagesHaveNoKeyMaterial(t *testing.T) {
	cases := errorCases(t)
	for _, tc := range cases {
		_, err := certs.ParseBundle(tc.cert, tc.key, tc.ca)
		if err == nil {
			t.Fatalf("%s: unexpectedly parsed", tc.name)
		}
		msg := reasonOf(t, err).Message
		if strings.Contains(msg, "PRIVATE KEY") {
			t.Errorf("%s: message names a private key block: %q", tc.name, msg)
		}
		for _, input := range [][]byte{tc.key, tc.cert, tc.ca} {
			for _, chunk := range base64Chunks(input) {
				if strings.Contains(msg, chunk) {
					t.Errorf("%s: message contains input base64 %q: %q", tc.name, chunk, msg)
				}
			}
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("%s: message is not one line: %q", tc.name, msg)
		}
	}
}

// base64Chunks returns overlapping 16-character pieces of every PEM body in
// data: any of them in a message would mean input bytes leaked into it.
func base64Chunks(data []byte) []string {
	var chunks []string
	rest := data
	for {
		b, next := pem.Decode(rest)
		if b == nil {
			return chunks
		}
		s := base64.StdEncoding.EncodeToString(b.Bytes)
		for i := 0; i+16 <= len(s); i += 8 {
			chunks = append(chunks, s[i:i+16])
		}
		rest = next
	}
}

func TestParseCertificates(t *testing.T) {
	ch := newChain(t)
	got, err := certs.ParseCertificates(crlf(cat([]byte("subject=CN = x\n"), ch.leaf.ChainPEM)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0].Equal(ch.leaf.Cert) || !got[1].Equal(ch.inter.Cert) || !got[2].Equal(ch.root.Cert) {
		t.Fatalf("got %d certificates, not leaf, intermediate, root", len(got))
	}
	// Served certificates are parsed without a key and without chain checks.
	if _, err := certs.ParseCertificates(cat(ch.root.CertPEM, ch.leaf.CertPEM)); err != nil {
		t.Errorf("out-of-order certificates: %v", err)
	}

	for _, tc := range []struct {
		name   string
		in     []byte
		reason string
	}{
		{"nil", nil, certs.ReasonEmpty},
		{"oversize", bytes.Repeat([]byte{' '}, certs.MaxInputSize+1), certs.ReasonTooLarge},
		{"HTML", []byte("  <html>oops</html>"), certs.ReasonNotPEM},
		{"truncated", ch.leaf.CertPEM[:100], certs.ReasonParseError},
		{"trailing garbage", cat(ch.leaf.CertPEM, []byte("x")), certs.ReasonParseError},
		{"key only", ch.leaf.KeyPEM, certs.ReasonNoCertificate},
		{"certificate and key", cat(ch.leaf.CertPEM, ch.leaf.KeyPEM), certs.ReasonParseError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := certs.ParseCertificates(tc.in)
			if err == nil {
				t.Fatalf("parsed %d certificates, want %s", len(got), tc.reason)
			}
			if e := reasonOf(t, err); e.Reason != tc.reason {
				t.Errorf("reason = %s, want %s (%s)", e.Reason, tc.reason, e.Message)
			}
		})
	}
}

// Targets are written from the canonical encodings; any nondeterminism would
// mean an update, and a rollout, on every reconcile.
func TestCanonicalEncodingIsDeterministic(t *testing.T) {
	ch := newChain(t, certstest.WithKeyType(certstest.RSA))
	ed := certstest.New(t, certstest.WithKeyType(certstest.Ed25519))
	for _, tc := range []struct {
		name          string
		cert, key, ca []byte
	}{
		{"RSA chain PKCS#1", cat(ch.leaf.CertPEM, ch.inter.CertPEM), ch.leaf.KeyPKCS1PEM, ch.root.CertPEM},
		{"RSA chain PKCS#8", cat(ch.leaf.CertPEM, ch.inter.CertPEM), ch.leaf.KeyPKCS8PEM, ch.root.CertPEM},
		{"Ed25519", ed.CertPEM, ed.KeyPEM, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := mustParse(t, tc.cert, tc.key, tc.ca)
			b := mustParse(t, tc.cert, tc.key, tc.ca)
			c := mustParse(t, crlf(tc.cert), crlf(tc.key), crlf(tc.ca))
			d := mustParse(t, a.CertPEM, a.KeyPEM, a.CAPEM)
			for _, other := range []*certs.Bundle{b, c, d} {
				if !bytes.Equal(a.CertPEM, other.CertPEM) || !bytes.Equal(a.KeyPEM, other.KeyPEM) || !bytes.Equal(a.CAPEM, other.CAPEM) {
					t.Fatal("canonical encodings differ between parses")
				}
			}
			// The input was already canonical, so it must come back unchanged.
			if !bytes.Equal(a.CertPEM, tc.cert) || !bytes.Equal(a.KeyPEM, tc.key) || !bytes.Equal(a.CAPEM, tc.ca) {
				t.Error("canonical input was changed")
			}
		})
	}
}

func mustParse(t *testing.T, cert, key, ca []byte) *certs.Bundle {
	t.Helper()
	b, err := certs.ParseBundle(cert, key, ca)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseBundleKeyTypes(t *testing.T) {
	for _, kt := range []certstest.KeyType{certstest.RSA, certstest.ECDSA, certstest.Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			p := certstest.New(t, certstest.WithKeyType(kt))
			b := mustParse(t, p.CertPEM, p.KeyPEM, nil)
			switch b.Key.(type) {
			case *rsa.PrivateKey:
				if kt != certstest.RSA {
					t.Errorf("got RSA key for %s", kt)
				}
			case *ecdsa.PrivateKey:
				if kt != certstest.ECDSA {
					t.Errorf("got ECDSA key for %s", kt)
				}
			case ed25519.PrivateKey:
				if kt != certstest.Ed25519 {
					t.Errorf("got Ed25519 key for %s", kt)
				}
			default:
				t.Errorf("unexpected key type %T", b.Key)
			}
		})
	}
}
