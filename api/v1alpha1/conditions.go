package v1alpha1

// Condition types of a CertSync.
const (
	// ConditionReady summarises the others; kstatus-compatible, so
	// `kubectl wait --for=condition=Ready` and GitOps health checks work.
	ConditionReady = "Ready"
	// ConditionSourcesReady says whether every source yielded a valid candidate.
	ConditionSourcesReady = "SourcesReady"
	// ConditionSynced says whether the target holds the chosen certificate.
	ConditionSynced = "Synced"
	// ConditionRolledOut says whether every workload using the target runs
	// pods started with its current certificate.
	ConditionRolledOut = "RolledOut"
	// ConditionVerified says whether every pod serves the synced certificate.
	ConditionVerified = "Verified"
	// ConditionExpiringSoon is True while the earliest of the synced, the
	// sources' and the served certificates is within its warning window.
	ConditionExpiringSoon = "ExpiringSoon"
	// ConditionRolledBack is True while the target holds a certificate
	// restored by an automatic rollback (spec.rollout.autoRollback); its
	// reason says what failed. Absent when no rollback ever happened.
	ConditionRolledBack = "RolledBack"
)

// Rollback reasons and annotations (spec.rollout.autoRollback).
const (
	// ReasonRolledBack is the event of an automatic rollback.
	ReasonRolledBack = "RolledBack"
	// ReasonRollbackSuperseded: RolledBack turned False because a newer
	// certificate (or a requested renewal) replaced the restored one.
	ReasonRollbackSuperseded = "Superseded"
	// ReasonRollbackHeld: Synced reason while the newest candidate is the
	// certificate that was rolled back, which is not synced again.
	ReasonRollbackHeld = "RolledBackCertificateHeld"
	// LabelHistory ("true") marks a CertSync's history Secret, which keeps
	// the previous certificate for an automatic rollback.
	LabelHistory = "certsync.io/history"
)

// Reasons used in conditions and events. Stable: alerts and runbooks match them.
const (
	ReasonSynced             = "Synced"
	ReasonAllSourcesReady    = "AllSourcesReady"
	ReasonSourcesDegraded    = "Degraded"
	ReasonNoValidSource      = "NoValidSource"
	ReasonTargetConflict     = "TargetConflict"
	ReasonDowngradeRefused   = "DowngradeRefused"
	ReasonSuspended          = "Suspended"
	ReasonTargetWriteError   = "TargetWriteFailed"
	ReasonOutputFormatFailed = "OutputFormatFailed"
	ReasonReady              = "Ready"
	// ReasonReconciling: Ready is not known yet, a condition it summarises
	// has not been computed (the first reconcile failed before it).
	ReasonReconciling = "Reconciling"

	ReasonRolledOut         = "RolledOut"
	ReasonRollingOut        = "RollingOut"
	ReasonRolloutStalled    = "RolloutStalled"
	ReasonRolloutDisabled   = "RolloutDisabled"
	ReasonWorkloadNotFound  = "WorkloadNotFound"
	ReasonVerified          = "Verified"
	ReasonNoPods            = "NoPods"
	ReasonStaleCertificate  = "StaleCertificateServed"
	ReasonStaleAfterRestart = "StaleAfterRestart"
	ReasonPodsUnreachable   = "PodsUnreachable"
	ReasonNoEndpoints       = "NoEndpoints"
	ReasonWaitingForRollout = "WaitingForRollout"
	ReasonInvalidSelector   = "InvalidSelector"
	ReasonNothingToVerify   = "NothingToVerify"
	// ReasonVerificationInProgress: the probes (or the token request) run
	// in the background and have not answered yet.
	ReasonVerificationInProgress = "VerificationInProgress"

	ReasonNotExpiring = "NotExpiring"
	ReasonNoExpiry    = "NoExpiryKnown"
	ReasonWithinWarn  = "WithinWarningWindow"
	ReasonWithinCrit  = "WithinCriticalWindow"
	ReasonExpired     = "Expired"

	// Event-only reasons.
	ReasonCertificateExpiringSoon = "CertificateExpiringSoon"
	ReasonCertificateExpired      = "CertificateExpired"
	ReasonVerificationFailed      = "VerificationFailed"
	ReasonRolloutStarted          = "RolloutStarted"
	ReasonRolloutComplete         = "RolloutComplete"
	ReasonPodRestarted            = "PodRestarted"
	ReasonValidationFailed        = "ValidationFailed"
	ReasonSourceUnavailable       = "SourceUnavailable"
)

// Reasons of RolledOut (and Ready) while a restart is held back: a rollout
// storm is paced per workload and bounded across the cluster.
const (
	// ReasonRolloutPaced: a restart waits for rollout.minRestartInterval
	// since the workload's last restart by certsync.
	ReasonRolloutPaced = "RolloutPaced"
	// ReasonWaitingForPreviousRollout: a restart waits until certsync's
	// previous rollout of the workload completes (or passes its deadline).
	ReasonWaitingForPreviousRollout = "WaitingForPreviousRollout"
	// ReasonWaitingForRolloutSlot: a restart waits for a slot of the
	// operator's cluster-wide budget of rollouts (--max-concurrent-rollouts).
	ReasonWaitingForRolloutSlot = "WaitingForRolloutSlot"
)

// Labels and annotations certsync reads or writes.
const (
	// LabelManagedBy marks the target Secrets certsync created.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on certsync's Secrets.
	ManagedByValue = "certsync"
	// AnnotationOwner names the CertSync (in the Secret's namespace) that
	// manages a target Secret. Another CertSync will not write to it.
	AnnotationOwner = "certsync.io/owner"
	// AnnotationSHA256 carries the SHA-256 of the leaf certificate in a target.
	AnnotationSHA256 = "certsync.io/sha256"
	// AnnotationSource names the source the target's certificate came from.
	AnnotationSource = "certsync.io/source"
	// AnnotationAllowedNamespaces, on a source Secret, lists the namespaces
	// (comma-separated, or "*") whose CertSyncs may read it from elsewhere
	// and whose SecretSyncs may copy it (its own namespace included).
	AnnotationAllowedNamespaces = "certsync.io/allowed-namespaces"
	// AnnotationRestartedFor, on a workload's pod template, is the SHA-256 of
	// the certificate certsync restarted it for: each certificate restarts
	// each workload once, also across operator restarts.
	AnnotationRestartedFor = "certsync.io/restarted-for"
	// AnnotationRestartedAt, on a workload's pod template next to
	// AnnotationRestartedFor, is when certsync restarted it (RFC 3339):
	// rollout.minRestartInterval runs from it.
	AnnotationRestartedAt = "certsync.io/restarted-at"
	// AnnotationSyncedAt, on a target, is when certsync wrote its current
	// certificate (RFC 3339); pods started before it hold an older one.
	AnnotationSyncedAt = "certsync.io/synced-at"
	// AnnotationVerifyRequested, on a CertSync, asks for a verification of
	// every pod now, whatever verify.interval says (`kubectl certsync
	// verify`); on a SecretSync, for its token request now. Its value (a
	// timestamp or nonce) is copied to status.lastHandledRequests.verify
	// once the verification ran.
	AnnotationVerifyRequested = "certsync.io/verify-requested-at"
	// AnnotationRenewRequested, on a CertSync or SecretSync, asks to read
	// every source now: HTTPS sources bypass refreshInterval and backoff, cert-manager
	// Certificates are asked to re-issue (as `cmctl renew` does). Its value
	// is copied to status.lastHandledRequests.renew once served.
	AnnotationRenewRequested = "certsync.io/renew-requested-at"
)
