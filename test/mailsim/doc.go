// Package mailsim plays the mail pods of a kwok cluster, which runs no
// containers: it watches pods by label and, for each running pod, serves TLS
// or STARTTLS (SMTP, IMAP, POP3) on the pod's IP and container ports, so the
// operator's verification can probe real endpoints.
//
// Like Postfix and Dovecot, a simulated pod reads its certificate once, when
// it starts: the Secret's tls.crt/tls.key are snapshotted on first sight of
// the running pod and never re-read. Updating the Secret therefore changes
// nothing until the pod is replaced, which is the incident certsync exists
// for. Two knobs make pods misbehave on purpose:
//
//   - ServeStale swaps a running pod's certificate behind the operator's back;
//   - the pod annotation mailsim.certsync.io/broken: "true" makes every pod
//     of an owner serve the certificate the owner's first pod served, so
//     restarts never fix it (a broken image).
//
// Pods whose Secret is missing or invalid serve nothing (in reality they
// would not start) and are retried until it appears. Only loopback pod IPs
// are served: everything stays on 127.0.0.0/8.
package mailsim
