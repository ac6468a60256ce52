package probe

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// testCert is a certificate a test server presents, with the chain it sends.
type testCert struct {
	tls  tls.Certificate
	leaf *x509.Certificate
}

type certOpts struct {
	notBefore, notAfter time.Time
	selfSigned          bool
}

// newCert makes an ECDSA certificate for mail.example.test. Unless
// self-signed it is issued by a fresh CA and served with that CA in the chain.
func newCert(tb testing.TB, o certOpts) testCert {
	tb.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	key := mustKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "mail.example.test"},
		DNSNames:     []string{"mail.example.test"},
		NotBefore:    o.notBefore,
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, parentKey := tmpl, key
	var chain [][]byte
	if !o.selfSigned {
		caKey := mustKey(tb)
		ca := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "certsync test CA"},
			NotBefore:             time.Now().Add(-24 * time.Hour),
			NotAfter:              time.Now().Add(365 * 24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		if parent, err = x509.ParseCertificate(caDER); err != nil {
			tb.Fatal(err)
		}
		parentKey = caKey
		chain = append(chain, caDER)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return testCert{
		tls:  tls.Certificate{Certificate: append([][]byte{der}, chain...), PrivateKey: key, Leaf: leaf},
		leaf: leaf,
	}
}

func mustKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
