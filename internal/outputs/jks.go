package outputs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"

	jks "github.com/pavlo-v-chernykh/keystore-go/v4"

	"certsync.io/certsync/internal/certs"
)

// jksCertType is the certificate type JKS stores with each certificate.
const jksCertType = "X509"

// jksStores writes keystore.jks and, when the bundle has a CA,
// truststore.jks, each reusing the existing bytes when they already hold the
// same content (JKS encrypts the key with a random salt).
func jksStores(b *certs.Bundle, password string, existing map[string][]byte, out map[string][]byte) error {
	keyDER, err := pkcs8(b, JKS)
	if err != nil {
		return err
	}
	pw := latin1(password) // checkOptions made sure this is what Java computes
	chain := append([]*x509.Certificate{b.Leaf}, b.Chain...)

	if old := existing[JKSKeystoreKey]; jksKeystoreHolds(old, pw, b, chain) {
		out[JKSKeystoreKey] = bytes.Clone(old)
	} else {
		ks := jks.New(jks.WithOrderedAliases())
		err := ks.SetPrivateKeyEntry(JKSAlias, jks.PrivateKeyEntry{
			CreationTime:     b.Leaf.NotBefore,
			PrivateKey:       keyDER,
			CertificateChain: jksCerts(chain),
		}, pw)
		if err == nil {
			err = addTrusted(ks, b.CA)
		}
		if err != nil {
			return encodeError(JKS, "keystore", err)
		}
		if out[JKSKeystoreKey], err = storeJKS(ks, pw); err != nil {
			return encodeError(JKS, "keystore", err)
		}
	}

	if len(b.CA) == 0 {
		return nil
	}
	if old := existing[JKSTruststoreKey]; jksTruststoreHolds(old, pw, b.CA) {
		out[JKSTruststoreKey] = bytes.Clone(old)
		return nil
	}
	ts := jks.New(jks.WithOrderedAliases())
	if err := addTrusted(ts, b.CA); err != nil {
		return encodeError(JKS, "truststore", err)
	}
	if out[JKSTruststoreKey], err = storeJKS(ts, pw); err != nil {
		return encodeError(JKS, "truststore", err)
	}
	return nil
}

// addTrusted adds the CA certificates as trusted entries named as
// cert-manager names them: "ca", "ca-1", "ca-2", ...
func addTrusted(ks jks.KeyStore, cas []*x509.Certificate) error {
	for i, ca := range cas {
		err := ks.SetTrustedCertificateEntry(caAlias(i), jks.TrustedCertificateEntry{
			CreationTime: ca.NotBefore,
			Certificate:  jks.Certificate{Type: jksCertType, Content: ca.Raw},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func caAlias(i int) string {
	if i == 0 {
		return "ca"
	}
	return fmt.Sprintf("ca-%d", i)
}

func jksCerts(chain []*x509.Certificate) []jks.Certificate {
	out := make([]jks.Certificate, len(chain))
	for i, c := range chain {
		out[i] = jks.Certificate{Type: jksCertType, Content: c.Raw}
	}
	return out
}

func storeJKS(ks jks.KeyStore, pw []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := ks.Store(&buf, pw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// jksKeystoreHolds reports whether data is a JKS keystore that opens with
// pw and holds exactly the entries certsync would write for b: the key entry
// (same key, same chain) and the CA entries. Creation times are ignored:
// they carry no certificate content.
func jksKeystoreHolds(data, pw []byte, b *certs.Bundle, chain []*x509.Certificate) bool {
	ks, ok := loadJKS(data, pw)
	if !ok {
		return false
	}
	entry, err := ks.GetPrivateKeyEntry(JKSAlias, pw)
	if err != nil || !sameJKSCerts(entry.CertificateChain, chain) {
		return false
	}
	key, err := x509.ParsePKCS8PrivateKey(entry.PrivateKey)
	if err != nil || !sameKey(key, b.Key) {
		return false
	}
	return trustsExactly(ks, b.CA, 1)
}

// jksTruststoreHolds reports whether data opens with pw and holds exactly
// the CA entries and nothing else.
func jksTruststoreHolds(data, pw []byte, cas []*x509.Certificate) bool {
	ks, ok := loadJKS(data, pw)
	return ok && trustsExactly(ks, cas, 0)
}

// trustsExactly checks that ks has the trusted entries "ca", "ca-1", ... for
// cas and, besides them, only `others` entries (the key entry, checked by
// the caller).
func trustsExactly(ks jks.KeyStore, cas []*x509.Certificate, others int) bool {
	if len(ks.Aliases()) != len(cas)+others {
		return false
	}
	for i, ca := range cas {
		e, err := ks.GetTrustedCertificateEntry(caAlias(i))
		if err != nil || e.Certificate.Type != jksCertType || !bytes.Equal(e.Certificate.Content, ca.Raw) {
			return false
		}
	}
	return true
}

func sameJKSCerts(got []jks.Certificate, want []*x509.Certificate) bool {
	return slices.EqualFunc(got, want, func(g jks.Certificate, w *x509.Certificate) bool {
		return g.Type == jksCertType && bytes.Equal(g.Content, w.Raw)
	})
}

// loadJKS opens a store, after jksWellFormed has made sure its length
// fields are honest: keystore-go allocates whatever a length field says
// before reading, and a crafted target Secret must not be able to make the
// operator allocate gigabytes. Load also verifies the password (the store's
// keyed SHA-1 digest).
func loadJKS(data, pw []byte) (jks.KeyStore, bool) {
	if len(data) == 0 || !jksWellFormed(data) {
		return jks.KeyStore{}, false
	}
	ks := jks.New()
	if err := ks.Load(bytes.NewReader(data), pw); err != nil {
		return jks.KeyStore{}, false
	}
	return ks, true
}
