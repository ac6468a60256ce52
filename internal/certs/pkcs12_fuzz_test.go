package certs_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

var pkcs12Reasons = map[string]bool{
	certs.ReasonEmpty: true, certs.ReasonTooLarge: true, certs.ReasonNotPEM: true,
	certs.ReasonPKCS12Password: true, certs.ReasonPKCS12Invalid: true,
}

// FuzzDecodePKCS12 feeds PFX files of every encoder, damaged or not, with
// any password. DecodePKCS12 must never panic, must fail with a known reason
// and a clean message, and what it returns must be canonical PEM that parses.
func FuzzDecodePKCS12(f *testing.F) {
	// The fuzzer readily writes iteration counts just under the caps, each
	// input then costing seconds of SHA: lower caps keep it on the parser
	// (the caps themselves are unit-tested).
	f.Cleanup(certs.SetPKCS12Limits(4096, 16_384))
	ch := newChain(f)
	rsaPair := certstest.New(f, certstest.WithKeyType(certstest.RSA))
	ed := certstest.New(f, certstest.WithKeyType(certstest.Ed25519))
	chain := []*x509.Certificate{ch.inter.Cert, ch.root.Cert}
	add := func(enc *pkcs12.Encoder, p *certstest.Pair, cas []*x509.Certificate, password string) []byte {
		pfx, err := enc.Encode(p.Key, p.Cert, cas, password)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pfx, password)
		return pfx
	}
	// One iteration keeps the key derivations cheap, so the fuzzer spends
	// its time on the parser rather than on SHA (the structure is the same
	// as with real counts, which the unit tests cover).
	for _, enc := range []*pkcs12.Encoder{pkcs12.Modern, pkcs12.Modern2026, pkcs12.LegacyRC2, pkcs12.LegacyDES} {
		add(enc.WithIterations(1), ch.leaf, chain, "pw")
		add(enc.WithIterations(1), ch.leaf, nil, "")
	}
	modern := add(pkcs12.Modern.WithIterations(1), ch.leaf, nil, "pw")
	add(pkcs12.LegacyRC2.WithIterations(1), rsaPair, nil, "pw")
	add(pkcs12.LegacyDES.WithIterations(1), ed, nil, "pw")
	add(pkcs12.Passwordless, ch.leaf, chain, "")
	f.Add(modern, "wrong")
	f.Add(modern[:len(modern)-20], "pw")
	f.Add(encryptedPFX(f, pbes2(f, 1, 0, []byte{1, 2, 3}), nil), "")
	f.Add([]byte("<html><body>login</body></html>"), "pw")
	f.Add(ch.leaf.ChainPEM, "")
	f.Add([]byte{0x30, 0x80, 0x00, 0x00}, "")
	f.Add([]byte{}, "")

	f.Fuzz(func(t *testing.T, data []byte, password string) {
		certPEM, keyPEM, caPEM, err := certs.DecodePKCS12(data, password)
		if err != nil {
			if certPEM != nil || keyPEM != nil || caPEM != nil {
				t.Fatal("output and error both returned")
			}
			var e *certs.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *certs.Error", err, err)
			}
			if !pkcs12Reasons[e.Reason] {
				t.Fatalf("unexpected reason %q", e.Reason)
			}
			if e.Message == "" || strings.ContainsAny(e.Message, "\r\n") || strings.Contains(e.Message, "PRIVATE KEY") {
				t.Fatalf("bad message %q", e.Message)
			}
			if len(password) >= 4 && strings.Contains(e.Message, password) {
				t.Fatalf("message contains the password: %q", e.Message)
			}
			return
		}
		if len(certPEM) == 0 || len(keyPEM) == 0 {
			t.Fatal("no certificate or key and no error")
		}
		if _, err := certs.ParseCertificates(certPEM); err != nil {
			t.Fatalf("certificate output does not parse: %v", err)
		}
		if caPEM != nil {
			if _, err := certs.ParseCertificates(caPEM); err != nil {
				t.Fatalf("CA output does not parse: %v", err)
			}
		}
		// The key may still be refused (unsupported type or size, not the
		// leaf's) but only with a reason, never a panic.
		_, _ = certs.ParseBundle(certPEM, keyPEM, caPEM)

		c2, k2, ca2, err := certs.DecodePKCS12(data, password)
		if err != nil || !bytes.Equal(c2, certPEM) || !bytes.Equal(k2, keyPEM) || !bytes.Equal(ca2, caPEM) {
			t.Fatalf("decoding is not deterministic (second error: %v)", err)
		}
	})
}
