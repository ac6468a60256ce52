// Package probe connects to a pod's TLS endpoints — direct TLS or STARTTLS
// for SMTP, IMAP and POP3 — and records the certificate the pod serves.
//
// It makes no trust decision on purpose: the question it answers is "which
// certificate is this pod serving right now?", and the pods that matter most
// are exactly the ones serving an expired, self-signed or otherwise invalid
// certificate. The served leaf is compared with the desired one by SHA-256
// fingerprint (see Classify), never by chain validation.
//
// Every network step runs under one per-target deadline and every line read
// from a server is length- and count-limited, so a broken or hostile server
// costs at most Timeout and a few KiB of memory.
package probe
