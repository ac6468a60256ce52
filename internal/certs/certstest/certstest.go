// Package certstest generates certificates and keys for tests, with
// functional options in the style of cert-manager's test/unit/gen. It is a
// normal (non-_test) package so that tests of other packages can import it;
// nothing outside tests should.
package certstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// KeyType selects the key algorithm of a generated certificate.
type KeyType string

const (
	// ECDSA is P-256, the default, because it is fast to generate.
	ECDSA   KeyType = "ECDSA"
	RSA     KeyType = "RSA" // 2048 bits, one key shared per process
	Ed25519 KeyType = "Ed25519"
)

type spec struct {
	dnsNames    []string
	dnsNamesSet bool
	notBefore   time.Time
	notAfter    time.Time
	keyType     KeyType
	serial      *big.Int
	commonName  string
	issuer      *CA
}

// Option configures a generated certificate.
type Option func(*spec)

// WithDNSNames sets the DNS SANs. Without it a leaf gets "example.com" and a
// CA none; WithDNSNames() with no names gives a leaf without SANs.
func WithDNSNames(names ...string) Option {
	return func(s *spec) { s.dnsNames, s.dnsNamesSet = names, true }
}

// WithValidity sets NotBefore and NotAfter. The default is from one hour ago
// to 90 days from now, so certificates are valid whatever the test's clock
// granularity.
func WithValidity(notBefore, notAfter time.Time) Option {
	return func(s *spec) { s.notBefore, s.notAfter = notBefore, notAfter }
}

// WithKeyType sets the key algorithm (default ECDSA P-256).
func WithKeyType(t KeyType) Option { return func(s *spec) { s.keyType = t } }

// WithSerial sets the serial number (default random, 128 bits).
func WithSerial(n int64) Option { return func(s *spec) { s.serial = big.NewInt(n) } }

// WithCommonName sets the subject CN (default the first DNS name, or a fixed
// name for CAs and SAN-less leaves).
func WithCommonName(cn string) Option { return func(s *spec) { s.commonName = cn } }

// WithIssuer has the certificate signed by ca instead of by itself.
func WithIssuer(ca *CA) Option { return func(s *spec) { s.issuer = ca } }

// TB is the part of testing.TB the generators use, so the demo can use them
// outside a test (see Generate).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// errTB turns a generator's Fatalf into an error: it panics with itself and
// Generate/GenerateCA recover it.
type errTB struct{ err error }

func (e *errTB) Helper() {}
func (e *errTB) Fatalf(format string, args ...any) {
	e.err = fmt.Errorf(format, args...)
	panic(e)
}

func catch(e *errTB, err *error) {
	if r := recover(); r != nil {
		if r != e {
			panic(r)
		}
		*err = e.err
	}
}

// Generate is New for code that is not a test (the demo).
func Generate(opts ...Option) (p *Pair, err error) {
	e := &errTB{}
	defer catch(e, &err)
	return New(e, opts...), nil
}

// GenerateCA is NewCA for code that is not a test (the demo).
func GenerateCA(opts ...Option) (ca *CA, err error) {
	e := &errTB{}
	defer catch(e, &err)
	return NewCA(e, opts...), nil
}

// CA is a certificate authority that can issue certificates (WithIssuer).
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte

	// issuers are the CAs above this one, nearest first, so leaves can be
	// given their complete chain.
	issuers []*x509.Certificate
}

// Pair is a generated certificate with its key in every applicable encoding.
type Pair struct {
	Cert *x509.Certificate
	Key  crypto.Signer

	CertPEM []byte // the certificate alone
	// KeyPEM is the encoding tools write by default: PKCS#1 for RSA, SEC1
	// for ECDSA, PKCS#8 for Ed25519.
	KeyPEM []byte
	// ChainPEM is the certificate followed by every issuing CA up to and
	// including the root; equal to CertPEM for a self-signed certificate.
	ChainPEM []byte

	KeyPKCS1PEM []byte // RSA only, nil otherwise
	KeyPKCS8PEM []byte // every key type
	KeySEC1PEM  []byte // ECDSA only, nil otherwise
}

// NewCA returns a CA certificate, self-signed unless WithIssuer is given (an
// intermediate).
func NewCA(t TB, opts ...Option) *CA {
	t.Helper()
	s := newSpec(opts)
	if s.commonName == "" {
		s.commonName = "certstest CA"
	}
	tmpl := s.template()
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	if s.dnsNamesSet {
		tmpl.DNSNames = s.dnsNames
	}

	cert, key := s.sign(t, tmpl)
	ca := &CA{Cert: cert, Key: key, CertPEM: encodeCert(cert)}
	if s.issuer != nil {
		ca.issuers = append([]*x509.Certificate{s.issuer.Cert}, s.issuer.issuers...)
	}
	return ca
}

// New returns a leaf (server) certificate and key, self-signed unless
// WithIssuer is given.
func New(t TB, opts ...Option) *Pair {
	t.Helper()
	s := newSpec(opts)
	if !s.dnsNamesSet {
		s.dnsNames = []string{"example.com"}
	}
	if s.commonName == "" {
		s.commonName = "certstest leaf"
		if len(s.dnsNames) > 0 {
			s.commonName = s.dnsNames[0]
		}
	}
	tmpl := s.template()
	tmpl.DNSNames = s.dnsNames
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if s.keyType == RSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // RSA key exchange in TLS 1.2
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

	cert, key := s.sign(t, tmpl)
	p := &Pair{Cert: cert, Key: key, CertPEM: encodeCert(cert)}
	p.ChainPEM = append([]byte(nil), p.CertPEM...)
	if s.issuer != nil {
		for _, c := range append([]*x509.Certificate{s.issuer.Cert}, s.issuer.issuers...) {
			p.ChainPEM = append(p.ChainPEM, encodeCert(c)...)
		}
	}

	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("certstest: marshal PKCS#8 key: %v", err)
	}
	p.KeyPKCS8PEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	switch k := key.(type) {
	case *rsa.PrivateKey:
		p.KeyPKCS1PEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		p.KeyPEM = p.KeyPKCS1PEM
	case *ecdsa.PrivateKey:
		sec1, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatalf("certstest: marshal SEC1 key: %v", err)
		}
		p.KeySEC1PEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
		p.KeyPEM = p.KeySEC1PEM
	default:
		p.KeyPEM = p.KeyPKCS8PEM
	}
	return p
}

func newSpec(opts []Option) *spec {
	now := time.Now()
	s := &spec{
		keyType:   ECDSA,
		notBefore: now.Add(-time.Hour),
		notAfter:  now.Add(90 * 24 * time.Hour),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *spec) template() *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: s.serial,
		Subject:      pkix.Name{CommonName: s.commonName},
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
	}
}

// sign generates the key, fills in a random serial if none was chosen and
// creates the certificate, signed by the issuer or by itself.
func (s *spec) sign(t TB, tmpl *x509.Certificate) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := GenerateKey(t, s.keyType)
	if tmpl.SerialNumber == nil {
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			t.Fatalf("certstest: serial: %v", err)
		}
		tmpl.SerialNumber = serial.Add(serial, big.NewInt(1)) // never zero
	}
	parent, signer := tmpl, key
	if s.issuer != nil {
		parent, signer = s.issuer.Cert, s.issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatalf("certstest: create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certstest: parse certificate: %v", err)
	}
	return cert, key
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

// GenerateKey returns a new key of type kt. RSA keys are generated once per
// process and shared: 2048-bit generation takes long enough to dominate a
// test run, and tests need the format, not a unique key. Use ECDSA or
// Ed25519 where two distinct keys are needed.
func GenerateKey(t TB, kt KeyType) crypto.Signer {
	t.Helper()
	switch kt {
	case RSA:
		rsaOnce.Do(func() { rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048) })
		if rsaErr != nil {
			t.Fatalf("certstest: generate RSA key: %v", rsaErr)
		}
		return rsaKey
	case ECDSA, "":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatalf("certstest: generate ECDSA key: %v", err)
		}
		return k
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatalf("certstest: generate Ed25519 key: %v", err)
		}
		return k
	default:
		t.Fatalf("certstest: unknown key type %q", kt)
		return nil
	}
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
