// Package outputs encodes a certificate bundle into the extra formats some
// software wants next to tls.crt/tls.key: a combined PEM file, a DER key,
// PKCS#12 and JKS keystores (target.additionalOutputFormats).
//
// Names and contents follow cert-manager (v1.21) where the two overlap, so a
// workload moved from a cert-manager Secret to a certsync one mounts the same
// files:
//
//	Format       Secret key          cert-manager equivalent
//	CombinedPEM  tls-combined.pem    additionalOutputFormats: CombinedPEM
//	DER          key.der             additionalOutputFormats: DER
//	PKCS12       keystore.p12        keystores.pkcs12 (profile Modern2023)
//	             truststore.p12        (only when a CA is known)
//	JKS          keystore.jks        keystores.jks (alias "certificate")
//	             truststore.jks        (only when a CA is known)
//
// Contents, in detail:
//
//   - tls-combined.pem is exactly cert-manager's: the private key PEM, a
//     newline, then the certificate chain PEM (tls.key + "\n" + tls.crt). The
//     CA is not included, as in cert-manager.
//   - key.der is the private key as DER PKCS#8, whatever PEM encoding tls.key
//     has. cert-manager writes the DER of its tls.key block (PKCS#1 or SEC1
//     by default); PKCS#8 is used here because it is the one encoding every
//     key type has and what Java's PKCS8EncodedKeySpec and most libraries
//     expect from a bare DER key.
//   - keystore.p12 holds the key, the leaf, then the rest of the chain and the
//     CA certificates, as cert-manager's. CA certificates already present in
//     the chain (or equal to the leaf, as with a self-signed certificate) are
//     not repeated. truststore.p12 holds the CA certificates marked as Java
//     trust anchors. Both use go-pkcs12's Modern2023 profile: PBES2 with
//     PBKDF2-HMAC-SHA-256 and AES-256-CBC, HMAC-SHA-256 MAC; readable by
//     OpenSSL 1.1.1+, Java 12+ and Windows Server 2019+. cert-manager's
//     default (LegacyRC2) is not offered: OpenSSL 3 cannot read it.
//   - keystore.jks has a private key entry "certificate" (key, leaf, chain)
//     and the CA certificates as trusted entries "ca", "ca-1", "ca-2", ...;
//     truststore.jks has only those trusted entries. Entry creation times are
//     the certificates' NotBefore rather than the time of writing.
//
// Both keystores are protected with one password (store and key), taken
// verbatim, so a trailing newline in the password Secret is part of it. For
// PKCS12 it must be printable ASCII, because Java (17, checked) refuses any
// other PBES2 password, a trailing newline included; for JKS, Latin-1.
//
// PKCS#12 and JKS encodings contain random salts and IVs, so encoding the
// same certificate twice gives different bytes. Data therefore decodes the
// keystore already in the target and keeps its bytes when it holds exactly
// what would be written, under the same password and (for PKCS#12) the same
// modern algorithms: an unchanged certificate never causes a Secret update,
// and so never a rollout.
//
// Ed25519 keys work in every format, but Java reads them only from Java 15
// on; RSA and ECDSA keys work everywhere.
package outputs
