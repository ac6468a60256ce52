package outputs

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	jks "github.com/pavlo-v-chernykh/keystore-go/v4"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

var jksOnly = Options{Formats: []Format{JKS}, Password: testPassword}

func loadTestJKS(t *testing.T, data []byte, password string) jks.KeyStore {
	t.Helper()
	ks := jks.New()
	if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
		t.Fatalf("load JKS: %v", err)
	}
	return ks
}

func TestJKSRoundTrip(t *testing.T) {
	p := newPKI(t)
	for _, kt := range keyTypes {
		for name, b := range map[string]*certs.Bundle{
			"chain+CA":    p.bundle(t, kt, true),
			"no CA":       p.bundle(t, kt, false),
			"self-signed": selfSigned(t, kt),
		} {
			t.Run(string(kt)+"/"+name, func(t *testing.T) {
				out := mustData(t, b, jksOnly, nil)
				ks := loadTestJKS(t, out[JKSKeystoreKey], testPassword)
				wantAliases := []string{"certificate"}
				for i := range b.CA {
					wantAliases = append(wantAliases, caAlias(i))
				}
				if got := slices.Sorted(slices.Values(ks.Aliases())); !slices.Equal(got, slices.Sorted(slices.Values(wantAliases))) {
					t.Errorf("aliases %v, want %v", got, wantAliases)
				}

				entry, err := ks.GetPrivateKeyEntry(JKSAlias, []byte(testPassword))
				if err != nil {
					t.Fatalf("private key entry: %v", err)
				}
				key, err := x509.ParsePKCS8PrivateKey(entry.PrivateKey)
				if err != nil {
					t.Fatalf("key is not PKCS#8: %v", err)
				}
				checkKey(t, key, b.Key)
				checkCerts(t, "key entry chain", parseJKSCerts(t, entry.CertificateChain), append([]*x509.Certificate{b.Leaf}, b.Chain...))
				if !entry.CreationTime.Equal(b.Leaf.NotBefore.Truncate(time.Millisecond)) {
					t.Errorf("creation time %v, want the leaf's NotBefore %v", entry.CreationTime, b.Leaf.NotBefore)
				}
				checkCerts(t, "keystore trusted entries", trustedCerts(t, ks, len(b.CA)), b.CA)

				ts, ok := out[JKSTruststoreKey]
				if ok != (len(b.CA) > 0) {
					t.Fatalf("truststore.jks present = %v with %d CA certificates", ok, len(b.CA))
				}
				if ok {
					tks := loadTestJKS(t, ts, testPassword)
					if len(tks.Aliases()) != len(b.CA) {
						t.Errorf("truststore has %d entries, want %d", len(tks.Aliases()), len(b.CA))
					}
					checkCerts(t, "truststore", trustedCerts(t, tks, len(b.CA)), b.CA)
				}
			})
		}
	}
}

func parseJKSCerts(t *testing.T, in []jks.Certificate) []*x509.Certificate {
	t.Helper()
	out := make([]*x509.Certificate, len(in))
	for i, c := range in {
		if c.Type != "X509" {
			t.Errorf("certificate type %q", c.Type)
		}
		cert, err := x509.ParseCertificate(c.Content)
		if err != nil {
			t.Fatalf("parse certificate: %v", err)
		}
		out[i] = cert
	}
	return out
}

func trustedCerts(t *testing.T, ks jks.KeyStore, n int) []*x509.Certificate {
	t.Helper()
	var out []jks.Certificate
	for i := range n {
		e, err := ks.GetTrustedCertificateEntry(caAlias(i))
		if err != nil {
			t.Fatalf("trusted entry %s: %v", caAlias(i), err)
		}
		out = append(out, e.Certificate)
	}
	return parseJKSCerts(t, out)
}

func TestJKSReencodes(t *testing.T) {
	p := newPKI(t)
	b := p.bundle(t, certstest.ECDSA, true)
	good := mustData(t, b, jksOnly, nil)
	renewed := p.bundle(t, certstest.ECDSA, true)

	flipped := bytes.Clone(good[JKSKeystoreKey])
	flipped[len(flipped)/2] ^= 1
	extra := func() []byte { // the right entries plus one more
		ks := loadTestJKS(t, good[JKSKeystoreKey], testPassword)
		if err := ks.SetTrustedCertificateEntry("extra", jks.TrustedCertificateEntry{
			CreationTime: time.Now(), Certificate: jks.Certificate{Type: "X509", Content: p.inter.Cert.Raw},
		}); err != nil {
			t.Fatal(err)
		}
		data, err := storeJKS(ks, []byte(testPassword))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}()

	for _, tc := range []struct {
		name     string
		b        *certs.Bundle
		password string
		existing []byte
	}{
		{"renewed certificate", renewed, testPassword, good[JKSKeystoreKey]},
		{"new password", b, "another-password", good[JKSKeystoreKey]},
		{"truncated", b, testPassword, good[JKSKeystoreKey][:len(good[JKSKeystoreKey])-1]},
		{"bit flip", b, testPassword, flipped},
		{"garbage", b, testPassword, []byte("not a keystore")},
		{"an extra entry", b, testPassword, extra},
		{"the truststore where the keystore goes", b, testPassword, good[JKSTruststoreKey]},
		{"a huge length field", b, testPassword, hugeJKS()},
		{"a huge certificate count", b, testPassword, manyCertsJKS()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Formats: []Format{JKS}, Password: tc.password}
			out := mustData(t, tc.b, opts, map[string][]byte{JKSKeystoreKey: tc.existing})
			got := out[JKSKeystoreKey]
			if bytes.Equal(got, tc.existing) {
				t.Fatal("existing keystore kept")
			}
			if !jksKeystoreHolds(got, []byte(tc.password), tc.b, append([]*x509.Certificate{tc.b.Leaf}, tc.b.Chain...)) {
				t.Error("re-encoded keystore does not hold the bundle")
			}
		})
	}
}

// Renewing the leaf from the same CA keeps truststore.jks; it is even
// deterministic (no key, fixed creation times), so it never churns.
func TestJKSTruststoreFollowsCA(t *testing.T) {
	p := newPKI(t)
	first := mustData(t, p.bundle(t, certstest.ECDSA, true), jksOnly, nil)
	renewed := mustData(t, p.bundle(t, certstest.ECDSA, true), jksOnly, first)
	if bytes.Equal(renewed[JKSKeystoreKey], first[JKSKeystoreKey]) {
		t.Error("keystore kept although the leaf changed")
	}
	if !bytes.Equal(renewed[JKSTruststoreKey], first[JKSTruststoreKey]) {
		t.Error("truststore rewritten although the CA did not change")
	}
	fresh := mustData(t, p.bundle(t, certstest.ECDSA, true), jksOnly, nil)
	if !bytes.Equal(fresh[JKSTruststoreKey], first[JKSTruststoreKey]) {
		t.Error("truststore.jks is not deterministic")
	}
	b := newPKI(t).bundle(t, certstest.ECDSA, true)
	moved := mustData(t, b, jksOnly, first)
	if !jksTruststoreHolds(moved[JKSTruststoreKey], []byte(testPassword), b.CA) {
		t.Error("truststore not rewritten for a new CA")
	}
}

// hugeJKS is a JKS header whose only entry claims a 4 GiB key: keystore-go
// would allocate that before noticing the data ends.
func hugeJKS() []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, 0xFEEDFEED)
	b = binary.BigEndian.AppendUint32(b, 2)
	b = binary.BigEndian.AppendUint32(b, 1) // one entry
	b = binary.BigEndian.AppendUint32(b, 1) // private key
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'a')
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
	return append(b, make([]byte, 64)...)
}

func TestJKSWellFormed(t *testing.T) {
	b := newPKI(t).bundle(t, certstest.RSA, true)
	out := mustData(t, b, jksOnly, nil)
	for _, k := range []string{JKSKeystoreKey, JKSTruststoreKey} {
		data := out[k]
		if !jksWellFormed(data) {
			t.Fatalf("%s: our own output is not well-formed", k)
		}
		for n := range len(data) {
			if jksWellFormed(data[:n]) {
				t.Fatalf("%s: truncated to %d of %d bytes accepted", k, n, len(data))
			}
		}
		if jksWellFormed(append(bytes.Clone(data), 0)) {
			t.Errorf("%s: trailing byte accepted", k)
		}
	}
	if jksWellFormed(hugeJKS()) {
		t.Error("4 GiB length field accepted")
	}
	if jksWellFormed(manyCertsJKS()) {
		t.Error("4 billion certificates accepted")
	}
}

// manyCertsJKS claims 4 billion certificates in a key entry: keystore-go
// would reserve 4G slice elements (~190 GB) up front, which kills the
// process rather than failing.
func manyCertsJKS() []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, 0xFEEDFEED)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 1) // one entry
	b = binary.BigEndian.AppendUint32(b, 1) // private key
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0) // empty key
	b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
	return append(b, make([]byte, 20)...)
}
