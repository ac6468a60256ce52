package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CertSyncSpec declares where renewed certificates come from, what they must
// satisfy, and which Secret receives the winner.
type CertSyncSpec struct {
	// sources lists where renewed certificates come from. All sources are read
	// on every reconcile, each candidate is validated, and the newest valid
	// certificate (latest notBefore, then latest notAfter) wins, so a stale or
	// unreachable source can neither hold back a renewal nor roll one back.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +required
	Sources []CertSource `json:"sources"`

	// validation is what a certificate must satisfy before it is written to
	// the target. A candidate that fails any rule is never written.
	// +optional
	Validation Validation `json:"validation,omitempty"`

	// target is the Secret the workloads mount.
	// +required
	Target Target `json:"target"`

	// rollout restarts the workloads that use the target when its
	// certificate changes. Default: mode Auto.
	// +optional
	Rollout Rollout `json:"rollout,omitempty"`

	// verify connects to every pod that uses the certificate and checks that
	// it serves it. On by default: pods that mount the target, on the ports
	// their containers declare.
	// +optional
	Verify Verify `json:"verify,omitempty"`

	// expiry sets how long before expiry certsync warns (condition
	// ExpiringSoon, events, metrics). It watches the synced certificate,
	// every source's certificate and what the pods serve.
	// +optional
	Expiry Expiry `json:"expiry,omitempty"`

	// suspend stops all writes to the target, and all restarts, while true.
	// Sources are still read and reported in status.
	// +kubebuilder:default=false
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// CertSource is one place a renewed certificate can come from. Exactly one
// kind of source must be set.
// +kubebuilder:validation:XValidation:rule="(has(self.secret) ? 1 : 0) + (has(self.certificate) ? 1 : 0) + (has(self.https) ? 1 : 0) == 1",message="exactly one source kind (secret, certificate or https) must be set"
type CertSource struct {
	// name identifies the source in status, events and metrics. A DNS label,
	// unique within the CertSync.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// secret reads the certificate from a Secret, e.g. the drop point of a
	// legacy PKI. A Secret in another namespace is read only if it consents
	// with the annotation certsync.io/allowed-namespaces.
	// +optional
	Secret *SecretSource `json:"secret,omitempty"`

	// certificate follows a cert-manager Certificate in the CertSync's
	// namespace: its Secret is a candidate while the Certificate is Ready
	// and no issuance is in flight.
	// +optional
	Certificate *CertificateSource `json:"certificate,omitempty"`

	// https fetches the certificate from an HTTPS endpoint of a legacy PKI.
	// +optional
	HTTPS *HTTPSSource `json:"https,omitempty"`
}

// CertificateSource names a cert-manager Certificate.
type CertificateSource struct {
	// name of the Certificate (cert-manager.io/v1) in the CertSync's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// SecretKeySelector names one key of a Secret in the CertSync's namespace.
type SecretKeySelector struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`
	// key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +required
	Key string `json:"key"`
}

// LocalSecretReference names a Secret in the CertSync's namespace.
type LocalSecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`
}

// HTTPSSource fetches a certificate bundle from an HTTPS endpoint. Bodies
// are capped at 1 MiB, requests are conditional (ETag, If-Modified-Since),
// and a redirect to another host (a login page, a decommissioned endpoint)
// is reported as an outage, never followed.
type HTTPSSource struct {
	// url of the bundle; https only.
	// +kubebuilder:validation:Pattern=`^https://`
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// format of the body: PEM (certificate chain and private key in one
	// bundle, or the chain only when keyURL is set) or PKCS12.
	// +kubebuilder:validation:Enum=PEM;PKCS12
	// +kubebuilder:default=PEM
	// +optional
	Format string `json:"format,omitempty"`

	// keyURL serves the PEM private key separately (PEM only).
	// +kubebuilder:validation:Pattern=`^https://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	KeyURL string `json:"keyURL,omitempty"`

	// passwordSecretRef holds the PKCS#12 password. The Secret must allow
	// the url's host in its certsync.io/allowed-hosts annotation (comma-
	// separated names, *.example.com, or *); otherwise the source is
	// CredentialNotReleased and nothing is fetched: a file from a host the
	// Secret's writer did not name could be a guess at its value.
	// +optional
	PasswordSecretRef *SecretKeySelector `json:"passwordSecretRef,omitempty"`

	// authSecretRef holds the endpoint's credentials: key `token` (sent as a
	// Bearer token) or keys `username` and `password` (HTTP basic). They
	// are sent only to hosts the Secret's certsync.io/allowed-hosts
	// annotation names; otherwise the source is CredentialNotReleased.
	// +optional
	AuthSecretRef *LocalSecretReference `json:"authSecretRef,omitempty"`

	// caSecretRef holds the CA that the endpoint's certificate must chain
	// to; it replaces the system roots for this endpoint.
	// +optional
	CASecretRef *SecretKeySelector `json:"caSecretRef,omitempty"`

	// refreshInterval between fetches while the source works; failures are
	// retried sooner, with capped exponential backoff.
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="refreshInterval must be at least 10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`

	// timeout of one fetch.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="timeout must be positive and at most 5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SecretSource reads a PEM certificate chain and private key from a Secret.
type SecretSource struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`

	// namespace of the Secret; defaults to the CertSync's namespace. A Secret
	// in another namespace must carry the annotation
	// certsync.io/allowed-namespaces listing this CertSync's namespace (or
	// "*"), otherwise the source is reported NotPermitted.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// certKey is the data key holding the PEM certificate, leaf first,
	// optionally followed by its chain.
	// +kubebuilder:default="tls.crt"
	// +kubebuilder:validation:MinLength=1
	// +optional
	CertKey string `json:"certKey,omitempty"`

	// keyKey is the data key holding the PEM private key (PKCS#1, PKCS#8 or
	// SEC1; RSA, ECDSA or Ed25519).
	// +kubebuilder:default="tls.key"
	// +kubebuilder:validation:MinLength=1
	// +optional
	KeyKey string `json:"keyKey,omitempty"`

	// caKey is the data key holding the PEM CA certificate, if any. It is
	// copied to the target's ca.crt when present.
	// +kubebuilder:default="ca.crt"
	// +kubebuilder:validation:MinLength=1
	// +optional
	CAKey string `json:"caKey,omitempty"`
}

// Validation lists the rules a candidate certificate must satisfy. Parsing,
// a private key matching the leaf, and being inside the validity window are
// always required.
type Validation struct {
	// dnsNames must every one be covered by the leaf certificate's SANs
	// (wildcards match one left-most label, as in RFC 6125).
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	// +optional
	DNSNames []string `json:"dnsNames,omitempty"`

	// minRemainingValidity refuses a certificate that expires sooner than
	// this, e.g. "24h". Unset means any certificate not yet expired.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="minRemainingValidity must be positive"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	MinRemainingValidity *metav1.Duration `json:"minRemainingValidity,omitempty"`

	// allowDowngrade permits replacing the target's certificate with an older
	// one (earlier notBefore). Off by default: a stale source must never roll
	// back a renewal.
	// +kubebuilder:default=false
	// +optional
	AllowDowngrade bool `json:"allowDowngrade,omitempty"`
}

// Target is the Secret that receives the winning certificate.
type Target struct {
	// secretName is the Secret, in the CertSync's namespace, of type
	// kubernetes.io/tls, that receives tls.crt (leaf then chain), tls.key and
	// ca.crt (when known). certsync creates it if missing and refuses to touch
	// an existing Secret it did not create. Keys it does not manage are kept.
	// Deleting the CertSync leaves the Secret in place.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	SecretName string `json:"secretName"`

	// additionalOutputFormats writes the certificate in more formats, with
	// cert-manager's key names: CombinedPEM (tls-combined.pem: key then
	// chain) and DER (key.der: the private key, PKCS#8 DER).
	// +kubebuilder:validation:MaxItems=2
	// +listType=map
	// +listMapKey=type
	// +optional
	AdditionalOutputFormats []AdditionalOutputFormat `json:"additionalOutputFormats,omitempty"`

	// keystores writes Java and PKCS#12 keystores, as cert-manager's
	// spec.keystores: keystore.p12 / truststore.p12 and keystore.jks /
	// truststore.jks (truststores only when a CA is known).
	// +optional
	Keystores *Keystores `json:"keystores,omitempty"`
}

// AdditionalOutputFormat is one extra encoding of the certificate.
type AdditionalOutputFormat struct {
	// type: CombinedPEM or DER.
	// +kubebuilder:validation:Enum=CombinedPEM;DER
	// +required
	Type string `json:"type"`
}

// Keystores configures the keystores written into the target.
type Keystores struct {
	// pkcs12 writes keystore.p12 (AES-256, SHA-256).
	// +optional
	PKCS12 *Keystore `json:"pkcs12,omitempty"`
	// jks writes keystore.jks.
	// +optional
	JKS *Keystore `json:"jks,omitempty"`
}

// Keystore is one keystore and the Secret key holding its password.
type Keystore struct {
	// create turns the keystore on.
	// +required
	Create bool `json:"create"`
	// passwordSecretRef holds the keystore password (in the CertSync's
	// namespace).
	// +required
	PasswordSecretRef SecretKeySelector `json:"passwordSecretRef"`
}

// Expiry sets the warning windows before a certificate expires.
// +kubebuilder:validation:XValidation:rule="!has(self.warnBefore) || !has(self.criticalBefore) || duration(self.criticalBefore) <= duration(self.warnBefore)",message="criticalBefore must not exceed warnBefore"
type Expiry struct {
	// warnBefore: ExpiringSoon turns True (WithinWarningWindow) this long
	// before the earliest expiry. Default 720h (30 days).
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="warnBefore must be positive"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	WarnBefore *metav1.Duration `json:"warnBefore,omitempty"`
	// criticalBefore: reason WithinCriticalWindow this long before. Default
	// 168h (7 days).
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="criticalBefore must be positive"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	CriticalBefore *metav1.Duration `json:"criticalBefore,omitempty"`
}

// RolloutMode says which workloads certsync restarts.
// +kubebuilder:validation:Enum=Auto;Explicit;None
type RolloutMode string

const (
	// RolloutAuto restarts every Deployment, StatefulSet and DaemonSet whose
	// pods mount the target (found from the pods and their owners), plus
	// the listed workloads.
	RolloutAuto RolloutMode = "Auto"
	// RolloutExplicit restarts only the listed workloads.
	RolloutExplicit RolloutMode = "Explicit"
	// RolloutNone restarts nothing; verification still reports stale pods.
	RolloutNone RolloutMode = "None"
)

// Rollout restarts workloads when the certificate changes: each workload once
// per certificate, by a pod-template annotation carrying its SHA-256.
type Rollout struct {
	// mode: Auto (default), Explicit or None.
	// +kubebuilder:default=Auto
	// +optional
	Mode RolloutMode `json:"mode,omitempty"`

	// workloads to restart besides those found automatically (Auto), or
	// instead of them (Explicit). In the CertSync's namespace only.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Workloads []WorkloadRef `json:"workloads,omitempty"`

	// pods configures the restart of bare pods (pods without a controller)
	// and of pods that serve a stale certificate: they are evicted through
	// the Eviction API, so PodDisruptionBudgets are honoured.
	// +optional
	Pods PodRollout `json:"pods,omitempty"`

	// progressDeadline is how long a workload's rollout may go without
	// completing before RolledOut turns False with reason RolloutStalled.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="progressDeadline must be positive"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`

	// minRestartInterval is the least time between two restarts of one
	// workload (or eviction of one bare pod) by certsync, whatever the
	// content: a source that changes often (an endpoint minting a
	// certificate per request, a flapping source with allowDowngrade)
	// cannot restart the workloads at every change. Independently, a new
	// rollout of a workload waits until certsync's previous rollout of it
	// completed (or passed its progressDeadline). Meanwhile the target
	// Secret is still updated, so pods that start later get the newest
	// content; RolledOut says RolloutPaced or WaitingForPreviousRollout and
	// the restart happens when the wait ends. Measured from the
	// certsync.io/restarted-at annotation of the pod template (a bare pod's
	// creation), so it holds across operator restarts and across the
	// CertSyncs and SecretSyncs that restart the same workload. A restart
	// that restores a certificate after an automatic rollback is not paced.
	// Default 10m; 0s turns the interval off (the wait for the previous
	// rollout remains).
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="minRestartInterval must not be negative"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	MinRestartInterval *metav1.Duration `json:"minRestartInterval,omitempty"`

	// autoRollback restores the previous certificate when the pods fail
	// after a certificate change: their rollout does not complete within
	// progressDeadline, or the pods of the new certificate stop answering
	// TLS while those of the previous one did. The previous certificate is
	// kept in a Secret named <target>-certsync-history (owned by this
	// CertSync; never an expired certificate or one that fails validation);
	// the workloads are restarted once more for it, and the condition
	// RolledBack turns True. A certificate that was rolled back is not
	// synced again until a newer one arrives or the annotation
	// certsync.io/renew-requested-at is set to a time after the rollback.
	// Default true; false only reports the failure (RolledOut or Verified).
	// CertSync only: a SecretSync ignores it.
	// +kubebuilder:default=true
	// +optional
	AutoRollback *bool `json:"autoRollback,omitempty"`
}

// WorkloadRef names a workload in the CertSync's namespace.
type WorkloadRef struct {
	// kind: Deployment, StatefulSet or DaemonSet.
	// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
	// +required
	Kind string `json:"kind"`
	// name of the workload.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// PodRollout bounds pod evictions.
type PodRollout struct {
	// maxUnavailable is how many pods of this CertSync may be unavailable
	// (not ready, or being evicted) at once because of certsync.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxUnavailable int32 `json:"maxUnavailable,omitempty"`
}

// Protocol is how a verification endpoint is spoken to.
// +kubebuilder:validation:Enum=TLS;SMTP;IMAP;POP3
type Protocol string

// VerifyEndpoint is one port to check on every pod.
type VerifyEndpoint struct {
	// port on the pod IP.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port"`
	// protocol: TLS (direct), or SMTP, IMAP, POP3 (via STARTTLS).
	// +required
	Protocol Protocol `json:"protocol"`
}

// Verify checks, by a TLS or STARTTLS handshake with every pod, that each
// one serves the synced certificate.
type Verify struct {
	// selector picks the pods to verify; default: the pods that mount the
	// target Secret (volume, projected volume, env or envFrom). An empty
	// selector is refused: it would match every pod of the namespace, and
	// remediation would evict any of them that serves another certificate.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="an empty selector matches every pod of the namespace; name labels, or leave selector out to verify the pods that mount the target"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// endpoints to check on each pod; default: derived from the containers'
	// ports by well-known number (443, 465, 636, 993, 995, 8443: TLS; 25,
	// 587: SMTP; 143: IMAP; 110: POP3) or by IANA port name (https, smtps,
	// submissions, imaps, pop3s, ldaps, smtp, submission, imap, pop3).
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Endpoints []VerifyEndpoint `json:"endpoints,omitempty"`

	// serverName is the SNI sent; default: the first validation.dnsNames entry.
	// +optional
	ServerName string `json:"serverName,omitempty"`

	// interval between continuous re-verifications. At least 10s.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="interval must be at least 10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// timeout for one pod endpoint: connect, STARTTLS and handshake.
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('1m')",message="timeout must be positive and at most 1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// remediate restarts (evicts) a pod that serves a stale certificate, at
	// most rollout.pods.maxUnavailable at a time. A pod that still serves a
	// stale certificate after a restart is reported (StaleAfterRestart), not
	// restarted again.
	// +kubebuilder:default=true
	// +optional
	Remediate *bool `json:"remediate,omitempty"`
}

// PodsStatus counts the verified pods.
type PodsStatus struct {
	// summary is "verified/total", for kubectl get.
	// +optional
	Summary string `json:"summary,omitempty"`
	// total pods verified (ready pods matched by the verify selector).
	Total int32 `json:"total"`
	// verified pods serve the synced certificate on every endpoint.
	Verified int32 `json:"verified"`
	// stale pods serve another certificate on at least one endpoint.
	Stale int32 `json:"stale"`
	// unreachable pods could not be checked on at least one endpoint.
	Unreachable int32 `json:"unreachable"`
	// staleNames are the first 10 stale pods.
	// +listType=atomic
	// +optional
	StaleNames []string `json:"staleNames,omitempty"`
	// unreachableNames are the first 10 unreachable pods.
	// +listType=atomic
	// +optional
	UnreachableNames []string `json:"unreachableNames,omitempty"`
}

// RestartRecord remembers a restart certsync made for the current
// certificate, so a pod that is still stale afterwards is reported instead of
// restarted in a loop.
type RestartRecord struct {
	// kind of what was restarted: Deployment, StatefulSet, DaemonSet or Pod.
	Kind string `json:"kind"`
	// name of the workload or pod.
	Name string `json:"name"`
	// owner is the restarted pod's controller ("Kind/name"), if any.
	// +optional
	Owner string `json:"owner,omitempty"`
	// sha256 of the certificate the restart was for.
	SHA256 string `json:"sha256"`
	// time of the restart.
	Time metav1.Time `json:"time"`
	// completed is set once the workload's rollout for this certificate
	// finished; certsync then stops following it (later scaling or deploys
	// are not its rollout).
	// +optional
	Completed bool `json:"completed,omitempty"`
}

// CertificateInfo describes a certificate without any key material.
type CertificateInfo struct {
	// source is the name of the source the certificate came from.
	// +optional
	Source string `json:"source,omitempty"`
	// serialNumber of the leaf, in hex.
	// +optional
	SerialNumber string `json:"serialNumber,omitempty"`
	// sha256 is the SHA-256 fingerprint of the leaf's DER, in hex; the value
	// the verification compares served certificates against.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// notBefore of the leaf.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`
	// notAfter of the leaf.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// dnsNames are the leaf's DNS SANs.
	// +listType=atomic
	// +optional
	DNSNames []string `json:"dnsNames,omitempty"`
	// issuer is the leaf's issuer distinguished name.
	// +optional
	Issuer string `json:"issuer,omitempty"`
}

// SourceStatus is what certsync last saw of one source.
type SourceStatus struct {
	// name of the source in spec.sources.
	Name string `json:"name"`
	// ready is true when the source yielded a valid candidate.
	Ready bool `json:"ready"`
	// reason is a CamelCase word for the source's state, e.g. Valid,
	// NotFound, NotPermitted, ParseError, KeyMismatch, Expired.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message says what is wrong in words a human can act on.
	// +optional
	Message string `json:"message,omitempty"`
	// sha256 of the source's leaf certificate, when it could be parsed.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// notAfter of the source's leaf certificate, when it could be parsed.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// lastChecked is when the source was last fetched (HTTPS sources,
	// which are fetched every refreshInterval rather than on every change).
	// +optional
	LastChecked *metav1.Time `json:"lastChecked,omitempty"`
}

// HandledRequests are the values of the request annotations last served.
type HandledRequests struct {
	// verify is the certsync.io/verify-requested-at value last served.
	// +optional
	Verify string `json:"verify,omitempty"`
	// renew is the certsync.io/renew-requested-at value last served.
	// +optional
	Renew string `json:"renew,omitempty"`
}

// CertSyncStatus is the observed state of a CertSync.
type CertSyncStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the summary), SourcesReady, Synced, RolledOut,
	// Verified, ExpiringSoon, and RolledBack after an automatic rollback.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// certificate is the certificate the target holds.
	// +optional
	Certificate *CertificateInfo `json:"certificate,omitempty"`

	// sources is the state of each source, in spec order.
	// +listType=map
	// +listMapKey=name
	// +optional
	Sources []SourceStatus `json:"sources,omitempty"`

	// lastSyncTime is when certsync last wrote the target.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// pods counts the pods verified against the synced certificate.
	// +optional
	Pods *PodsStatus `json:"pods,omitempty"`

	// lastVerifiedTime is when the current verification result was first
	// observed. Re-verifications that find nothing new do not rewrite status,
	// so a steady state makes no API writes.
	// +optional
	LastVerifiedTime *metav1.Time `json:"lastVerifiedTime,omitempty"`

	// restarts certsync made for the current certificate (newest last):
	// one record per workload and per pod lineage (the evicted pods of one
	// owner, or one bare pod), at most 1000; cleared when the certificate
	// changes.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	Restarts []RestartRecord `json:"restarts,omitempty"`

	// lastHandledRequests records the verify and renew requests
	// (annotations) served, so whoever asked knows when it is done.
	// +optional
	LastHandledRequests *HandledRequests `json:"lastHandledRequests,omitempty"`

	// rolledBack records the last automatic rollback (rollout.autoRollback):
	// the certificate that was rejected is not synced again until a newer
	// one arrives or a renewal is requested after it.
	// +optional
	RolledBack *RollbackRecord `json:"rolledBack,omitempty"`
}

// RollbackRecord describes an automatic rollback, without key material.
type RollbackRecord struct {
	// rejectedSHA256 is the fingerprint of the certificate the pods failed
	// with.
	RejectedSHA256 string `json:"rejectedSHA256"`
	// restoredSHA256 is the fingerprint of the certificate restored.
	RestoredSHA256 string `json:"restoredSHA256"`
	// reason: RolloutStalled or PodsUnreachable.
	Reason string `json:"reason"`
	// message says what failed.
	// +optional
	Message string `json:"message,omitempty"`
	// time of the rollback.
	Time metav1.Time `json:"time"`
}

// CertSync keeps a TLS Secret filled with the newest valid certificate from
// a set of sources. Deleting a CertSync never deletes its target Secret.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=csync,categories=certsync-all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.certificate.source`
// +kubebuilder:printcolumn:name="NotAfter",type=string,JSONPath=`.status.certificate.notAfter`
// +kubebuilder:printcolumn:name="Expiry",type=string,JSONPath=`.status.conditions[?(@.type=="ExpiringSoon")].reason`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.pods.summary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type CertSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares sources, validation and target.
	// +required
	Spec CertSyncSpec `json:"spec"`

	// status is written by certsync only.
	// +optional
	Status CertSyncStatus `json:"status,omitempty"`
}

// CertSyncList contains a list of CertSync.
// +kubebuilder:object:root=true
type CertSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CertSync `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CertSync{}, &CertSyncList{})
}
