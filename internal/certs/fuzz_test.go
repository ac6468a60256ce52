package certs_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

var knownReasons = map[string]bool{
	certs.ReasonEmpty: true, certs.ReasonTooLarge: true, certs.ReasonNotPEM: true,
	certs.ReasonParseError: true, certs.ReasonNoCertificate: true, certs.ReasonNoPrivateKey: true,
	certs.ReasonKeyParseError: true, certs.ReasonUnsupportedKey: true, certs.ReasonKeyMismatch: true,
	certs.ReasonChainInvalid: true,
}

// checkError asserts the contract every caller relies on: a *Error with a
// known reason and a one-line message that does not name key blocks.
func checkError(t *testing.T, err error) {
	t.Helper()
	var e *certs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *certs.Error", err, err)
	}
	if !knownReasons[e.Reason] {
		t.Fatalf("unknown reason %q", e.Reason)
	}
	if e.Message == "" || strings.ContainsAny(e.Message, "\r\n") || strings.Contains(e.Message, "PRIVATE KEY") {
		t.Fatalf("bad message %q", e.Message)
	}
}

func FuzzParseBundle(f *testing.F) {
	ch := newChain(f)
	rsaPair := certstest.New(f, certstest.WithKeyType(certstest.RSA))
	ed := certstest.New(f, certstest.WithKeyType(certstest.Ed25519))

	f.Add(ch.leaf.CertPEM, ch.leaf.KeySEC1PEM, []byte(nil))
	f.Add(cat(ch.leaf.CertPEM, ch.inter.CertPEM), ch.leaf.KeyPKCS8PEM, ch.root.CertPEM)
	f.Add(crlf(ch.leaf.ChainPEM), crlf(ch.leaf.KeyPEM), crlf(ch.root.CertPEM))
	f.Add(rsaPair.CertPEM, rsaPair.KeyPKCS1PEM, []byte(nil))
	f.Add(rsaPair.CertPEM, rsaPair.KeyPKCS8PEM, []byte(nil))
	f.Add(ed.CertPEM, ed.KeyPKCS8PEM, []byte(nil))
	f.Add(cat([]byte("Bag Attributes\n  localKeyID: 01\nsubject=CN = x\n"), ch.leaf.CertPEM), cat(ch.leaf.CertPEM, ch.leaf.KeyPEM), []byte(" \n"))
	// Broken inputs.
	f.Add(ch.leaf.CertPEM[:len(ch.leaf.CertPEM)/2], ch.leaf.KeyPEM, []byte(nil))
	f.Add(cat(ch.leaf.CertPEM, []byte("garbage")), ch.leaf.KeyPEM, ch.root.CertPEM[:40])
	f.Add([]byte("<html><body>502</body></html>"), []byte("<html>"), []byte(nil))
	f.Add(cat(ch.leaf.CertPEM, ch.root.CertPEM, ch.inter.CertPEM), ch.leaf.KeyPEM, []byte(nil))
	f.Add(ch.leaf.CertPEM, rsaPair.KeyPEM, []byte(nil))
	f.Add(ch.leaf.KeyPEM, ch.leaf.CertPEM, []byte(nil))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n"), []byte(nil))
	f.Add([]byte(nil), []byte(nil), []byte(nil))

	f.Fuzz(func(t *testing.T, certPEM, keyPEM, caPEM []byte) {
		b, err := certs.ParseBundle(certPEM, keyPEM, caPEM)
		if err != nil {
			if b != nil {
				t.Fatal("bundle and error both returned")
			}
			checkError(t, err)
			return
		}
		if b.Leaf == nil || b.Key == nil {
			t.Fatal("bundle without leaf or key")
		}
		again, err := certs.ParseBundle(b.CertPEM, b.KeyPEM, b.CAPEM)
		if err != nil {
			t.Fatalf("canonical output does not parse: %v", err)
		}
		if again.SHA256() != b.SHA256() {
			t.Fatalf("SHA256 changed from %s to %s", b.SHA256(), again.SHA256())
		}
		if !bytes.Equal(again.CertPEM, b.CertPEM) || !bytes.Equal(again.KeyPEM, b.KeyPEM) || !bytes.Equal(again.CAPEM, b.CAPEM) {
			t.Fatal("canonical output is not a fixed point")
		}
	})
}

func FuzzParseCertificates(f *testing.F) {
	ch := newChain(f)
	f.Add(ch.leaf.ChainPEM)
	f.Add(crlf(ch.leaf.ChainPEM))
	f.Add(cat([]byte("subject=CN = x\n\n"), ch.leaf.CertPEM, []byte("issuer=CN = y\n"), ch.inter.CertPEM))
	f.Add(ch.leaf.CertPEM[:len(ch.leaf.CertPEM)-30])
	f.Add(cat(ch.leaf.CertPEM, ch.leaf.KeyPEM))
	f.Add(ch.leaf.KeyPEM)
	f.Add(ch.leaf.Cert.Raw)
	f.Add([]byte("\n  <!DOCTYPE html><html></html>"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := certs.ParseCertificates(data)
		if err != nil {
			if got != nil {
				t.Fatal("certificates and error both returned")
			}
			checkError(t, err)
			return
		}
		if len(got) == 0 {
			t.Fatal("no certificates and no error")
		}
		var canonical bytes.Buffer
		for _, c := range got {
			_ = certs.Describe(c)
			_ = certs.SerialHex(c)
			if err := pem.Encode(&canonical, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
				t.Fatal(err)
			}
		}
		again, err := certs.ParseCertificates(canonical.Bytes())
		if err != nil {
			t.Fatalf("re-encoded certificates do not parse: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("%d certificates became %d", len(got), len(again))
		}
		for i := range got {
			if certs.Fingerprint(got[i]) != certs.Fingerprint(again[i]) {
				t.Fatalf("certificate %d changed", i+1)
			}
		}
	})
}
