package outputs

import (
	"crypto/x509"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/certs/certstest"
)

// FuzzExistingKeystores feeds arbitrary bytes as the target's current
// keystores. Whatever is there (it is only as trustworthy as whoever may
// edit the Secret), Data must not panic or exhaust memory, and what it
// returns must hold the bundle: kept bytes only when they really do.
func FuzzExistingKeystores(f *testing.F) {
	p := newPKI(f)
	b := p.bundle(f, certstest.ECDSA, true)
	seed := mustData(f, b, allFormats, nil)
	for _, k := range []string{PKCS12KeystoreKey, PKCS12TruststoreKey, JKSKeystoreKey, JKSTruststoreKey} {
		f.Add(seed[k])
	}
	f.Add(hugeJKS())
	f.Add(manyCertsJKS())
	chain := append([]*x509.Certificate{b.Leaf}, b.Chain...)
	cas := p12CACerts(b)

	f.Fuzz(func(t *testing.T, data []byte) {
		existing := map[string][]byte{
			PKCS12KeystoreKey: data, PKCS12TruststoreKey: data,
			JKSKeystoreKey: data, JKSTruststoreKey: data,
		}
		out, err := Data(b, allFormats, existing)
		if err != nil {
			t.Fatalf("Data: %v", err)
		}
		pw := []byte(testPassword)
		if !p12KeystoreHolds(out[PKCS12KeystoreKey], testPassword, b, cas) {
			t.Error("keystore.p12 does not hold the bundle")
		}
		if got, err := pkcs12.DecodeTrustStore(out[PKCS12TruststoreKey], testPassword); err != nil || !sameCerts(got, b.CA) {
			t.Error("truststore.p12 does not hold the CA")
		}
		if !jksKeystoreHolds(out[JKSKeystoreKey], pw, b, chain) {
			t.Error("keystore.jks does not hold the bundle")
		}
		if !jksTruststoreHolds(out[JKSTruststoreKey], pw, b.CA) {
			t.Error("truststore.jks does not hold the CA")
		}
	})
}
