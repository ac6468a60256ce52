/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package main

// The image is distroless/static or built from scratch (make image): it may
// hold no CA bundle at all, and HTTPS sources without a caSecretRef rely on
// the system roots. The fallback bundle (Mozilla's, via x/crypto) is used
// only when the system has none, so a node-provided or mounted bundle
// (SSL_CERT_FILE, SSL_CERT_DIR) still wins.
import _ "golang.org/x/crypto/x509roots/fallback"
