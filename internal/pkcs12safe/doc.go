// Package pkcs12safe opens the encrypted safes of a PKCS#12 (PFX) file so
// that the key-derivation parameters inside them can be checked before a
// decoder runs them.
//
// go-pkcs12 obeys whatever iteration count a file asks for, and the
// parameters of a key bag placed inside an encrypted safe are invisible
// until that safe is decrypted. A tenant who controls both the file and its
// password could otherwise make one decode run for hours. This package
// decrypts the safes (whose own parameters the caller has already checked,
// and which EncryptedSafes checks again) and returns their plaintext for the
// caller to scan; it never decodes keys.
//
// kdf.go, rc2.go and bmp.go are copied from software.sslmate.com/src/go-pkcs12
// v0.7.4 (BSD-3-Clause, see LICENSE), which keeps them unexported.
package pkcs12safe
