package target_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/target"
)

const (
	ns    = "mail"
	name  = "mail-tls"
	owner = "mail"
	src   = "legacy"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// bundleOption configures a test bundle; bundles are built from certstest
// pairs through certs.ParseBundle, as the controller builds them.
type bundleOption func(*bundleSpec)

type bundleSpec struct {
	notBefore time.Time
	notAfter  time.Time
	withCA    bool
}

func issuedAt(nb time.Time) bundleOption {
	return func(s *bundleSpec) { s.notBefore, s.notAfter = nb, nb.Add(90*24*time.Hour) }
}

func validity(nb, na time.Time) bundleOption {
	return func(s *bundleSpec) { s.notBefore, s.notAfter = nb, na }
}

func withCA() bundleOption { return func(s *bundleSpec) { s.withCA = true } }

func newBundle(t *testing.T, opts ...bundleOption) *certs.Bundle {
	t.Helper()
	s := &bundleSpec{}
	issuedAt(now.Add(-24 * time.Hour))(s)
	for _, o := range opts {
		o(s)
	}
	copts := []certstest.Option{certstest.WithDNSNames("mail.example.com"), certstest.WithValidity(s.notBefore, s.notAfter)}
	var caPEM []byte
	if s.withCA {
		ca := certstest.NewCA(t)
		copts = append(copts, certstest.WithIssuer(ca))
		caPEM = ca.CertPEM
	}
	p := certstest.New(t, copts...)
	b, err := certs.ParseBundle(p.ChainPEM, p.KeyPEM, caPEM)
	if err != nil {
		t.Fatalf("ParseBundle: %v", err)
	}
	return b
}

type secretOption func(*corev1.Secret)

// newSecret is an unmanaged TLS Secret; options make it ours, fill it, etc.
func newSecret(opts ...secretOption) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "7"},
		Type:       corev1.SecretTypeTLS,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withLabel(k, v string) secretOption {
	return func(s *corev1.Secret) {
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[k] = v
	}
}

func withAnnotation(k, v string) secretOption {
	return func(s *corev1.Secret) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

func withData(k string, v []byte) secretOption {
	return func(s *corev1.Secret) {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[k] = v
	}
}

func withType(t corev1.SecretType) secretOption { return func(s *corev1.Secret) { s.Type = t } }

// managedBy marks the Secret as created by the CertSync named o.
func managedBy(o string) secretOption {
	return func(s *corev1.Secret) {
		withLabel(v1alpha1.LabelManagedBy, v1alpha1.ManagedByValue)(s)
		withAnnotation(v1alpha1.AnnotationOwner, o)(s)
	}
}

// holding is the Secret certsync wrote for b from source (with Apply).
func holding(b *certs.Bundle, source string) secretOption {
	return func(s *corev1.Secret) {
		*s = *target.Apply(s, ns, name, owner, source, b, nil, now)
	}
}

func TestOwner(t *testing.T) {
	tests := []struct {
		name    string
		secret  *corev1.Secret
		owner   string
		managed bool
	}{
		{"unlabelled", newSecret(), "", false},
		{"owner annotation without the label", newSecret(withAnnotation(v1alpha1.AnnotationOwner, owner)), "", false},
		{"managed by another tool", newSecret(withLabel(v1alpha1.LabelManagedBy, "Helm"), withAnnotation(v1alpha1.AnnotationOwner, owner)), "", false},
		{"label without the owner annotation", newSecret(withLabel(v1alpha1.LabelManagedBy, v1alpha1.ManagedByValue)), "", false},
		{"ours", newSecret(managedBy(owner)), owner, true},
		{"another CertSync's", newSecret(managedBy("other")), "other", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, m := target.Owner(tt.secret)
			if o != tt.owner || m != tt.managed {
				t.Errorf("Owner() = %q, %v; want %q, %v", o, m, tt.owner, tt.managed)
			}
		})
	}
}

func TestCheckOwnership(t *testing.T) {
	tests := []struct {
		name     string
		secret   *corev1.Secret
		conflict bool
		message  string
	}{
		{"unlabelled", newSecret(withData("tls.crt", []byte("x"))), true, "was not created by certsync"},
		{"managed by another tool", newSecret(withLabel(v1alpha1.LabelManagedBy, "Helm")), true, "was not created by certsync"},
		{"another CertSync's", newSecret(managedBy("other")), true, `managed by CertSync "other"`},
		{"ours, wrong type", newSecret(managedBy(owner), withType(corev1.SecretTypeOpaque)), true, `has type "Opaque"`},
		{"ours", newSecret(managedBy(owner)), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := target.CheckOwnership(tt.secret, owner)
			if !tt.conflict {
				if d != nil {
					t.Errorf("CheckOwnership() = %+v, want nil", *d)
				}
				return
			}
			if d == nil {
				t.Fatalf("CheckOwnership() = nil, want a conflict")
			}
			if d.Action != target.Conflict || !strings.Contains(d.Message, tt.message) {
				t.Errorf("CheckOwnership() = %+v, want Conflict with %q", *d, tt.message)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	older := newBundle(t, issuedAt(now.Add(-60*24*time.Hour)))
	newer := newBundle(t, issuedAt(now.Add(-24*time.Hour)))
	// Same notBefore as newer, later notAfter: newer by the tie-break.
	longer := newBundle(t, validity(newer.Leaf.NotBefore, newer.Leaf.NotAfter.Add(time.Hour)))
	// Same validity as newer: neither is newer (a re-key).
	rekey := newBundle(t, validity(newer.Leaf.NotBefore, newer.Leaf.NotAfter))

	tests := []struct {
		name           string
		current        *corev1.Secret
		want           *certs.Bundle
		allowDowngrade bool
		action         target.Action
		message        string
	}{
		{"missing: create", nil, newer, false, target.Create, "creating Secret with CN=mail.example.com"},
		{"holds the chosen certificate: none", newSecret(managedBy(owner), holding(newer, src)), newer, false, target.None, "target holds the chosen certificate"},
		{"holds an older certificate: update", newSecret(managedBy(owner), holding(older, src)), newer, false, target.Update, "updating Secret to"},
		{"holds a newer certificate: downgrade refused", newSecret(managedBy(owner), holding(newer, src)), older, false, target.Downgrade, "set validation.allowDowngrade"},
		{"holds a newer certificate, downgrade allowed: update", newSecret(managedBy(owner), holding(newer, src)), older, true, target.Update, "updating Secret to"},
		{"same notBefore, later notAfter held: downgrade refused", newSecret(managedBy(owner), holding(longer, src)), newer, false, target.Downgrade, "refusing"},
		{"same notBefore, later notAfter wanted: update", newSecret(managedBy(owner), holding(newer, src)), longer, false, target.Update, "updating"},
		{"same validity, new key: update", newSecret(managedBy(owner), holding(newer, src)), rekey, false, target.Update, "updating"},
		{"same certificate from another source: update", newSecret(managedBy(owner), holding(newer, "other")), newer, false, target.Update, "updating"},
		{"ours but empty: update", newSecret(managedBy(owner)), newer, false, target.Update, "updating"},
		{"ours, tls.crt garbage: update", newSecret(managedBy(owner), withData("tls.crt", []byte("garbage"))), older, false, target.Update, "updating"},
		{"unlabelled: conflict", newSecret(holding(newer, src), func(s *corev1.Secret) { delete(s.Labels, v1alpha1.LabelManagedBy) }), newer, false, target.Conflict, "not created by certsync"},
		{"another CertSync's: conflict", newSecret(managedBy("other")), newer, false, target.Conflict, `CertSync "other"`},
		{"conflict beats downgrade", newSecret(managedBy("other"), holding(newer, src), managedBy("other")), older, false, target.Conflict, `CertSync "other"`},
		{"wrong type: conflict", newSecret(managedBy(owner), withType(corev1.SecretTypeOpaque)), newer, true, target.Conflict, "has type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before *corev1.Secret
			if tt.current != nil {
				before = tt.current.DeepCopy()
			}
			d := target.Decide(tt.current, owner, src, tt.want, nil, tt.allowDowngrade)
			if d.Action != tt.action || !strings.Contains(d.Message, tt.message) {
				t.Errorf("Decide() = %+v, want %s with %q", d, tt.action, tt.message)
			}
			if strings.Contains(d.Message, "BEGIN") || strings.Contains(d.Message, "PRIVATE") {
				t.Errorf("Decide() message carries PEM: %q", d.Message)
			}
			if tt.current != nil && !equality.Semantic.DeepEqual(before, tt.current) {
				t.Error("Decide mutated the current Secret")
			}
		})
	}
}

func TestUpToDate(t *testing.T) {
	b := newBundle(t)
	bCA := newBundle(t, withCA())
	other := newBundle(t)
	tests := []struct {
		name     string
		current  *corev1.Secret
		want     *certs.Bundle
		source   string
		upToDate bool
	}{
		{"exactly what Apply writes", newSecret(managedBy(owner), holding(b, src)), b, src, true},
		{"with CA, exactly what Apply writes", newSecret(managedBy(owner), holding(bCA, src)), bCA, src, true},
		{"foreign keys, labels and annotations do not matter",
			newSecret(managedBy(owner), holding(b, src), withData("extra", []byte("x")), withLabel("team", "mail"), withAnnotation("note", "y")), b, src, true},
		{"synced-at does not matter", newSecret(managedBy(owner), holding(b, src), withAnnotation(v1alpha1.AnnotationSyncedAt, "2020-01-01T00:00:00Z")), b, src, true},
		{"no CA in the bundle, an old ca.crt is kept", newSecret(managedBy(owner), holding(bCA, src), holding(b, src)), b, src, true},
		{"another certificate", newSecret(managedBy(owner), holding(other, src)), b, src, false},
		{"another key", newSecret(managedBy(owner), holding(b, src), withData("tls.key", other.KeyPEM)), b, src, false},
		{"tls.crt differs in bytes only (CRLF)", newSecret(managedBy(owner), holding(b, src), withData("tls.crt", []byte(strings.ReplaceAll(string(b.CertPEM), "\n", "\r\n")))), b, src, false},
		{"CA wanted, ca.crt missing", newSecret(managedBy(owner), holding(bCA, src), func(s *corev1.Secret) { delete(s.Data, "ca.crt") }), bCA, src, false},
		{"fingerprint annotation missing", newSecret(managedBy(owner), holding(b, src), func(s *corev1.Secret) { delete(s.Annotations, v1alpha1.AnnotationSHA256) }), b, src, false},
		{"fingerprint annotation wrong", newSecret(managedBy(owner), holding(b, src), withAnnotation(v1alpha1.AnnotationSHA256, other.SHA256())), b, src, false},
		{"another source", newSecret(managedBy(owner), holding(b, src)), b, "other", false},
		{"empty", newSecret(managedBy(owner)), b, src, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := target.UpToDate(tt.current, tt.source, tt.want, nil); got != tt.upToDate {
				t.Errorf("UpToDate() = %v, want %v", got, tt.upToDate)
			}
		})
	}
}

func TestApplyCreates(t *testing.T) {
	g := NewWithT(t)
	b := newBundle(t)
	s := target.Apply(nil, ns, name, owner, src, b, nil, now)

	g.Expect(s.Namespace).To(Equal(ns))
	g.Expect(s.Name).To(Equal(name))
	g.Expect(s.Type).To(Equal(corev1.SecretTypeTLS))
	g.Expect(s.Labels).To(Equal(map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}))
	g.Expect(s.Annotations).To(Equal(map[string]string{
		v1alpha1.AnnotationOwner:    owner,
		v1alpha1.AnnotationSHA256:   b.SHA256(),
		v1alpha1.AnnotationSource:   src,
		v1alpha1.AnnotationSyncedAt: "2026-03-01T12:00:00.123456789Z",
	}))
	g.Expect(s.Data).To(Equal(map[string][]byte{"tls.crt": b.CertPEM, "tls.key": b.KeyPEM}), "no ca.crt without a CA")
	g.Expect(s.Data).NotTo(HaveKey(target.KeyCA))
	g.Expect(target.UpToDate(s, src, b, nil)).To(BeTrue())
	g.Expect(target.CheckOwnership(s, owner)).To(BeNil())
	g.Expect(target.Decide(s, owner, src, b, nil, false).Action).To(Equal(target.None))
}

func TestApplyWritesCA(t *testing.T) {
	g := NewWithT(t)
	b := newBundle(t, withCA())
	s := target.Apply(nil, ns, name, owner, src, b, nil, now)
	g.Expect(s.Data).To(HaveKeyWithValue(target.KeyCA, b.CAPEM))
	g.Expect(s.Data[target.KeyCA]).NotTo(BeEmpty())
}

func TestApplyPreservesForeignContentAndDoesNotMutate(t *testing.T) {
	old := newBundle(t, withCA(), issuedAt(now.Add(-60*24*time.Hour)))
	renewed := newBundle(t) // no CA
	current := newSecret(managedBy(owner), holding(old, src),
		withData("keystore.jks", []byte("foreign")), withData("extra.pem", []byte("x")),
		withLabel("app", "mail"), withAnnotation("reloader.stakater.com/match", "true"),
		withAnnotation(v1alpha1.AnnotationSyncedAt, "2025-01-01T00:00:00Z"))
	before := current.DeepCopy()

	g := NewWithT(t)
	s := target.Apply(current, ns, name, owner, "renewed", renewed, nil, now)

	g.Expect(equality.Semantic.DeepEqual(current, before)).To(BeTrue(), "Apply mutated its input")
	g.Expect(s).NotTo(BeIdenticalTo(current))
	g.Expect(s.ResourceVersion).To(Equal("7"), "the resourceVersion read must be kept for the optimistic lock")
	g.Expect(s.Data).To(HaveKeyWithValue("keystore.jks", []byte("foreign")))
	g.Expect(s.Data).To(HaveKeyWithValue("extra.pem", []byte("x")))
	g.Expect(s.Data).To(HaveKeyWithValue("tls.crt", renewed.CertPEM))
	g.Expect(s.Data).To(HaveKeyWithValue("tls.key", renewed.KeyPEM))
	g.Expect(s.Data).To(HaveKeyWithValue(target.KeyCA, old.CAPEM), "a bundle without CA must not blank ca.crt")
	g.Expect(s.Labels).To(HaveKeyWithValue("app", "mail"))
	g.Expect(s.Labels).To(HaveKeyWithValue(v1alpha1.LabelManagedBy, v1alpha1.ManagedByValue))
	g.Expect(s.Annotations).To(HaveKeyWithValue("reloader.stakater.com/match", "true"))
	g.Expect(s.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, renewed.SHA256()))
	g.Expect(s.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSource, "renewed"))
	g.Expect(s.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationOwner, owner))
	g.Expect(target.SyncedAt(s)).To(BeTemporally("==", now))

	// Writing into the result must not reach the input's maps either.
	s.Data["keystore.jks"][0] ^= 0xff
	s.Labels["x"] = "y"
	g.Expect(equality.Semantic.DeepEqual(current, before)).To(BeTrue(), "Apply's result shares memory with its input")
}

func TestApplyNilMaps(t *testing.T) {
	current := newSecret(managedBy(owner))
	current.Labels, current.Annotations, current.Data = nil, nil, nil
	s := target.Apply(current, ns, name, owner, src, newBundle(t), nil, now)
	g := NewWithT(t)
	g.Expect(s.Labels).To(HaveKey(v1alpha1.LabelManagedBy))
	g.Expect(s.Annotations).To(HaveKey(v1alpha1.AnnotationOwner))
	g.Expect(s.Data).To(HaveKey("tls.crt"))
	g.Expect(current.Labels).To(BeNil())
}

func TestSyncedAt(t *testing.T) {
	b := newBundle(t)
	cest := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   time.Time
	}{
		{"round trip with nanoseconds", target.Apply(nil, ns, name, owner, src, b, nil, now), now},
		{"round trip from another zone", target.Apply(nil, ns, name, owner, src, b, nil, now.In(cest)), now},
		{"round trip, whole second", target.Apply(nil, ns, name, owner, src, b, nil, now.Truncate(time.Second)), now.Truncate(time.Second)},
		{"missing", newSecret(), time.Time{}},
		{"garbage", newSecret(withAnnotation(v1alpha1.AnnotationSyncedAt, "yesterday")), time.Time{}},
		{"RFC 3339 without fraction", newSecret(withAnnotation(v1alpha1.AnnotationSyncedAt, "2026-03-01T12:00:00Z")), now.Truncate(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := target.SyncedAt(tt.secret)
			if !got.Equal(tt.want) {
				t.Errorf("SyncedAt() = %v, want %v", got, tt.want)
			}
			if !tt.want.IsZero() && got.Location() != time.UTC {
				t.Errorf("SyncedAt() location %v, want UTC", got.Location())
			}
		})
	}
}

func TestCurrentLeaf(t *testing.T) {
	b := newBundle(t, withCA())
	g := NewWithT(t)
	leaf := target.CurrentLeaf(target.Apply(nil, ns, name, owner, src, b, nil, now))
	g.Expect(leaf).NotTo(BeNil())
	g.Expect(certs.Fingerprint(leaf)).To(Equal(b.SHA256()), "the leaf, not the chain's CA")
	g.Expect(target.CurrentLeaf(newSecret())).To(BeNil())
	g.Expect(target.CurrentLeaf(newSecret(withData("tls.crt", []byte("not pem"))))).To(BeNil())
}

// TestApplyKeepsSyncedAtForTheSameCertificate: a write that keeps the
// certificate (another source with the same one, new keystores) must not
// move synced-at, or every pod would look older than the certificate and
// be restarted.
func TestApplyKeepsSyncedAtForTheSameCertificate(t *testing.T) {
	b := newBundle(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	first := target.Apply(nil, ns, name, owner, "pki", b, nil, t0)
	again := target.Apply(first, ns, name, owner, "legacy", b, map[string][]byte{"keystore.p12": []byte("x")}, t0.Add(time.Hour))
	if got := target.SyncedAt(again); !got.Equal(t0) {
		t.Errorf("synced-at moved to %s for the same certificate", got)
	}
	renewed := target.Apply(again, ns, name, owner, "pki", newBundle(t), nil, t0.Add(2*time.Hour))
	if got := target.SyncedAt(renewed); !got.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("synced-at = %s after a new certificate, want %s", got, t0.Add(2*time.Hour))
	}
}
