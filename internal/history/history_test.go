package history

import (
	"bytes"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

var now = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func bundle(t *testing.T, notAfter time.Time, names ...string) *certs.Bundle {
	t.Helper()
	if len(names) == 0 {
		names = []string{"mail.example.com"}
	}
	p := certstest.New(t, certstest.WithDNSNames(names...), certstest.WithValidity(now.Add(-time.Hour), notAfter))
	b, err := certs.ParseBundle(p.CertPEM, p.KeyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func certSync() *v1alpha1.CertSync {
	cs := &v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mx", UID: "uid-1"}}
	cs.Spec.Target.SecretName = "mx-tls"
	return cs
}

func TestSecretName(t *testing.T) {
	if got := SecretName("mx-tls"); got != "mx-tls-certsync-history" {
		t.Errorf("SecretName = %q", got)
	}
	long := strings.Repeat("a", 250)
	a, b := SecretName(long), SecretName(long[:249]+"b")
	if len(a) > 253 || !strings.HasSuffix(a, Suffix) {
		t.Errorf("long name %q (%d chars)", a, len(a))
	}
	if a == b {
		t.Errorf("two long targets share history Secret %q", a)
	}
}

func TestEncodeDecode(t *testing.T) {
	cs, b := certSync(), bundle(t, now.Add(90*24*time.Hour))
	sec := Encode(cs, Entry{Bundle: b, Source: "primary", VerifiedPods: 3})
	if sec.Name != "mx-tls-certsync-history" || sec.Namespace != "mail" || sec.Type != corev1.SecretTypeOpaque {
		t.Errorf("Secret %s/%s type %s", sec.Namespace, sec.Name, sec.Type)
	}
	if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != "uid-1" || sec.OwnerReferences[0].Kind != "CertSync" {
		t.Errorf("owner references %+v", sec.OwnerReferences)
	}
	for k, v := range sec.Annotations {
		if bytes.Contains([]byte(v), []byte("PRIVATE KEY")) {
			t.Errorf("annotation %s holds key material", k)
		}
	}
	e, why := Decode(sec, "mx", certs.Requirements{}, now)
	if e == nil {
		t.Fatalf("Decode: %s", why)
	}
	if e.Bundle.SHA256() != b.SHA256() || e.Source != "primary" || e.VerifiedPods != 3 {
		t.Errorf("Decode = %s %q %d", e.Bundle.SHA256(), e.Source, e.VerifiedPods)
	}
}

func TestDecodeRefuses(t *testing.T) {
	cs := certSync()
	valid := Encode(cs, Entry{Bundle: bundle(t, now.Add(90*24*time.Hour)), Source: "s"})
	expired := Encode(cs, Entry{Bundle: bundle(t, now.Add(time.Hour)), Source: "s"})
	unmanaged := valid.DeepCopy()
	delete(unmanaged.Labels, v1alpha1.LabelHistory)
	otherOwner := valid.DeepCopy()
	otherOwner.Annotations[v1alpha1.AnnotationOwner] = "other"
	garbage := valid.DeepCopy()
	garbage.Data[corev1.TLSPrivateKeyKey] = []byte("not a key")
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		req    certs.Requirements
		at     time.Time
		want   string
	}{
		{"missing", nil, certs.Requirements{}, now, "no previous certificate"},
		{"not labelled as history", unmanaged, certs.Requirements{}, now, "not this CertSync's history"},
		{"another CertSync's", otherOwner, certs.Requirements{}, now, "not this CertSync's history"},
		{"unparsable", garbage, certs.Requirements{}, now, "does not parse"},
		{"expired", expired, certs.Requirements{}, now.Add(2 * time.Hour), "not restorable"},
		{"fails minRemainingValidity", valid, certs.Requirements{MinRemainingValidity: 100 * 24 * time.Hour}, now, "not restorable"},
		{"fails dnsNames", valid, certs.Requirements{DNSNames: []string{"imap.example.com"}}, now, "not restorable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, why := Decode(tc.secret, "mx", tc.req, tc.at)
			if e != nil || !strings.Contains(why, tc.want) {
				t.Errorf("Decode = %v, %q; want nil, %q", e, why, tc.want)
			}
			if strings.Contains(why, "PRIVATE") {
				t.Errorf("reason mentions key material: %q", why)
			}
		})
	}
}

func TestKeep(t *testing.T) {
	a, b := bundle(t, now.Add(90*24*time.Hour)), bundle(t, now.Add(180*24*time.Hour))
	soon := bundle(t, now.Add(time.Hour))
	for _, tc := range []struct {
		name       string
		held, next *certs.Bundle
		stored     string
		at         time.Time
		req        certs.Requirements
		want       bool
	}{
		{"renewal keeps the valid previous one", a, b, "", now, certs.Requirements{}, true},
		{"history holds another one: replaced", a, b, "ffff", now, certs.Requirements{}, true},
		{"nothing held", nil, b, "", now, certs.Requirements{}, false},
		{"same certificate again", a, a, "", now, certs.Requirements{}, false},
		{"already kept: no write", a, b, a.SHA256(), now, certs.Requirements{}, false},
		{"expired previous is never kept", soon, b, "", now.Add(2 * time.Hour), certs.Requirements{}, false},
		{"previous failing validation is never kept", a, b, "", now, certs.Requirements{DNSNames: []string{"other.example.com"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Keep(tc.held, tc.next, tc.stored, tc.req, tc.at); got != tc.want {
				t.Errorf("Keep = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	rec := &v1alpha1.RollbackRecord{RejectedSHA256: "new", RestoredSHA256: "old"}
	base := Observation{Enabled: true, Held: "new", Previous: "old", PreviousVerified: 2}
	with := func(f func(*Observation)) Observation { o := base; f(&o); return o }
	for _, tc := range []struct {
		name   string
		o      Observation
		reason string // "" means no rollback
	}{
		{"healthy: nothing failed", base, ""},
		{"stalled rollout", with(func(o *Observation) { o.Stalled = []string{"Deployment/mx: 0 of 2 ready"} }), v1alpha1.ReasonRolloutStalled},
		{"new pods stopped answering, old ones answered", with(func(o *Observation) { o.Unreachable, o.UnansweredFor = 2, UnansweredGrace }), v1alpha1.ReasonPodsUnreachable},
		{"new pods not answering yet: within the grace", with(func(o *Observation) { o.Unreachable, o.UnansweredFor = 2, UnansweredGrace-time.Second }), ""},
		{"some new pods verified: not the certificate", with(func(o *Observation) { o.Unreachable, o.Verified, o.UnansweredFor = 1, 1, time.Hour }), ""},
		{"old pods never answered either", with(func(o *Observation) { o.Unreachable, o.PreviousVerified, o.UnansweredFor = 2, 0, time.Hour }), ""},
		{"opted out", with(func(o *Observation) { o.Enabled, o.Stalled = false, []string{"x"} }), ""},
		{"suspended", with(func(o *Observation) { o.Suspended, o.Stalled = true, []string{"x"} }), ""},
		{"no previous certificate", with(func(o *Observation) { o.Previous, o.Stalled = "", []string{"x"} }), ""},
		{"previous is the held one (already restored)", with(func(o *Observation) { o.Previous, o.Stalled = "new", []string{"x"} }), ""},
		{"held was rolled back once: never again", with(func(o *Observation) { o.Last, o.Stalled = rec, []string{"x"} }), ""},
		{"an older rollback of another certificate does not block", with(func(o *Observation) {
			o.Last, o.Stalled = &v1alpha1.RollbackRecord{RejectedSHA256: "older"}, []string{"x"}
		}), v1alpha1.ReasonRolloutStalled},
		{"nothing held", with(func(o *Observation) { o.Held, o.Stalled = "", []string{"x"} }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.o)
			if d.Rollback != (tc.reason != "") || d.Reason != tc.reason {
				t.Errorf("Decide = %+v, want reason %q", d, tc.reason)
			}
			if d.Rollback && d.Message == "" {
				t.Error("a rollback without a message")
			}
		})
	}
}

func TestWithheld(t *testing.T) {
	at := metav1.NewTime(now)
	rec := &v1alpha1.RollbackRecord{RejectedSHA256: "bad", Time: at}
	for _, tc := range []struct {
		name      string
		last      *v1alpha1.RollbackRecord
		candidate string
		renew     time.Time
		want      bool
	}{
		{"the rolled back certificate is held", rec, "bad", time.Time{}, true},
		{"a newer certificate passes", rec, "newer", time.Time{}, false},
		{"renew requested before the rollback: still held", rec, "bad", now.Add(-time.Minute), true},
		{"renew requested after the rollback: synced again", rec, "bad", now.Add(time.Minute), false},
		{"no rollback ever", nil, "bad", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Withheld(tc.last, tc.candidate, tc.renew); got != tc.want {
				t.Errorf("Withheld = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLastRollback(t *testing.T) {
	status := &v1alpha1.RollbackRecord{RejectedSHA256: "s"}
	if got := LastRollback(status, map[string]string{AnnotationRejected: "t"}); got != status {
		t.Errorf("status record not preferred: %+v", got)
	}
	ann := map[string]string{AnnotationRejected: "t", AnnotationRolledBackAt: now.Format(time.RFC3339Nano)}
	if got := LastRollback(nil, ann); got == nil || got.RejectedSHA256 != "t" || !got.Time.Time.Equal(now) {
		t.Errorf("from annotations: %+v", got)
	}
	if got := LastRollback(nil, map[string]string{AnnotationRejected: "t"}); got != nil {
		t.Errorf("without a time: %+v", got)
	}
	if got := RenewRequestedAt(map[string]string{v1alpha1.AnnotationRenewRequested: "junk"}); !got.IsZero() {
		t.Errorf("junk renew time parsed: %v", got)
	}
}
