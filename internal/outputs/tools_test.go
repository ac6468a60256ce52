package outputs

// These tests hand the keystores to the programs that will read them in
// production: OpenSSL and Java's keytool. Go round trips prove the Go
// libraries agree with themselves; only these prove interoperability (they
// caught that Java refuses non-ASCII PKCS#12 passwords). Each test skips
// when its tool is not on PATH.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not on PATH", name)
	}
}

// runTool runs a command in dir and returns its combined output. The JVM
// starts slowly on small machines, hence the generous timeout.
func runTool(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runTool(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func writeData(t *testing.T, data map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// keytoolFingerprint is how keytool -list prints a certificate's SHA-256.
func keytoolFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func TestOpenSSLReadsPKCS12(t *testing.T) {
	needTool(t, "openssl")
	p := newPKI(t)
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			t.Parallel()
			b := p.bundle(t, kt, true)
			dir := writeData(t, mustData(t, b, allFormats, nil))
			pass := "pass:" + testPassword

			certsOut := mustRun(t, dir, nil, "openssl", "pkcs12", "-in", PKCS12KeystoreKey, "-passin", pass, "-nokeys")
			checkCerts(t, "openssl keystore certificates", pemCerts(t, []byte(certsOut)), append([]*x509.Certificate{b.Leaf}, wantCAs(b)...))

			keyOut := mustRun(t, dir, nil, "openssl", "pkcs12", "-in", PKCS12KeystoreKey, "-passin", pass, "-nocerts", "-nodes")
			blk, _ := pem.Decode([]byte(keyOut)) // skips the "Bag Attributes" text
			if blk == nil {
				t.Fatal("openssl printed no key")
			}
			checkKey(t, parsePEMKey(t, blk), b.Key)

			trustOut := mustRun(t, dir, nil, "openssl", "pkcs12", "-in", PKCS12TruststoreKey, "-passin", pass, "-nokeys")
			checkCerts(t, "openssl truststore", pemCerts(t, []byte(trustOut)), b.CA)

			if out, err := runTool(t, dir, nil, "openssl", "pkcs12", "-in", PKCS12KeystoreKey, "-passin", "pass:wrong", "-nokeys"); err == nil {
				t.Errorf("openssl opened the keystore with a wrong password:\n%s", out)
			}
		})
	}
}

func TestKeytoolReadsKeystores(t *testing.T) {
	needTool(t, "keytool")
	p := newPKI(t)
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			t.Parallel()
			b := p.bundle(t, kt, true)
			dir := writeData(t, mustData(t, b, allFormats, nil))
			list := func(file, storeType string) string {
				return mustRun(t, dir, nil, "keytool", "-list", "-keystore", file, "-storetype", storeType, "-storepass", testPassword)
			}

			for file, storeType := range map[string]string{PKCS12KeystoreKey: "PKCS12", JKSKeystoreKey: "JKS"} {
				out := list(file, storeType)
				if !strings.Contains(out, "PrivateKeyEntry") || !strings.Contains(out, keytoolFingerprint(b.Leaf)) {
					t.Errorf("keytool -list %s: no private key entry for the leaf:\n%s", file, out)
				}
			}
			if out := list(JKSKeystoreKey, "JKS"); !strings.Contains(out, "certificate, ") || !strings.Contains(out, "ca, ") {
				t.Errorf("keystore.jks aliases are not cert-manager's (certificate, ca):\n%s", out)
			}
			for file, storeType := range map[string]string{PKCS12TruststoreKey: "PKCS12", JKSTruststoreKey: "JKS"} {
				out := list(file, storeType)
				if strings.Count(out, "trustedCertEntry") != len(b.CA) || !strings.Contains(out, keytoolFingerprint(b.CA[0])) {
					t.Errorf("keytool -list %s: want %d trusted entry for the root:\n%s", file, len(b.CA), out)
				}
			}
			if out, err := runTool(t, dir, nil, "keytool", "-list", "-keystore", JKSKeystoreKey, "-storetype", "JKS", "-storepass", "wrong-password"); err == nil {
				t.Errorf("keytool opened keystore.jks with a wrong password:\n%s", out)
			}

			// -list does not decrypt keys; converting does. Java decrypts
			// each keystore's key and writes it into a PKCS#12 file of its
			// own, which Go then reads back.
			for file, storeType := range map[string]string{PKCS12KeystoreKey: "PKCS12", JKSKeystoreKey: "JKS"} {
				dest := "java-" + storeType + ".p12"
				mustRun(t, dir, nil, "keytool", "-importkeystore", "-noprompt",
					"-srckeystore", file, "-srcstoretype", storeType, "-srcstorepass", testPassword,
					"-destkeystore", dest, "-deststoretype", "PKCS12", "-deststorepass", testPassword)
				checkJavaP12(t, filepath.Join(dir, dest), b)
			}
		})
	}
}

// checkJavaP12 decodes the PKCS#12 file keytool wrote and compares the key
// Java recovered with the bundle's.
func checkJavaP12(t *testing.T, path string, b *certs.Bundle) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, _, err := pkcs12.DecodeChain(data, testPassword)
	if err != nil {
		t.Fatalf("decode %s written by keytool: %v", filepath.Base(path), err)
	}
	checkKey(t, key, b.Key)
	if !leaf.Equal(b.Leaf) {
		t.Errorf("%s: Java's key entry has another leaf", filepath.Base(path))
	}
}

// A Latin-1 JKS password works in Java (the reason it is allowed), provided
// the JVM decodes its arguments as UTF-8.
func TestKeytoolLatin1JKSPassword(t *testing.T) {
	needTool(t, "keytool")
	needTool(t, "java")
	env := []string{"LC_ALL=C.UTF-8"}
	if props, _ := runTool(t, t.TempDir(), env, "java", "-XshowSettings:properties", "-version"); !strings.Contains(props, "sun.jnu.encoding = UTF-8") {
		t.Skip("the JVM does not decode arguments as UTF-8 here")
	}
	const password = "pässwörd-é"
	b := newPKI(t).bundle(t, certstest.ECDSA, true)
	dir := writeData(t, mustData(t, b, Options{Formats: []Format{JKS}, Password: password}, nil))
	out := mustRun(t, dir, env, "keytool", "-list", "-keystore", JKSKeystoreKey, "-storetype", "JKS", "-storepass", password)
	if !strings.Contains(out, "PrivateKeyEntry") {
		t.Errorf("keytool -list:\n%s", out)
	}
}
