package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretSyncSpec declares where an opaque secret (an OAuth2 client secret,
// an API token, a password) comes from, which of its keys are copied under
// which names, when it expires, and which Secret receives it.
// +kubebuilder:validation:XValidation:rule="self.sources.all(s, !has(s.https) || !has(s.https.format) || s.https.format != 'Raw' || (size(self.keys) == 1 && self.keys[0].from == 'body'))",message="an https source of format Raw yields one value, its whole body: keys must be exactly one entry with from: body (name the target key with to)"
// +kubebuilder:validation:XValidation:rule="!has(self.expiry) || !has(self.expiry.from) || !has(self.expiry.from.key) || !self.sources.exists(s, has(s.https) && has(s.https.format) && s.https.format == 'Raw')",message="expiry.from.key cannot be read from an https source of format Raw (its body is the value); use expiry.from.notAfter"
type SecretSyncSpec struct {
	// sources lists where the secret comes from. All sources are read on
	// every reconcile; a source qualifies when it holds every keys[].from
	// with a non-empty value and has not expired. Among those the newest
	// wins: the one that expires last, a known expiry before an unknown
	// one, then the first in spec order.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +required
	Sources []SecretSyncSource `json:"sources"`

	// keys lists the keys to copy from the winning source into the target,
	// and the name each one gets there. Nothing else is copied.
	// +listType=map
	// +listMapKey=from
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, self.exists_one(o, (has(o.to) ? o.to : o.from) == (has(k.to) ? k.to : k.from)))",message="two keys must not be written to the same target key"
	// +required
	Keys []SecretSyncKey `json:"keys"`

	// expiry says where the secret's expiry date comes from and how long
	// before it certsync warns. Without expiry.from the secret is synced
	// all the same and status says that no expiry is known.
	// +optional
	Expiry SecretSyncExpiry `json:"expiry,omitempty"`

	// target is the Secret the workloads use.
	// +required
	Target SecretSyncTarget `json:"target"`

	// rollout restarts the workloads that use the target (as a volume, env
	// or envFrom) when its values change. Default: mode Auto.
	// +optional
	Rollout Rollout `json:"rollout,omitempty"`

	// verify proves that the synced secret works where it is used.
	// +optional
	Verify SecretSyncVerify `json:"verify,omitempty"`

	// suspend stops all writes to the target, and all restarts, while true.
	// Sources are still read and reported in status.
	// +kubebuilder:default=false
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// SecretSyncSource is one place the secret can come from. Exactly one kind
// of source must be set.
// +kubebuilder:validation:XValidation:rule="(has(self.secret) ? 1 : 0) + (has(self.https) ? 1 : 0) == 1",message="exactly one source kind (secret or https) must be set"
type SecretSyncSource struct {
	// name identifies the source in status and events. A DNS label, unique
	// within the SecretSync.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// secret reads the values from a Secret, e.g. where an identity
	// provider's credentials are dropped. The Secret is read only if it
	// consents with the annotation certsync.io/allowed-namespaces listing
	// this SecretSync's namespace (or "*") — also when it is in the same
	// namespace, since its values land in a target.
	// +optional
	Secret *SecretSyncSecretRef `json:"secret,omitempty"`

	// https fetches the values from an HTTPS endpoint (a vault, an
	// identity provider's API), as JSON or as the raw body. It is fetched
	// every refreshInterval with conditional requests, not on every
	// reconcile.
	// +optional
	HTTPS *SecretSyncHTTPSSource `json:"https,omitempty"`
}

// SecretSyncHTTPSSource fetches an opaque secret from an HTTPS endpoint.
// Bodies are capped at 1 MiB, requests are conditional (ETag,
// If-Modified-Since), a redirect to another host (a login page, a
// decommissioned endpoint) is reported as an outage, never followed, and a
// web page served instead of the secret is refused (HTMLResponse). Values
// never appear in status, events or logs: only key names and hashes do.
type SecretSyncHTTPSSource struct {
	// url of the endpoint; https only: the body is a secret. Credentials
	// belong in authSecretRef, not in the URL.
	// +kubebuilder:validation:Pattern=`^https://[^/?#@\s]+(/[^#\s]*)?$`
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// format of the body. JSON: one JSON document; each keys[].from (and
	// expiry.from.key) is a path into it, e.g. ".data.client_secret" or
	// "$.items[0].value" (members, [index] and ['quoted name'] steps; a
	// path must address one string, number or boolean). Raw: the whole
	// body is the value: keys must be exactly [{from: body, to: ...}], and
	// a body starting with '<' is refused as a web page.
	// +kubebuilder:validation:Enum=JSON;Raw
	// +kubebuilder:default=JSON
	// +optional
	Format string `json:"format,omitempty"`

	// authSecretRef names a Secret, in the SecretSync's namespace, with the
	// endpoint's credentials: key `token` (sent as a Bearer token) or keys
	// `username` and `password` (HTTP basic). They are sent only to the
	// URL's origin.
	// +optional
	AuthSecretRef *SecretSyncLocalSecretRef `json:"authSecretRef,omitempty"`

	// caSecretRef names a PEM CA bundle in a Secret of the SecretSync's
	// namespace that is the only trust for the endpoint's certificate.
	// Default: the system roots.
	// +optional
	CASecretRef *OAuth2CASecretRef `json:"caSecretRef,omitempty"`

	// refreshInterval between fetches while the source works; failures are
	// retried sooner, with capped exponential backoff and jitter.
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="refreshInterval must be at least 10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`

	// timeout of one fetch, connection, redirects and body included.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="timeout must be positive and at most 5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SecretSyncLocalSecretRef names a Secret in the SecretSync's namespace.
type SecretSyncLocalSecretRef struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`
}

// SecretSyncSecretRef names a source Secret.
type SecretSyncSecretRef struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`

	// namespace of the Secret; defaults to the SecretSync's namespace. The
	// Secret, in this namespace or another, must carry the annotation
	// certsync.io/allowed-namespaces listing this SecretSync's namespace (or
	// "*"), otherwise the source is reported NotPermitted (as is a missing
	// Secret).
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// SecretSyncKey copies one key of the source into the target.
type SecretSyncKey struct {
	// from is the key in the source Secret's data, or, for an https source
	// of format JSON, a path into the JSON body (".data.client_secret"); for
	// format Raw it must be "body". A source that lacks it, or holds an
	// empty value, is not used.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	From string `json:"from"`

	// to is the key in the target Secret; default: the same as from.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +optional
	To string `json:"to,omitempty"`
}

// SecretSyncExpiry says when a secret expires and how early to warn.
// +kubebuilder:validation:XValidation:rule="!has(self.warnBefore) || !has(self.criticalBefore) || duration(self.criticalBefore) <= duration(self.warnBefore)",message="criticalBefore must not be longer than warnBefore"
type SecretSyncExpiry struct {
	// from is where the expiry date is read. Unset: the expiry is unknown,
	// which is allowed and reported (ExpiringSoon Unknown, NoExpiryKnown).
	// +optional
	From *SecretSyncExpiryFrom `json:"from,omitempty"`

	// warnBefore is how long before the expiry the ExpiringSoon condition
	// turns True (WithinWarningWindow) and a SecretExpiringSoon event is
	// emitted.
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="warnBefore must be positive"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	WarnBefore *metav1.Duration `json:"warnBefore,omitempty"`

	// criticalBefore is how long before the expiry ExpiringSoon says
	// WithinCriticalWindow, with another SecretExpiringSoon event.
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="criticalBefore must be positive"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	CriticalBefore *metav1.Duration `json:"criticalBefore,omitempty"`
}

// SecretSyncExpiryFrom names where a secret's expiry date is read. At most
// one field may be set.
// +kubebuilder:validation:XValidation:rule="(has(self.key) ? 1 : 0) + (has(self.annotation) ? 1 : 0) + (has(self.notAfter) ? 1 : 0) <= 1",message="at most one of key, annotation and notAfter may be set"
type SecretSyncExpiryFrom struct {
	// key is a data key of each source holding its expiry, as RFC 3339
	// ("2027-01-01T00:00:00Z") or Unix seconds ("1798761600"); for an https
	// source of format JSON, a path into the body (".expires_at"). A source
	// without the key has an unknown expiry; one whose value is neither
	// format is not used (InvalidExpiry).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`

	// annotation is an annotation of each source Secret holding its expiry,
	// in the same formats as key. An https source has no annotations: its
	// expiry is then unknown.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +optional
	Annotation string `json:"annotation,omitempty"`

	// notAfter is a fixed expiry date, for secrets whose expiry lives in a
	// portal. Update it when the secret is renewed.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
}

// SecretSyncTarget is the Secret that receives the winning values.
type SecretSyncTarget struct {
	// secretName is the Secret, in the SecretSync's namespace, of type
	// Opaque, that receives the keys. certsync creates it if missing and
	// refuses to touch an existing Secret it did not create for this
	// SecretSync. Keys it does not manage are kept. Deleting the SecretSync
	// leaves the Secret in place.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	SecretName string `json:"secretName"`
}

// SecretSyncVerify lists the checks that prove the synced secret works.
type SecretSyncVerify struct {
	// oauth2ClientCredentials requests a token with the synced client
	// credentials (OAuth 2.0 client credentials grant, RFC 6749 §4.4), so a
	// secret revoked or expired at the identity provider is found before
	// the workloads fail. The token is never logged or stored.
	// +optional
	OAuth2ClientCredentials *OAuth2ClientCredentials `json:"oauth2ClientCredentials,omitempty"`
}

// OAuth2ClientCredentials is a client-credentials token request made with
// the values of the target Secret.
type OAuth2ClientCredentials struct {
	// tokenURL is the identity provider's token endpoint. https only: the
	// client secret is sent to it.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^/?#@\s]+(/[^#\s]*)?$`
	// +required
	TokenURL string `json:"tokenURL"`

	// clientIDKey is the key of the target Secret holding the client id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	ClientIDKey string `json:"clientIDKey"`

	// clientSecretKey is the key of the target Secret holding the client
	// secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	ClientSecretKey string `json:"clientSecretKey"`

	// scopes requested with the token.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	// +listType=atomic
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// caSecretRef, when set, names a PEM CA bundle in a Secret of the
	// SecretSync's namespace that is the only trust for the token
	// endpoint's certificate. Default: the system roots.
	// +optional
	CASecretRef *OAuth2CASecretRef `json:"caSecretRef,omitempty"`

	// interval between token requests while the secret is unchanged; a
	// change of the secret is verified at once.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="interval must be at least 1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// timeout of one token request, connection and response included.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('1m')",message="timeout must be positive and at most 1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// OAuth2CASecretRef names the key of a Secret, in the SecretSync's
// namespace, that holds a PEM CA bundle.
type OAuth2CASecretRef struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`

	// key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// SyncedSecretInfo describes what the target holds, without its values.
type SyncedSecretInfo struct {
	// source is the name of the source the values came from.
	// +optional
	Source string `json:"source,omitempty"`
	// sha256 is the SHA-256 of the synced key/value pairs (sorted by key),
	// in hex: it changes when any value changes, and says nothing else.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// notAfter is when the synced secret expires, when known.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
}

// SecretSyncSourceStatus is what certsync last saw of one source.
type SecretSyncSourceStatus struct {
	// name of the source in spec.sources.
	Name string `json:"name"`
	// ready is true when the source yielded a usable candidate.
	Ready bool `json:"ready"`
	// reason is a CamelCase word for the source's state: Valid, NotFound,
	// NotPermitted, Forbidden, MissingKey, Empty, InvalidExpiry, Expired,
	// APIError; for https sources also HTTPStatus, Timeout, Unreachable,
	// TLSError, Redirected, InsecureURL, TooLarge, HTMLResponse, NotJSON,
	// UnsupportedValue, InvalidPath, InvalidConfig.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message says what is wrong in words a human can act on.
	// +optional
	Message string `json:"message,omitempty"`
	// sha256 of the key/value pairs the source would write, when it holds
	// them all.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// notAfter is when the source's secret expires, when known.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
}

// SecretSyncStatus is the observed state of a SecretSync.
type SecretSyncStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready (the summary), SourcesReady, Synced, RolledOut,
	// ExpiringSoon, and Verified when a verification is configured.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// secret describes what the target holds.
	// +optional
	Secret *SyncedSecretInfo `json:"secret,omitempty"`
	// sources is the state of each source, in spec order.
	// +listType=map
	// +listMapKey=name
	// +optional
	Sources []SecretSyncSourceStatus `json:"sources,omitempty"`
	// lastSyncTime is when certsync last wrote the target.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// restarts certsync made for the current values (newest last, one per
	// workload and pod lineage, at most 1000), as a CertSync's: a rollout's
	// progress deadline runs from its record, and each workload and bare
	// pod is restarted once per values.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	Restarts []RestartRecord `json:"restarts,omitempty"`
	// lastHandledRequests records the verify and renew requests
	// (annotations certsync.io/verify-requested-at and
	// certsync.io/renew-requested-at) served, so whoever asked knows when
	// it is done: renew once every source was read again (HTTPS sources
	// bypassing refreshInterval and backoff), verify once the token request
	// was made again.
	// +optional
	LastHandledRequests *HandledRequests `json:"lastHandledRequests,omitempty"`
}

// SecretSync keeps an Opaque Secret filled with the newest values from a
// set of sources, warns before they expire, and restarts what uses them.
// Deleting a SecretSync never deletes its target Secret.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ssync,categories=certsync-all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.secret.source`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.secret.notAfter`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SecretSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares sources, keys, expiry and target.
	// +required
	Spec SecretSyncSpec `json:"spec"`

	// status is written by certsync only.
	// +optional
	Status SecretSyncStatus `json:"status,omitempty"`
}

// SecretSyncList contains a list of SecretSync.
// +kubebuilder:object:root=true
type SecretSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecretSync `json:"items"`
}

// Reasons and markers of SecretSync, besides the shared ones in conditions.go.
const (
	// ReasonSecretExpiringSoon (event) announces entering the warning or the
	// critical window of the synced secret's expiry.
	ReasonSecretExpiringSoon = "SecretExpiringSoon"
	// ReasonSecretExpired (event) announces that the synced secret expired.
	ReasonSecretExpired = "SecretExpired"
	// ReasonTokenIssued: the token endpoint issued an access token for the
	// synced client credentials.
	ReasonTokenIssued = "TokenIssued"
	// ReasonTokenRequestFailed: the token endpoint answered, but with no
	// token (an error status, or a body without access_token).
	ReasonTokenRequestFailed = "TokenRequestFailed"
	// ReasonTokenEndpointUnreachable: no answer (timeout, refused, TLS).
	ReasonTokenEndpointUnreachable = "TokenEndpointUnreachable"

	// AnnotationExpiresAt, on a SecretSync's target, is when its values
	// expire (RFC 3339), when known. The same annotation on a source can be
	// named in expiry.from.annotation, so SecretSyncs chain.
	AnnotationExpiresAt = "certsync.io/expires-at"
)

func init() {
	SchemeBuilder.Register(&SecretSync{}, &SecretSyncList{})
}
