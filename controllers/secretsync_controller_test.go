package controllers

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
)

// ssHash is what certsync records for the CLIENT_ID/CLIENT_SECRET pair.
func ssHash(id, secret string) string {
	return secretvalues.Hash(map[string][]byte{"CLIENT_ID": []byte(id), "CLIENT_SECRET": []byte(secret)})
}

func TestSecretSyncSyncsAndRenames(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "s3cret", "unrelated", "not copied")))
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("legacy", "legacy", "")))

	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	tgt := getSecret(g, ns, "oauth-client")
	g.Expect(tgt.Type).To(Equal(corev1.SecretTypeOpaque))
	g.Expect(tgt.Data).To(Equal(map[string][]byte{"CLIENT_ID": []byte("app"), "CLIENT_SECRET": []byte("s3cret")}))
	g.Expect(tgt.Labels).To(HaveKeyWithValue(v1alpha1.LabelManagedBy, v1alpha1.ManagedByValue))
	g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationOwner, "SecretSync/idp"))
	g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, ssHash("app", "s3cret")))
	g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSource, "legacy"))
	g.Expect(tgt.Annotations).To(HaveKey(v1alpha1.AnnotationSyncedAt))
	g.Expect(tgt.Annotations).NotTo(HaveKey(v1alpha1.AnnotationExpiresAt))
	g.Expect(tgt.OwnerReferences).To(BeEmpty(), "an owner reference would let the garbage collector delete the target")

	g.Expect(ss.Status.ObservedGeneration).To(Equal(ss.Generation))
	g.Expect(ss.Status.Secret).To(Equal(&v1alpha1.SyncedSecretInfo{Source: "legacy", SHA256: ssHash("app", "s3cret")}))
	g.Expect(ss.Status.LastSyncTime).NotTo(BeNil())
	g.Expect(ss.Status.Sources).To(HaveLen(1))
	g.Expect(ss.Status.Sources[0]).To(Equal(v1alpha1.SecretSyncSourceStatus{Name: "legacy", Ready: true, Reason: "Valid",
		Message: "2 keys, no expiry known: spec.expiry.from is not set", SHA256: ssHash("app", "s3cret")}))
	for _, typ := range []string{v1alpha1.ConditionSourcesReady, v1alpha1.ConditionSynced, v1alpha1.ConditionRolledOut} {
		g.Expect(ssCondition(ss, typ).Status).To(Equal(metav1.ConditionTrue), typ)
	}
	// No expiry known: allowed, and said so.
	exp := ssCondition(ss, v1alpha1.ConditionExpiringSoon)
	g.Expect(string(exp.Status) + "/" + exp.Reason).To(Equal("Unknown/" + v1alpha1.ReasonNoExpiry))
	g.Expect(exp.Message).To(ContainSubstring("spec.expiry.from"))
	g.Expect(ssCondition(ss, v1alpha1.ConditionVerified).Type).To(BeEmpty(), "Verified only when a verification is configured")
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonSynced: 1})
}

func TestSecretSyncUpdatesAndKeepsForeignKeys(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "v1")))
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("legacy", "legacy", "")))
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// A user adds a key of their own to the target: certsync must keep it.
	tgt := getSecret(g, ns, "oauth-client")
	tgt.Data["EXTRA"] = []byte("user data")
	g.Expect(k8s.Update(context.Background(), tgt)).To(Succeed())

	ssClock(ns).Step(time.Minute)
	updateSecretData(t, ns, "legacy", map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("v2")})
	g.Eventually(func(g Gomega) {
		tgt := getSecret(g, ns, "oauth-client")
		g.Expect(tgt.Data).To(Equal(map[string][]byte{"CLIENT_ID": []byte("app"), "CLIENT_SECRET": []byte("v2"), "EXTRA": []byte("user data")}))
		g.Expect(tgt.Annotations[v1alpha1.AnnotationSHA256]).To(Equal(ssHash("app", "v2")))
		g.Expect(getSecretSync(g, ns, "idp").Status.Secret.SHA256).To(Equal(ssHash("app", "v2")))
	}, eventually, poll).Should(Succeed())
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonSynced: 2})

	// A user who edits a managed value gets it back: the target follows
	// the source, foreign keys stay.
	tgt = getSecret(g, ns, "oauth-client")
	tgt.Data["CLIENT_SECRET"] = []byte("tampered")
	g.Expect(k8s.Update(context.Background(), tgt)).To(Succeed())
	g.Eventually(func(g Gomega) {
		tgt := getSecret(g, ns, "oauth-client")
		g.Expect(string(tgt.Data["CLIENT_SECRET"])).To(Equal("v2"))
		g.Expect(string(tgt.Data["EXTRA"])).To(Equal("user data"))
	}, eventually, poll).Should(Succeed())
}

func TestSecretSyncNeverTakesOver(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "s3cret")))
	users := ssSource(ns, "oauth-client", map[string]string{"password": "hunter2"})
	mustCreate(t, users)
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("legacy", "legacy", "")))
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetConflict)
	g.Expect(ssCondition(ss, v1alpha1.ConditionSynced).Message).To(ContainSubstring("was not created by certsync"))
	g.Expect(ss.Status.Secret).To(BeNil())
	g.Expect(ssCondition(ss, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
	after := getSecret(g, ns, "oauth-client")
	g.Expect(after.ResourceVersion).To(Equal(users.ResourceVersion))
	g.Expect(after.Data).To(Equal(users.Data))
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonTargetConflict: 1, v1alpha1.ReasonSynced: 0})

	// A CertSync's target of the same name is not a SecretSync's either.
	certs := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail-tls",
			Labels:      map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue},
			Annotations: map[string]string{v1alpha1.AnnotationOwner: "mail"}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("y")},
	}
	mustCreate(t, certs)
	other := newSecretSync(ns, "mail", ssFrom("legacy", "legacy", ""))
	other.Spec.Target.SecretName = "mail-tls"
	mustCreateSecretSync(t, other)
	ss = ssWaitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetConflict)
	g.Expect(ssCondition(ss, v1alpha1.ConditionSynced).Message).To(ContainSubstring(`managed by CertSync "mail"`))
	g.Expect(getSecret(g, ns, "mail-tls").ResourceVersion).To(Equal(certs.ResourceVersion))
}

func TestSecretSyncNeverWipes(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	src := ssSource(ns, "legacy", ssCreds("app", "s3cret"))
	mustCreate(t, src)
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("legacy", "legacy", "")))
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	before := getSecret(g, ns, "oauth-client")

	steps := []struct {
		name, reason, event string
		data                map[string][]byte
	}{
		{"key removed", "MissingKey", v1alpha1.ReasonSourceUnavailable, map[string][]byte{"client_id": []byte("app")}},
		{"value blanked", secretvalues.ReasonEmpty, v1alpha1.ReasonValidationFailed, map[string][]byte{"client_id": []byte("app"), "client_secret": {}}},
		// A deleted source reads like one without consent (docs/security.md).
		{"source deleted", sources.ReasonNotPermitted, v1alpha1.ReasonSourceUnavailable, nil},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			g := NewWithT(t)
			if step.data == nil {
				g.Expect(k8s.Delete(context.Background(), getSecret(g, ns, "legacy"))).To(Succeed())
			} else {
				updateSecretData(t, ns, "legacy", step.data)
			}
			g.Eventually(func(g Gomega) {
				ss := getSecretSync(g, ns, "idp")
				g.Expect(ss.Status.Sources[0].Reason).To(Equal(step.reason), ss.Status.Sources[0].Message)
				g.Expect(ssCondition(ss, v1alpha1.ConditionSynced).Reason).To(Equal(v1alpha1.ReasonNoValidSource))
				g.Expect(ssCondition(ss, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
				// Status still says what the target holds.
				g.Expect(ss.Status.Secret.SHA256).To(Equal(ssHash("app", "s3cret")))
			}, eventually, poll).Should(Succeed())
			after := getSecret(g, ns, "oauth-client")
			g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the target must stay untouched")
			g.Eventually(func(g Gomega) {
				found := false
				for _, e := range ssEventsFor(g, ns, "idp") {
					found = found || (e.Reason == step.event && strings.Contains(e.Note, step.reason))
				}
				g.Expect(found).To(BeTrue(), "a %s event naming %s", step.event, step.reason)
			}, eventually, poll).Should(Succeed())
		})
	}
}

func TestSecretSyncDeletedKeepsTarget(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "s3cret")))
	ss := newSecretSync(ns, "idp", ssFrom("legacy", "legacy", ""))
	mustCreateSecretSync(t, ss)
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	before := getSecret(g, ns, "oauth-client")

	g.Expect(k8s.Delete(context.Background(), ss)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), objKey(ns, "idp"), &v1alpha1.SecretSync{}))
	}, eventually, poll).Should(BeTrue())
	updateSecretData(t, ns, "legacy", map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("v2")})
	g.Consistently(func(g Gomega) {
		after := getSecret(g, ns, "oauth-client")
		g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	}, 2*time.Second, poll).Should(Succeed())
}

func TestSecretSyncCrossNamespaceNeedsConsent(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	idp := newNamespace(t)
	mustCreate(t, ssSource(idp, "drop", ssCreds("app", "s3cret")))
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("idp", "drop", idp)))
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(ss.Status.Sources[0].Reason).To(Equal("NotPermitted"))
	g.Expect(ss.Status.Sources[0].Message).To(ContainSubstring(v1alpha1.AnnotationAllowedNamespaces))
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), objKey(ns, "oauth-client"), &corev1.Secret{}))).To(BeTrue())

	consent := getSecret(g, idp, "drop")
	metav1.SetMetaDataAnnotation(&consent.ObjectMeta, v1alpha1.AnnotationAllowedNamespaces, "someone-else, "+ns)
	g.Expect(k8s.Update(context.Background(), consent)).To(Succeed())
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(ss.Status.Secret.Source).To(Equal("idp"))
}

// A Secret of the SecretSync's own namespace is copied only once it
// consents (the migration the CHANGELOG describes): before, the target is
// not written and the condition says which annotation to add.
func TestSecretSyncSameNamespaceNeedsConsent(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	mustCreate(t, ssSource(ns, "drop", ssCreds("app", "s3cret"), ssNoConsent))
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("idp", "drop", "")))
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(ss.Status.Sources[0].Reason).To(Equal(sources.ReasonNotPermitted))
	g.Expect(ssCondition(ss, v1alpha1.ConditionSourcesReady).Message).To(ContainSubstring(
		fmt.Sprintf("add the annotation %s listing %q", v1alpha1.AnnotationAllowedNamespaces, ns)))
	g.Expect(ssCondition(ss, v1alpha1.ConditionSynced).Reason).To(Equal(v1alpha1.ReasonNoValidSource))
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonSourceUnavailable: 1, v1alpha1.ReasonSynced: 0})
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), objKey(ns, "oauth-client"), &corev1.Secret{}))).To(BeTrue())

	consent := getSecret(g, ns, "drop")
	metav1.SetMetaDataAnnotation(&consent.ObjectMeta, v1alpha1.AnnotationAllowedNamespaces, ns)
	g.Expect(k8s.Update(context.Background(), consent)).To(Succeed())
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(ss.Status.Secret.Source).To(Equal("idp"))
	g.Expect(getSecret(g, ns, "oauth-client").Data).To(HaveKeyWithValue("CLIENT_SECRET", []byte("s3cret")))
}

func TestSecretSyncExpiryFrom(t *testing.T) {
	t.Parallel()
	ns := ssStart(t)
	notAfter := time.Now().Add(400 * 24 * time.Hour).UTC().Truncate(time.Second)
	fixed := metav1.NewTime(notAfter)
	tests := []struct {
		name string
		src  *corev1.Secret
		from v1alpha1.SecretSyncExpiryFrom
	}{
		{"key-rfc3339", ssSource(ns, "key-rfc3339", ssCreds("app", "a", "expires_at", notAfter.Format(time.RFC3339))),
			v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}},
		{"key-unix", ssSource(ns, "key-unix", ssCreds("app", "b", "expires_at", fmt.Sprint(notAfter.Unix()))),
			v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}},
		{"annotation", ssSource(ns, "annotation", ssCreds("app", "c"), func(s *corev1.Secret) {
			s.Annotations["idp.example.com/secret-expiry"] = notAfter.Format(time.RFC3339)
		}), v1alpha1.SecretSyncExpiryFrom{Annotation: "idp.example.com/secret-expiry"}},
		{"fixed", ssSource(ns, "fixed", ssCreds("app", "d")), v1alpha1.SecretSyncExpiryFrom{NotAfter: &fixed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			mustCreate(t, tt.src)
			ss := newSecretSync(ns, tt.name, ssFrom("src", tt.src.Name, ""), ssExpiry(tt.from))
			ss.Spec.Target.SecretName = "target-" + tt.name
			mustCreateSecretSync(t, ss)
			ss = ssWaitCondition(t, ns, tt.name, v1alpha1.ConditionExpiringSoon, metav1.ConditionFalse, v1alpha1.ReasonNotExpiring)
			g.Expect(ss.Status.Secret.NotAfter.Time).To(BeTemporally("==", notAfter))
			g.Expect(ss.Status.Sources[0].NotAfter.Time).To(BeTemporally("==", notAfter))
			g.Expect(ssCondition(ss, v1alpha1.ConditionExpiringSoon).Message).To(ContainSubstring(notAfter.Format(time.RFC3339)))
			g.Expect(ssCondition(ss, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			tgt := getSecret(g, ns, "target-"+tt.name)
			g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationExpiresAt, notAfter.Format(time.RFC3339)))
		})
	}
}

func TestSecretSyncNewestExpiryWins(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	in := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	mustCreate(t, ssSource(ns, "unknown", ssCreds("app", "u")))
	mustCreate(t, ssSource(ns, "old", ssCreds("app", "o", "expires_at", in(10*24*time.Hour))))
	mustCreate(t, ssSource(ns, "new", ssCreds("app", "n", "expires_at", in(90*24*time.Hour))))
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("unknown", "unknown", ""), ssFrom("old", "old", ""), ssFrom("new", "new", ""),
		ssExpiry(v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"})))

	g.Eventually(func(g Gomega) {
		ss := getSecretSync(g, ns, "idp")
		g.Expect(ss.Status.Secret).NotTo(BeNil())
		g.Expect(ss.Status.Secret.Source).To(Equal("new"))
		g.Expect(string(getSecret(g, ns, "oauth-client").Data["CLIENT_SECRET"])).To(Equal("n"))
		g.Expect(ssCondition(ss, v1alpha1.ConditionSourcesReady).Reason).To(Equal(v1alpha1.ReasonAllSourcesReady))
	}, eventually, poll).Should(Succeed())

	// The old source gets a later expiry: it is the renewal now.
	updateSecretData(t, ns, "old", map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("o2"), "expires_at": []byte(in(200 * 24 * time.Hour))})
	g.Eventually(func(g Gomega) {
		ss := getSecretSync(g, ns, "idp")
		g.Expect(ss.Status.Secret.Source).To(Equal("old"))
		g.Expect(string(getSecret(g, ns, "oauth-client").Data["CLIENT_SECRET"])).To(Equal("o2"))
	}, eventually, poll).Should(Succeed())

	// Expired secrets are refused, even the last one left, and the target
	// keeps what it has.
	expired := func(name string) {
		updateSecretData(t, ns, name, map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("x"), "expires_at": []byte(in(-time.Hour))})
		g.Eventually(func(g Gomega) {
			for _, st := range getSecretSync(g, ns, "idp").Status.Sources {
				if st.Name == name {
					g.Expect(st.Reason).To(Equal(secretvalues.ReasonExpired))
				}
			}
		}, eventually, poll).Should(Succeed())
	}
	g.Expect(k8s.Delete(context.Background(), getSecret(g, ns, "unknown"))).To(Succeed())
	expired("new")
	before := getSecret(g, ns, "oauth-client")
	g.Expect(string(before.Data["CLIENT_SECRET"])).To(Equal("o2"))
	expired("old")
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	after := getSecret(g, ns, "oauth-client")
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	g.Expect(string(after.Data["CLIENT_SECRET"])).To(Equal("o2"))
}

func TestSecretSyncExpiryWindows(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	t0 := ssClock(ns).Now()
	notAfter := t0.Add(40 * 24 * time.Hour).UTC().Truncate(time.Second)
	fixed := metav1.NewTime(notAfter)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "s3cret")))
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("legacy", "legacy", ""), ssExpiry(v1alpha1.SecretSyncExpiryFrom{NotAfter: &fixed})))
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionExpiringSoon, metav1.ConditionFalse, v1alpha1.ReasonNotExpiring)
	target := getSecret(g, ns, "oauth-client")
	// Its wake-up at each boundary: secretsync.TestRequeueAtExpiryBoundaries.

	windows := []struct {
		at      time.Duration
		reason  string
		ready   metav1.ConditionStatus
		message string
		events  map[string]int
	}{
		{11 * 24 * time.Hour, string(expiry.Warning), metav1.ConditionTrue, "within the warning window of 720h0m0s",
			map[string]int{v1alpha1.ReasonSecretExpiringSoon: 1, v1alpha1.ReasonSecretExpired: 0}},
		{34 * 24 * time.Hour, string(expiry.Critical), metav1.ConditionTrue, "within the critical window of 168h0m0s",
			map[string]int{v1alpha1.ReasonSecretExpiringSoon: 2, v1alpha1.ReasonSecretExpired: 0}},
		{41 * 24 * time.Hour, string(expiry.Expired), metav1.ConditionFalse, "expired at " + notAfter.Format(time.RFC3339),
			map[string]int{v1alpha1.ReasonSecretExpiringSoon: 2, v1alpha1.ReasonSecretExpired: 1}},
	}
	for _, w := range windows {
		ssClock(ns).SetTime(t0.Add(w.at))
		ssPoke(t, ns, "legacy")
		ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionExpiringSoon, metav1.ConditionTrue, w.reason)
		g.Expect(ssCondition(ss, v1alpha1.ConditionExpiringSoon).Message).To(ContainSubstring(w.message))
		g.Expect(ssCondition(ss, v1alpha1.ConditionReady).Status).To(Equal(w.ready))
		// More reconciles inside the same window add no event.
		ssPoke(t, ns, "legacy")
		ssPoke(t, ns, "legacy")
		ssExpectEvents(t, ns, "idp", w.events)
	}
	// Expired: the source is refused, the target keeps its values.
	g.Expect(ss.Status.Sources[0].Reason).To(Equal(secretvalues.ReasonExpired))
	g.Expect(ssCondition(ss, v1alpha1.ConditionReady).Reason).To(Equal(string(expiry.Expired)))
	g.Expect(getSecret(g, ns, "oauth-client").ResourceVersion).To(Equal(target.ResourceVersion))
	g.Consistently(func(g Gomega) {
		g.Expect(eventReasons(ssEventsFor(g, ns, "idp"))).To(HaveKeyWithValue(v1alpha1.ReasonSecretExpired, 1))
	}, 2*time.Second, poll).Should(Succeed())

	// Renewed in the portal: a new date ends the warning.
	renewed := metav1.NewTime(t0.Add(400 * 24 * time.Hour).UTC().Truncate(time.Second))
	g.Eventually(func(g Gomega) {
		ss := getSecretSync(g, ns, "idp")
		ss.Spec.Expiry.From.NotAfter = &renewed
		g.Expect(k8s.Update(context.Background(), ss)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionExpiringSoon, metav1.ConditionFalse, v1alpha1.ReasonNotExpiring)
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(ss.Status.Secret.NotAfter.Time).To(BeTemporally("==", renewed.Time))
	// Only the expiry annotation changed: no value change, no restart due.
	after := getSecret(g, ns, "oauth-client")
	g.Expect(after.Annotations[v1alpha1.AnnotationSyncedAt]).To(Equal(target.Annotations[v1alpha1.AnnotationSyncedAt]))
}

// ssWorkload is a Deployment whose pods read the target through env, and a
// pod of it (envtest runs no controllers: the test plays the ReplicaSet).
func ssWorkload(t *testing.T, ns string) *appsv1.Deployment {
	t.Helper()
	env := []corev1.EnvVar{{Name: "CLIENT_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "oauth-client"}, Key: "CLIENT_SECRET"}}}}
	labels := map[string]string{"app": "mailer"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mailer"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "mailer", Env: env}}},
			},
		},
	}
	mustCreate(t, d)
	isController := true
	mustCreate(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mailer-5d8f9-abcde",
			Labels: map[string]string{"app": "mailer", "pod-template-hash": "5d8f9"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "mailer-5d8f9",
				UID: "00000000-0000-0000-0000-000000000001", Controller: &isController}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "mailer", Env: env}}},
	})
	return d
}

func TestSecretSyncRestartsConsumersOncePerValue(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	ssWorkload(t, ns)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "v1")))
	ssClock(ns).Step(2 * time.Second) // the pod started before the values were written
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("legacy", "legacy", "")))

	restartedFor := func(g Gomega) string {
		var d appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, "mailer"), &d)).To(Succeed())
		return d.Spec.Template.Annotations[v1alpha1.AnnotationRestartedFor]
	}
	g.Eventually(restartedFor, eventually, poll).Should(Equal(ssHash("app", "v1")))
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRollingOut)
	g.Expect(ssCondition(ss, v1alpha1.ConditionRolledOut).Message).To(ContainSubstring("Deployment/mailer"))
	ssPoke(t, ns, "legacy")
	ssPoke(t, ns, "legacy")
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonRolloutStarted: 1})

	// New values while the first rollout is still under way: the target
	// is updated, the restart waits for that rollout (up to its deadline).
	ssClock(ns).Step(time.Minute)
	updateSecretData(t, ns, "legacy", map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("v2")})
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonWaitingForPreviousRollout)
	g.Expect(restartedFor(g)).To(Equal(ssHash("app", "v1")))
	// Past the first rollout's deadline (and minRestartInterval): one more
	// restart, for the new values.
	ssClock(ns).Step(10 * time.Minute)
	ssPoke(t, ns, "legacy")
	g.Eventually(restartedFor, eventually, poll).Should(Equal(ssHash("app", "v2")))
	ssPoke(t, ns, "legacy")
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonRolloutStarted: 2})

	// No completion within the progress deadline: stalled.
	ssClock(ns).Step(11 * time.Minute)
	ssPoke(t, ns, "legacy")
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)

	// The deployment controller's part: the rollout completes.
	g.Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, "mailer"), &d)).To(Succeed())
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		g.Expect(k8s.Status().Update(context.Background(), &d)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonRolloutStarted: 2})
}

func TestSecretSyncSteadyStateMakesNoWrites(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	ssWorkload(t, ns)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "s3cret", "expires_at", time.Now().Add(90*24*time.Hour).UTC().Format(time.RFC3339))))
	ss := newSecretSync(ns, "idp", ssFrom("legacy", "legacy", ""), ssFrom("missing", "does-not-exist", ""),
		ssExpiry(v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}))
	ss.Spec.Rollout.Mode = v1alpha1.RolloutNone
	mustCreateSecretSync(t, ss)
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	var settled int64
	g.Eventually(func() bool {
		w := writes.get(ns)
		stable := w == settled
		settled = w
		return stable
	}, eventually, time.Second).Should(BeTrue())

	start := reconciles.finished("secretsync", ns)
	for range 5 {
		ssPoke(t, ns, "legacy")
	}
	g.Expect(reconciles.finished("secretsync", ns) - start).To(BeNumerically(">=", 5))
	g.Expect(writes.get(ns)).To(Equal(settled), "steady state must make no API writes")
}

// tokenEndpoint is an OAuth2 token endpoint on 127.0.0.1 that issues a
// token for one client id and secret, refuses others with 401, and, while
// blocked, answers nothing.
type tokenEndpoint struct {
	*httptest.Server
	id, secret string
	requests   atomic.Int64
	mu         sync.Mutex
	block      chan struct{} // non-nil: requests wait on it
	lastForm   url.Values
}

const issuedToken = "tok-DO-NOT-LEAK-8f14e45f"

func newTokenEndpoint(t *testing.T, id, secret string) *tokenEndpoint {
	te := &tokenEndpoint{id: id, secret: secret}
	te.Server = httptest.NewTLSServer(http.HandlerFunc(te.serve))
	t.Cleanup(func() {
		te.setBlocked(false)
		te.Close()
	})
	return te
}

func (te *tokenEndpoint) setBlocked(on bool) {
	te.mu.Lock()
	defer te.mu.Unlock()
	switch {
	case on && te.block == nil:
		te.block = make(chan struct{})
	case !on && te.block != nil:
		close(te.block)
		te.block = nil
	}
}

func (te *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	te.requests.Add(1)
	te.mu.Lock()
	block := te.block
	te.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
		}
		return
	}
	_ = r.ParseForm()
	te.mu.Lock()
	te.lastForm = r.PostForm
	te.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	u, p, ok := r.BasicAuth()
	id, _ := url.QueryUnescape(u)
	secret, _ := url.QueryUnescape(p)
	if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" || !ok || id != te.id || secret != te.secret {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "Client authentication failed"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": issuedToken, "token_type": "Bearer", "expires_in": 3600})
}

func (te *tokenEndpoint) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: te.Certificate().Raw})
}

func TestSecretSyncOAuth2Verification(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	const goodSecret = "good+secret/with:specials"
	te := newTokenEndpoint(t, "app", goodSecret)
	g.Expect(te.URL).To(HavePrefix("https://127.0.0.1:"))
	mustCreate(t, ssSource(ns, "idp-ca", map[string]string{"ca.crt": string(te.caPEM())}))
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", goodSecret)))
	ss := newSecretSync(ns, "idp", ssFrom("legacy", "legacy", ""))
	ss.Spec.Verify.OAuth2ClientCredentials = &v1alpha1.OAuth2ClientCredentials{
		TokenURL: te.URL + "/oauth2/token?tenant=t1", ClientIDKey: "CLIENT_ID", ClientSecretKey: "CLIENT_SECRET",
		Scopes:      []string{"mail.send", "offline_access"},
		CASecretRef: &v1alpha1.OAuth2CASecretRef{Name: "idp-ca", Key: "ca.crt"},
		Timeout:     &metav1.Duration{Duration: time.Second},
	}
	mustCreateSecretSync(t, ss)

	// The source Secret does not name the token endpoint's host: its values
	// are synced, but not sent anywhere.
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionVerified, metav1.ConditionFalse, consent.ReasonCredentialNotReleased)
	g.Expect(ssCondition(ss, v1alpha1.ConditionVerified).Message).To(ContainSubstring(consent.AnnotationAllowedHosts))
	g.Expect(te.requests.Load()).To(BeZero(), "a token request with unreleased credentials")
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonVerificationFailed: 1})
	g.Eventually(func() error {
		sec := getSecret(g, ns, "legacy")
		sec.Annotations[consent.AnnotationAllowedHosts] = "127.0.0.1, 169.254.169.254" // the second for the egress test below
		return k8s.Update(context.Background(), sec)
	}, eventually, poll).Should(Succeed())

	// Success.
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionVerified, metav1.ConditionTrue, v1alpha1.ReasonTokenIssued)
	g.Expect(ss.Spec.Verify.OAuth2ClientCredentials.Interval.Duration).To(Equal(time.Hour), "defaulted by the API server")
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	te.mu.Lock()
	g.Expect(te.lastForm.Get("scope")).To(Equal("mail.send offline_access"))
	te.mu.Unlock()
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonVerified: 1})

	// Reconciles in between make no token request; the interval does.
	n := te.requests.Load()
	ssPoke(t, ns, "legacy")
	ssPoke(t, ns, "legacy")
	g.Expect(te.requests.Load()).To(Equal(n))
	ssClock(ns).Step(time.Hour)
	ssPoke(t, ns, "legacy")
	g.Eventually(te.requests.Load, eventually, poll).Should(Equal(n + 1))
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonVerified: 1})

	// A secret the identity provider refuses: verified at once, 401.
	updateSecretData(t, ns, "legacy", map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("revoked-secret-value")})
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonTokenRequestFailed)
	g.Expect(ssCondition(ss, v1alpha1.ConditionVerified).Message).To(ContainSubstring("HTTP 401: invalid_client: Client authentication failed"))
	g.Expect(ssCondition(ss, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonTokenRequestFailed))
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonVerificationFailed: 2})

	// An endpoint that does not answer: unreachable, after the timeout.
	te.setBlocked(true)
	updateSecretData(t, ns, "legacy", map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("third-secret-value")})
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonTokenEndpointUnreachable)
	msg := ssCondition(ss, v1alpha1.ConditionVerified).Message
	g.Expect(msg).To(ContainSubstring("no answer within 1s"))
	g.Expect(msg).To(ContainSubstring(te.URL + "/oauth2/token"))
	g.Expect(msg).NotTo(ContainSubstring("tenant"), "the query stays out of messages")
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonVerificationFailed: 3})
	te.setBlocked(false)

	// Neither the token nor a secret appears in status or events.
	raw, err := json.Marshal(getSecretSync(g, ns, "idp"))
	g.Expect(err).NotTo(HaveOccurred())
	var notes []string
	for _, e := range ssEventsFor(g, ns, "idp") {
		notes = append(notes, e.Note)
	}
	for _, leak := range []string{issuedToken, goodSecret, "revoked-secret-value", "third-secret-value"} {
		g.Expect(string(raw)).NotTo(ContainSubstring(leak))
		g.Expect(strings.Join(notes, "\n")).NotTo(ContainSubstring(leak))
	}

	// A token URL at the metadata address, even with the Secret's consent:
	// refused by the egress policy before any connection, and said so.
	n = te.requests.Load()
	g.Eventually(func() error {
		cur := getSecretSync(g, ns, "idp")
		cur.Spec.Verify.OAuth2ClientCredentials.TokenURL = "https://169.254.169.254/oauth2/token"
		return k8s.Update(context.Background(), cur)
	}, eventually, poll).Should(Succeed())
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionVerified, metav1.ConditionFalse, egress.ReasonEgressDenied)
	g.Expect(ssCondition(ss, v1alpha1.ConditionVerified).Message).To(ContainSubstring("egress policy"))
	g.Expect(te.requests.Load()).To(Equal(n))
}

func TestSecretSyncCRDValidation(t *testing.T) {
	t.Parallel()
	ns := ssStart(t)
	neg := metav1.Duration{Duration: -time.Hour}
	at := metav1.NewTime(time.Now())
	tests := []struct {
		name string
		mod  func(*v1alpha1.SecretSync)
		want string
	}{
		{"no sources", func(ss *v1alpha1.SecretSync) { ss.Spec.Sources = nil }, "spec.sources"},
		{"no source kind", func(ss *v1alpha1.SecretSync) { ss.Spec.Sources = []v1alpha1.SecretSyncSource{{Name: "x"}} }, "exactly one source kind"},
		{"no keys", func(ss *v1alpha1.SecretSync) { ss.Spec.Keys = nil }, "spec.keys"},
		{"two keys to one target key", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Keys = []v1alpha1.SecretSyncKey{{From: "a", To: "X"}, {From: "X"}}
		}, "two keys must not be written to the same target key"},
		{"bad target key", func(ss *v1alpha1.SecretSync) { ss.Spec.Keys[0].To = "not/valid" }, "spec.keys[0].to"},
		{"two expiry sources", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Expiry.From = &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at", NotAfter: &at}
		}, "at most one of key, annotation and notAfter"},
		{"negative warnBefore", func(ss *v1alpha1.SecretSync) { ss.Spec.Expiry.WarnBefore = &neg }, "warnBefore must be positive"},
		{"critical longer than warning", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Expiry.WarnBefore = &metav1.Duration{Duration: time.Hour}
			ss.Spec.Expiry.CriticalBefore = &metav1.Duration{Duration: 2 * time.Hour}
		}, "criticalBefore must not be longer than warnBefore"},
		{"plain http token endpoint", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Verify.OAuth2ClientCredentials = &v1alpha1.OAuth2ClientCredentials{TokenURL: "http://idp.example.com/token", ClientIDKey: "CLIENT_ID", ClientSecretKey: "CLIENT_SECRET"}
		}, "spec.verify.oauth2ClientCredentials.tokenURL"},
		{"credentials in the token URL", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Verify.OAuth2ClientCredentials = &v1alpha1.OAuth2ClientCredentials{TokenURL: "https://u:p@idp.example.com/token", ClientIDKey: "CLIENT_ID", ClientSecretKey: "CLIENT_SECRET"}
		}, "spec.verify.oauth2ClientCredentials.tokenURL"},
		{"short interval", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Verify.OAuth2ClientCredentials = &v1alpha1.OAuth2ClientCredentials{TokenURL: "https://idp.example.com/token", ClientIDKey: "CLIENT_ID", ClientSecretKey: "CLIENT_SECRET",
				Interval: &metav1.Duration{Duration: time.Second}}
		}, "interval must be at least 1m"},
		{"no target", func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "" }, "spec.target.secretName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := newSecretSync(ns, "invalid", ssFrom("legacy", "legacy", ""))
			tt.mod(ss)
			NewWithT(t).Expect(k8s.Create(context.Background(), ss)).To(MatchError(ContainSubstring(tt.want)))
		})
	}
	// Defaults are applied by the API server.
	g := NewWithT(t)
	ss := newSecretSync(ns, "defaults", ssFrom("legacy", "legacy", ""), ssExpiry(v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}))
	ss.Spec.Verify.OAuth2ClientCredentials = &v1alpha1.OAuth2ClientCredentials{TokenURL: "https://idp.example.com/oauth2/token", ClientIDKey: "CLIENT_ID", ClientSecretKey: "CLIENT_SECRET"}
	mustCreateSecretSync(t, ss)
	g.Expect(ss.Spec.Expiry.WarnBefore.Duration).To(Equal(720 * time.Hour))
	g.Expect(ss.Spec.Expiry.CriticalBefore.Duration).To(Equal(168 * time.Hour))
	g.Expect(ss.Spec.Rollout.Mode).To(Equal(v1alpha1.RolloutAuto))
	g.Expect(ss.Spec.Verify.OAuth2ClientCredentials.Interval.Duration).To(Equal(time.Hour))
	g.Expect(ss.Spec.Verify.OAuth2ClientCredentials.Timeout.Duration).To(Equal(10 * time.Second))
}
