package certstest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	"certsync.io/certsync/internal/certs/certstest"
)

func TestOptions(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(48 * time.Hour)
	p := certstest.New(t,
		certstest.WithDNSNames("a.example.com", "b.example.com"),
		certstest.WithValidity(nb, na),
		certstest.WithSerial(42),
		certstest.WithCommonName("custom"))
	c := p.Cert
	if !slices.Equal(c.DNSNames, []string{"a.example.com", "b.example.com"}) {
		t.Errorf("DNSNames = %v", c.DNSNames)
	}
	if !c.NotBefore.Equal(nb) || !c.NotAfter.Equal(na) {
		t.Errorf("validity = %v - %v", c.NotBefore, c.NotAfter)
	}
	if c.SerialNumber.Int64() != 42 || c.Subject.CommonName != "custom" {
		t.Errorf("serial %v, CN %q", c.SerialNumber, c.Subject.CommonName)
	}
	if err := c.CheckSignatureFrom(c); err == nil {
		t.Error("a leaf must not be a CA, even when self-signed")
	}
	if !bytes.Equal(p.ChainPEM, p.CertPEM) {
		t.Error("a self-signed ChainPEM must be the certificate alone")
	}

	def := certstest.New(t)
	if !slices.Equal(def.Cert.DNSNames, []string{"example.com"}) || def.Cert.Subject.CommonName != "example.com" {
		t.Errorf("defaults: DNS %v CN %q", def.Cert.DNSNames, def.Cert.Subject.CommonName)
	}
	if !def.Cert.NotBefore.Before(time.Now()) || !def.Cert.NotAfter.After(time.Now().Add(80*24*time.Hour)) {
		t.Error("default validity does not cover now")
	}
	if def.Cert.SerialNumber.Cmp(p.Cert.SerialNumber) == 0 || def.Cert.SerialNumber.Sign() <= 0 {
		t.Error("default serial is not random and positive")
	}
	if none := certstest.New(t, certstest.WithDNSNames()); len(none.Cert.DNSNames) != 0 {
		t.Errorf("WithDNSNames() gave %v", none.Cert.DNSNames)
	}
}

func TestKeyTypes(t *testing.T) {
	for _, tc := range []struct {
		kt           certstest.KeyType
		pkcs1, sec1  bool
		defaultBlock string
		checkKey     func(any) bool
	}{
		{certstest.RSA, true, false, "RSA PRIVATE KEY", func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 }},
		{certstest.ECDSA, false, true, "EC PRIVATE KEY", func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P256() }},
		{certstest.Ed25519, false, false, "PRIVATE KEY", func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok }},
	} {
		t.Run(string(tc.kt), func(t *testing.T) {
			p := certstest.New(t, certstest.WithKeyType(tc.kt))
			if !tc.checkKey(p.Key) {
				t.Errorf("key %T is not %s", p.Key, tc.kt)
			}
			if (p.KeyPKCS1PEM != nil) != tc.pkcs1 || (p.KeySEC1PEM != nil) != tc.sec1 || p.KeyPKCS8PEM == nil {
				t.Errorf("encodings: PKCS#1 %v SEC1 %v PKCS#8 %v", p.KeyPKCS1PEM != nil, p.KeySEC1PEM != nil, p.KeyPKCS8PEM != nil)
			}
			if b, _ := pem.Decode(p.KeyPEM); b == nil || b.Type != tc.defaultBlock {
				t.Errorf("KeyPEM is not a %s block", tc.defaultBlock)
			}
		})
	}
}

func TestChain(t *testing.T) {
	root := certstest.NewCA(t, certstest.WithKeyType(certstest.RSA))
	inter := certstest.NewCA(t, certstest.WithIssuer(root), certstest.WithCommonName("inter"))
	leaf := certstest.New(t, certstest.WithIssuer(inter), certstest.WithKeyType(certstest.Ed25519))

	if !root.Cert.IsCA || !inter.Cert.IsCA || leaf.Cert.IsCA {
		t.Error("IsCA flags wrong")
	}
	if err := leaf.Cert.CheckSignatureFrom(inter.Cert); err != nil {
		t.Errorf("leaf not signed by intermediate: %v", err)
	}
	if err := inter.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("intermediate not signed by root: %v", err)
	}
	want := slices.Concat(leaf.CertPEM, inter.CertPEM, root.CertPEM)
	if !bytes.Equal(leaf.ChainPEM, want) {
		t.Error("ChainPEM is not leaf, intermediate, root")
	}
}
