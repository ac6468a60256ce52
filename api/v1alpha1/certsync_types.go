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

	// suspend stops all writes to the target while true. Sources are still
	// read and reported in status.
	// +kubebuilder:default=false
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// CertSource is one place a renewed certificate can come from. Exactly one
// kind of source must be set.
// +kubebuilder:validation:XValidation:rule="(has(self.secret) ? 1 : 0) == 1",message="exactly one source kind (secret) must be set"
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
}

// CertSyncStatus is the observed state of a CertSync.
type CertSyncStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the summary), SourcesReady and Synced.
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
}

// CertSync keeps a TLS Secret filled with the newest valid certificate from
// a set of sources. Deleting a CertSync never deletes its target Secret.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=csync,categories=certsync
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.certificate.source`
// +kubebuilder:printcolumn:name="NotAfter",type=date,JSONPath=`.status.certificate.notAfter`
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
