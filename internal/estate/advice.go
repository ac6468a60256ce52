package estate

import (
	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/egress"
)

// RunbookURL is where docs/runbooks.md is published; Advice points into it.
const RunbookURL = "docs/runbooks.md"

// Advice is what to do about a reason, in a few lines, condensed from
// docs/runbooks.md, and the runbook section that says more.
type Advice struct {
	Lines   []string `json:"lines"`
	Runbook string   `json:"runbook"`
}

// AdviceFor returns the advice for a condition or source reason; ok is
// false for a reason that needs nothing done.
func AdviceFor(reason string) (Advice, bool) {
	a, ok := advice[reason]
	return a, ok
}

func adv(anchor string, lines ...string) Advice {
	return Advice{Lines: lines, Runbook: RunbookURL + "#" + anchor}
}

var (
	fixSource = adv("fix-a-source",
		"A source yields no valid certificate: read its reason under SOURCES.",
		"Fix it at the producer; certsync never writes an invalid certificate and the target keeps its last good one.")
	rollout = adv("force-a-rollout",
		"Workload restarts are pending or stuck: kubectl -n NS rollout status <kind>/<name>; check PDBs and pod events.",
		"`kubectl certsync plan NAME` shows what restarts and in which batches.")
	heldBack = adv("held-back-rollouts",
		"The target holds the new content; certsync holds back restarts on purpose (minRestartInterval, the previous rollout, --max-concurrent-rollouts) and restarts by itself when the wait ends.",
		"If a source changes at every read, fix it; otherwise wait, or shorten spec.rollout.minRestartInterval.")
	stale = adv("certsyncstalecertificateserved",
		"Pods serve another certificate than the target holds: see status.pods.staleNames.",
		"After a restart still stale (StaleAfterRestart): the software loads the certificate from elsewhere; fix its config.")
	expiring = adv("certsynccertificateexpiringsoon",
		"Renew the certificate at its source; certsync syncs and rolls it out by itself.",
		"`kubectl certsync renew NAME` re-reads the sources now.")
)

var advice = map[string]Advice{
	v1alpha1.ReasonNoValidSource:      fixSource,
	v1alpha1.ReasonSourcesDegraded:    fixSource,
	v1alpha1.ReasonTargetConflict:     adv("certsyncnotready", "The target Secret is not this object's; certsync never takes it over.", "Pick another spec.target.secretName, or label and annotate the Secret as this object's (see the runbook)."),
	v1alpha1.ReasonDowngradeRefused:   adv("certsyncnotready", "The newest valid candidate is older than the target's certificate.", "Fix the source; only to really go back, set spec.validation.allowDowngrade: true, and unset it after."),
	v1alpha1.ReasonSuspended:          adv("certsyncnotready", "spec.suspend is true: no writes, no restarts.", `kubectl -n NS patch certsync NAME --type merge -p '{"spec":{"suspend":false}}'`),
	v1alpha1.ReasonTargetWriteError:   adv("certsyncnotready", "The API server refused the write: operator logs, RBAC, quota, admission webhooks."),
	v1alpha1.ReasonRollingOut:         rollout,
	v1alpha1.ReasonRolloutStalled:     rollout,
	v1alpha1.ReasonWorkloadNotFound:   adv("certsyncnotready", "A workload in spec.rollout.workloads does not exist: fix the list or create it."),
	v1alpha1.ReasonStaleCertificate:   stale,
	v1alpha1.ReasonStaleAfterRestart:  stale,
	v1alpha1.ReasonPodsUnreachable:    adv("certsyncnotready", "Pods did not answer the TLS/STARTTLS check (status.pods.unreachableNames).", "Are they listening on spec.verify.endpoints? Does a NetworkPolicy block the operator?"),
	v1alpha1.ReasonNoEndpoints:        adv("certsyncnotready", "No port to check was found on the pods: declare spec.verify.endpoints (port and protocol)."),
	v1alpha1.ReasonWithinWarn:         expiring,
	v1alpha1.ReasonWithinCrit:         expiring,
	v1alpha1.ReasonExpired:            adv("certsynccertificateexpired", "The certificate has expired: clients fail now.", "Renew at the source now; if a valid certificate exists elsewhere, add it as a source (the newest valid one wins)."),
	v1alpha1.ReasonOutputFormatFailed: adv("certsyncnotready", "An additional output format or keystore could not be written: check its password Secret and the operator logs."),
	v1alpha1.ReasonInvalidSelector:    adv("certsyncnotready", "spec.verify.selector is not a valid label selector: fix it."),
	v1alpha1.ReasonWaitingForRollout:  rollout,
	v1alpha1.ReasonRollbackHeld: adv("rolled-back",
		"certsync rolled a renewal back (the pods failed with it) and keeps the rejected certificate out of the target.",
		"Fix what the pods rejected, then `kubectl certsync renew NAME` to sync it again."),
	// Tenancy (docs/security.md): what was refused, and who can allow it.
	consent.ReasonCredentialNotReleased: adv("certsyncnotready",
		"Credentials were not sent, nor a PKCS#12 password used: their Secret's certsync.io/allowed-hosts does not name the URL's host (no request was made).",
		"Whoever manages that Secret adds the host to the annotation; the author of NAME cannot."),
	egress.ReasonEgressDenied: adv("certsyncnotready",
		"The URL is outside the operator's egress policy (--egress-allow-hosts, --egress-deny-cidrs; link-local and metadata always denied).",
		"A legitimate endpoint: an administrator allows its host (chart egress.allowHosts)."),
	v1alpha1.ReasonTokenRequestFailed: adv("certsyncnotready",
		"The token endpoint refused the synced client credentials (the message has the HTTP status and error code).",
		"Fix the credentials at the source; certsync syncs them and checks again."),
	v1alpha1.ReasonTokenEndpointUnreachable: adv("connection-failure-classes",
		"The token endpoint did not answer: the message names the failure class (DialRefused, DNSNotFound, TLSHandshakeFailed, …).",
		"Check the endpoint, DNS and NetworkPolicies; retried with backoff."),

	// Restarts held back on purpose: they happen by themselves.
	v1alpha1.ReasonVerificationInProgress: adv("certsyncnotready",
		"The pods' check (or the token request) runs in the background and has not answered yet; its end updates the status.",
		"If it lasts, the pods or the endpoint answer slowly: `kubectl certsync verify NAME` waits for the result."),
	v1alpha1.ReasonRolloutPaced:              heldBack,
	v1alpha1.ReasonWaitingForPreviousRollout: heldBack,
	v1alpha1.ReasonWaitingForRolloutSlot:     heldBack,
}
