package certs_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/pkcs12safe/pkcs12test"
)

const p12Password = "s3cret-Pässword"

// decodeAndParse decodes a PFX and runs the result through ParseBundle, as
// the HTTPS source does, so the test proves the output is usable as is.
func decodeAndParse(t *testing.T, pfx []byte, password string) *certs.Bundle {
	t.Helper()
	certPEM, keyPEM, caPEM, err := certs.DecodePKCS12(pfx, password)
	if err != nil {
		t.Fatalf("DecodePKCS12: %v", err)
	}
	b, err := certs.ParseBundle(certPEM, keyPEM, caPEM)
	if err != nil {
		t.Fatalf("ParseBundle of the decoded PKCS#12: %v", err)
	}
	if !bytes.Equal(b.CertPEM, certPEM) || !bytes.Equal(b.KeyPEM, keyPEM) || !bytes.Equal(b.CAPEM, caPEM) {
		t.Fatal("DecodePKCS12 output is not canonical (ParseBundle re-encoded it differently)")
	}
	return b
}

// checkChainShape asserts leaf, then the intermediate, with the root as CA.
func checkChainShape(t *testing.T, b *certs.Bundle, ch chainFixture) {
	t.Helper()
	if b.SHA256() != certs.Fingerprint(ch.leaf.Cert) {
		t.Errorf("leaf is %s, want %s", certs.Describe(b.Leaf), certs.Describe(ch.leaf.Cert))
	}
	if len(b.Chain) != 1 || !b.Chain[0].Equal(ch.inter.Cert) {
		t.Errorf("chain has %d certificates, want only the intermediate", len(b.Chain))
	}
	if len(b.CA) != 1 || !b.CA[0].Equal(ch.root.Cert) {
		t.Errorf("CA has %d certificates, want only the root", len(b.CA))
	}
}

func TestDecodePKCS12Encoders(t *testing.T) {
	ch := newChain(t, certstest.WithDNSNames("mail.example.com"))
	encoders := map[string]*pkcs12.Encoder{
		"Modern (PBES2 AES-256, HMAC-SHA-256)":       pkcs12.Modern,
		"Modern2026 (PBMAC1)":                        pkcs12.Modern2026,
		"LegacyRC2 (RC2-40 certs, 3DES key, SHA-1)":  pkcs12.LegacyRC2,
		"LegacyDES (3DES certs and key, SHA-1 MAC)":  pkcs12.LegacyDES,
		"Passwordless (no encryption, no MAC)":       pkcs12.Passwordless,
		"Modern with an empty password":              pkcs12.Modern,
		"LegacyRC2 with an empty password (Windows)": pkcs12.LegacyRC2,
	}
	for name, enc := range encoders {
		t.Run(name, func(t *testing.T) {
			password := p12Password
			if enc == pkcs12.Passwordless || strings.Contains(name, "empty") {
				password = ""
			}
			pfx, err := enc.Encode(ch.leaf.Key, ch.leaf.Cert, []*x509.Certificate{ch.inter.Cert, ch.root.Cert}, password)
			if err != nil {
				t.Fatal(err)
			}
			checkChainShape(t, decodeAndParse(t, pfx, password), ch)
		})
	}
}

func TestDecodePKCS12KeyTypes(t *testing.T) {
	for _, kt := range []certstest.KeyType{certstest.RSA, certstest.ECDSA, certstest.Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			p := certstest.New(t, certstest.WithKeyType(kt))
			pfx, err := pkcs12.Modern.Encode(p.Key, p.Cert, nil, p12Password)
			if err != nil {
				t.Fatal(err)
			}
			b := decodeAndParse(t, pfx, p12Password)
			if !b.Leaf.Equal(p.Cert) || len(b.Chain) != 0 || b.CAPEM != nil {
				t.Errorf("got leaf %s with %d chain certificates and CA %q", certs.Describe(b.Leaf), len(b.Chain), b.CAPEM)
			}
		})
	}
}

// Windows and some PKIs store the certificates in any order; the leaf is the
// one that matches the key, and the chain is rebuilt by issuer.
func TestDecodePKCS12OrdersCertificates(t *testing.T) {
	ch := newChain(t)
	pfx, err := pkcs12.LegacyDES.Encode(ch.leaf.Key, ch.root.Cert, []*x509.Certificate{ch.leaf.Cert, ch.root.Cert, ch.inter.Cert}, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	checkChainShape(t, decodeAndParse(t, pfx, p12Password), ch)
}

// A certificate that is not on the leaf's path is kept (after the path) so
// that the gap shows: here the intermediate that links them is missing.
func TestDecodePKCS12KeepsUnlinkedCertificates(t *testing.T) {
	ch := newChain(t)
	sub := certstest.NewCA(t, certstest.WithCommonName("Sub CA"), certstest.WithIssuer(ch.inter))
	leaf := certstest.New(t, certstest.WithIssuer(sub))
	pfx, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ch.inter.Cert}, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, caPEM, err := certs.DecodePKCS12(pfx, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	got, err := certs.ParseCertificates(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(leaf.Cert) || !got[1].Equal(ch.inter.Cert) || caPEM != nil {
		t.Fatalf("got %d certificates and CA %q, want the leaf then the unlinked intermediate", len(got), caPEM)
	}
	_, err = certs.ParseBundle(certPEM, leaf.KeyPEM, caPEM)
	if e := reasonOf(t, err); e.Reason != certs.ReasonChainInvalid || !strings.Contains(e.Message, "Sub CA") {
		t.Errorf("ParseBundle: %v, want ChainInvalid naming the missing Sub CA", err)
	}
}

// The files people actually have come from OpenSSL: 3.x writes AES/PBES2 by
// default and RC2-40/3DES with -legacy (the format of OpenSSL 1.x and of
// older Windows exports).
func TestDecodePKCS12OpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not on PATH")
	}
	ch := newChain(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("key.pem", ch.leaf.KeyPKCS8PEM)
	certFile := write("cert.pem", ch.leaf.CertPEM)
	caFile := write("chain.pem", cat(ch.inter.CertPEM, ch.root.CertPEM))
	passFile := write("pass.txt", []byte(p12Password))

	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"default", nil},
		{"legacy", []string{"-legacy"}},
		{"descert", []string{"-descert"}},
		{"aes-sha512-mac", []string{"-certpbe", "AES-128-CBC", "-keypbe", "AES-128-CBC", "-macalg", "SHA512", "-iter", "10000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name+".p12")
			args := append([]string{"pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-certfile", caFile,
				"-passout", "file:" + passFile, "-name", "mail", "-out", out}, tc.extra...)
			if msg, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				if tc.name == "legacy" && bytes.Contains(msg, []byte("legacy")) {
					t.Skipf("this openssl has no legacy provider: %s", msg)
				}
				t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, msg)
			}
			pfx, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			checkChainShape(t, decodeAndParse(t, pfx, p12Password), ch)
		})
	}
}

func TestDecodePKCS12Errors(t *testing.T) {
	ch := newChain(t)
	pfx, err := pkcs12.Modern.Encode(ch.leaf.Key, ch.leaf.Cert, []*x509.Certificate{ch.inter.Cert}, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := pkcs12.LegacyRC2.Encode(ch.leaf.Key, ch.leaf.Cert, nil, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	certOnly, err := pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{ch.root.Cert}, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	noMAC, err := pkcs12.Passwordless.Encode(ch.leaf.Key, ch.leaf.Cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, password, reason, want string
		data                         []byte
	}{
		{"wrong password", "wrong", certs.ReasonPKCS12Password, "configured password", pfx},
		{"wrong password, legacy file", "wrong", certs.ReasonPKCS12Password, "configured password", legacy},
		{"password from echo", p12Password + "\n", certs.ReasonPKCS12Password, "ends with a line break", pfx},
		{"empty password for a protected file", "", certs.ReasonPKCS12Password, "configured password", pfx},
		{"password for a file without MAC", "x", certs.ReasonPKCS12Invalid, "no integrity MAC", noMAC},
		{"password outside the BMP", "pw\U0001F512", certs.ReasonPKCS12Password, "Basic Multilingual Plane", pfx},
		{"no private key", p12Password, certs.ReasonPKCS12Invalid, "", certOnly},
		{"truncated", p12Password, certs.ReasonPKCS12Invalid, "damaged", pfx[:len(pfx)/2]},
		{"garbage", p12Password, certs.ReasonPKCS12Invalid, "not a PKCS#12", []byte("\x01\x02garbage")},
		{"DER that is not PKCS#12", p12Password, certs.ReasonPKCS12Invalid, "damaged", ch.leaf.Cert.Raw},
		{"trailing bytes", p12Password, certs.ReasonPKCS12Invalid, "damaged", cat(pfx, []byte{0})},
		{"HTML", p12Password, certs.ReasonNotPEM, "HTML", []byte("\n<!DOCTYPE html><html><body>Sign in</body></html>")},
		{"PEM instead", p12Password, certs.ReasonPKCS12Invalid, "PEM format", cat(ch.leaf.CertPEM, ch.leaf.KeyPEM)},
		{"base64 of the file", p12Password, certs.ReasonPKCS12Invalid, "base64", []byte(base64.StdEncoding.EncodeToString(pfx) + "\n")},
		{"BER indefinite length", p12Password, certs.ReasonPKCS12Invalid, "BER", []byte{0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00}},
		{"empty", p12Password, certs.ReasonEmpty, "empty", nil},
		{"too large", p12Password, certs.ReasonTooLarge, "limit", cat([]byte{0x30}, make([]byte, certs.MaxInputSize))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM, caPEM, err := certs.DecodePKCS12(tc.data, tc.password)
			if err == nil {
				t.Fatal("decoded")
			}
			if certPEM != nil || keyPEM != nil || caPEM != nil {
				t.Error("output returned with an error")
			}
			e := reasonOf(t, err)
			if e.Reason != tc.reason || !strings.Contains(e.Message, tc.want) {
				t.Errorf("got %s: %s; want reason %s and a message containing %q", e.Reason, e.Message, tc.reason, tc.want)
			}
			checkPKCS12Message(t, e.Message, tc.password, tc.data)
		})
	}
}

// checkPKCS12Message asserts that a message is one line and carries neither
// the password nor bytes of the input.
func checkPKCS12Message(t *testing.T, msg, password string, data []byte) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	if p := strings.TrimSpace(password); len(p) >= 3 && strings.Contains(msg, p) {
		t.Errorf("message contains the password: %q", msg)
	}
	enc := base64.StdEncoding.EncodeToString(data)
	for i := 0; i+16 <= len(enc); i += 8 {
		if strings.Contains(msg, enc[i:i+16]) {
			t.Fatalf("message contains input bytes: %q", msg)
		}
	}
}

// Hand-made PKCS#12 structures for inputs no encoder writes.
type (
	p12ContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
	}
	p12EncryptedContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
	p12EncryptedData struct {
		Version int
		Info    p12EncryptedContentInfo
	}
	p12PFX struct {
		Version  int
		AuthSafe p12ContentInfo
		MacData  asn1.RawValue `asn1:"optional"`
	}
	p12PBKDF2Params struct {
		Salt       []byte
		Iterations int
		KeyLength  int `asn1:"optional"`
	}
	p12PBES2Params struct {
		KDF, Scheme pkix.AlgorithmIdentifier
	}
)

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidHMACSHA256    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidPBEWith3DES   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
)

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func explicit0(inner []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
}

// encryptedPFX is a PFX without MAC (so an empty password opens it) whose
// only safe is encrypted with alg.
func encryptedPFX(t testing.TB, alg pkix.AlgorithmIdentifier, macData []byte) []byte {
	t.Helper()
	ed := mustMarshal(t, p12EncryptedData{Info: p12EncryptedContentInfo{ContentType: oidData, Algorithm: alg, Content: make([]byte, 32)}})
	safes := mustMarshal(t, []p12ContentInfo{{ContentType: oidEncryptedData, Content: explicit0(ed)}})
	pfx := p12PFX{Version: 3, AuthSafe: p12ContentInfo{ContentType: oidData, Content: explicit0(mustMarshal(t, safes))}}
	if macData != nil {
		pfx.MacData = asn1.RawValue{FullBytes: macData}
	}
	return mustMarshal(t, pfx)
}

func pbes2(t testing.TB, iterations, keyLength int, iv []byte) pkix.AlgorithmIdentifier {
	kdf := pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, p12PBKDF2Params{Salt: []byte("saltsalt"), Iterations: iterations, KeyLength: keyLength})}}
	scheme := pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, iv)}}
	return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, p12PBES2Params{KDF: kdf, Scheme: scheme})}}
}

// go-pkcs12 v0.7.2 panicked on a PBES2 IV that is not one AES block long
// (v0.7.4 returns an error); a source must not be able to crash the
// controller with it, whatever the library version.
func TestDecodePKCS12MalformedIVDoesNotPanic(t *testing.T) {
	pfx := encryptedPFX(t, pbes2(t, 1, 0, []byte{1, 2, 3}), nil)
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Log("go-pkcs12 no longer panics on a short IV; the recover in DecodePKCS12 is now only a safety net")
			}
		}()
		_, _, _, _ = pkcs12.DecodeChain(pfx, "")
	}()
	_, _, _, err := certs.DecodePKCS12(pfx, "")
	if e := reasonOf(t, err); e.Reason != certs.ReasonPKCS12Invalid {
		t.Fatalf("got %v, want %s", err, certs.ReasonPKCS12Invalid)
	}
}

// The writer of a file chooses its KDF cost; absurd costs are refused before
// any derivation runs (these would take hours otherwise).
func TestDecodePKCS12RefusesExpensiveFiles(t *testing.T) {
	ch := newChain(t)
	real, err := pkcs12.LegacyDES.Encode(ch.leaf.Key, ch.leaf.Cert, nil, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	var parsed p12PFX
	if _, err := asn1.Unmarshal(real, &parsed); err != nil {
		t.Fatal(err)
	}
	type macData struct {
		Mac struct {
			Algorithm pkix.AlgorithmIdentifier
			Digest    []byte
		}
		MacSalt    []byte
		Iterations int `asn1:"optional,default:1"` // LegacyDES writes 1, so DER omits it
	}
	var mac macData
	if _, err := asn1.Unmarshal(parsed.MacData.FullBytes, &mac); err != nil {
		t.Fatal(err)
	}
	mac.Iterations = 1 << 40
	parsed.MacData = asn1.RawValue{FullBytes: mustMarshal(t, mac)}
	hugeMAC := mustMarshal(t, parsed)

	pbmac1 := mac
	pbmac1.Iterations = 1
	pbmac1.Mac.Algorithm = pkix.AlgorithmIdentifier{Algorithm: oidPBMAC1, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, struct {
		KDF, MAC pkix.AlgorithmIdentifier
	}{
		KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, p12PBKDF2Params{Salt: []byte("s"), Iterations: 1, KeyLength: 1 << 30})}},
		MAC: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256},
	})}}

	legacyPBE := pkix.AlgorithmIdentifier{Algorithm: oidPBEWith3DES, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, struct {
		Salt       []byte
		Iterations int
	}{[]byte("saltsalt"), 50_000_000})}}

	for name, pfx := range map[string][]byte{
		"MAC iterations":         hugeMAC,
		"PBMAC1 key length":      encryptedPFX(t, pbes2(t, 1, 0, make([]byte, 16)), mustMarshal(t, pbmac1)),
		"PBES2 iterations":       encryptedPFX(t, pbes2(t, 2_000_000, 0, make([]byte, 16)), nil),
		"PKCS#12 PBE iterations": encryptedPFX(t, legacyPBE, nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := certs.DecodePKCS12(pfx, "")
			if e := reasonOf(t, err); e.Reason != certs.ReasonPKCS12Invalid || !strings.Contains(e.Message, "limit") {
				t.Fatalf("got %v, want %s about a limit", err, certs.ReasonPKCS12Invalid)
			}
		})
	}
}

// A key bag inside the encrypted safe carries parameters nobody sees before
// decrypting; the tenant writes both the file and the password, so the
// iteration count there is capped too. Obeyed, this file would keep a
// worker busy for about half an hour.
func TestDecodePKCS12RefusesHugeInnerIterationsFast(t *testing.T) {
	pfx := pkcs12test.HugeInnerIterations(1<<31 - 1)
	start := time.Now()
	_, _, _, err := certs.DecodePKCS12(pfx, "")
	if e := reasonOf(t, err); e.Reason != certs.ReasonPKCS12Invalid || !strings.Contains(e.Message, "limit") {
		t.Fatalf("got %v, want %s about a limit", err, certs.ReasonPKCS12Invalid)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("refusing took %s", took)
	}
	if err := certs.CheckPKCS12Cost(pfx, ""); err == nil {
		t.Error("CheckPKCS12Cost accepted the file")
	}
	if _, _, _, err := certs.DecodeChainGuarded(pfx, ""); err == nil {
		t.Error("DecodeChainGuarded accepted the file")
	}
}
