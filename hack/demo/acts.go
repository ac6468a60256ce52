package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

// actMailService: a legacy PKI's certificate, two days from expiry, synced
// into the Secret that a Postfix Deployment and a Dovecot StatefulSet mount.
func (d *demo) actMailService(ctx context.Context) error {
	d.title("Act 1: a mail service whose certificate comes from a legacy PKI")
	for _, ns := range []string{legacyNS, mailNS} {
		if err := d.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	var err error
	if d.ca, err = certstest.GenerateCA(certstest.WithCommonName("Legacy PKI Root CA")); err != nil {
		return err
	}
	now := time.Now()
	if d.old, err = certstest.Generate(certstest.WithIssuer(d.ca), certstest.WithDNSNames(mailHost), certstest.WithSerial(1001),
		certstest.WithValidity(now.Add(-88*24*time.Hour), now.Add(48*time.Hour))); err != nil {
		return err
	}
	legacy := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: legacyNS, Name: "mail-tls", Annotations: map[string]string{
			// The legacy drop point consents to being read from the mail namespace.
			v1alpha1.AnnotationAllowedNamespaces: mailNS,
		}},
		Data: map[string][]byte{"tls.crt": d.old.ChainPEM, "tls.key": d.old.KeyPEM, "ca.crt": d.ca.CertPEM},
	}
	if err := d.c.Create(ctx, legacy); err != nil {
		return err
	}
	d.say("legacy PKI holds %s in Secret %s/%s", certs.Describe(d.old.Cert), legacyNS, legacy.Name)

	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "mail"},
		Spec: v1alpha1.CertSyncSpec{
			Sources:    []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: "mail-tls", Namespace: legacyNS}}},
			Validation: v1alpha1.Validation{DNSNames: []string{mailHost}},
			Target:     v1alpha1.Target{SecretName: targetTLS},
			// Re-verify every 10s for the demo (default 5m).
			Verify: v1alpha1.Verify{Interval: &metav1.Duration{Duration: 10 * time.Second}},
			// The demo renews seconds after the first rollout; a real
			// cluster keeps the 10m default, which stops a source that
			// changes at every read from restarting the pods each time.
			Rollout: v1alpha1.Rollout{MinRestartInterval: &metav1.Duration{}},
		},
	}
	if err := d.c.Create(ctx, cs); err != nil {
		return err
	}
	d.say("created CertSync mail/mail: source legacy-pki/mail-tls -> Secret mail/%s; verify every 10s; minRestartInterval 0s (the renewal comes seconds after the first rollout)", targetTLS)
	t0 := time.Now()
	if err := d.waitTarget(ctx, certs.Fingerprint(d.old.Cert)); err != nil {
		return err
	}
	d.say("Secret mail/%s written %s later", targetTLS, time.Since(t0).Round(time.Millisecond))

	if err := d.createMailWorkloads(ctx); err != nil {
		return err
	}
	d.say("created Deployment postfix (3 pods) and StatefulSet dovecot (2 pods), both mounting Secret %s", targetTLS)
	if err := d.waitVerified(ctx, certs.Fingerprint(d.old.Cert)); err != nil {
		return err
	}
	if err := d.showStatus(ctx); err != nil {
		return err
	}
	return d.showServed(ctx, certs.Fingerprint(d.old.Cert))
}

// actRenewal: the PKI renews; certsync syncs, rolls both workloads once and
// proves every pod serves the renewal. This is incident 1, made impossible.
func (d *demo) actRenewal(ctx context.Context) error {
	d.title("Act 2: the legacy PKI renews the certificate (the step that once never reached the pods)")
	var err error
	if d.renewed, err = certstest.Generate(certstest.WithIssuer(d.ca), certstest.WithDNSNames(mailHost), certstest.WithSerial(1002),
		certstest.WithValidity(time.Now().Add(-time.Minute), time.Now().Add(90*24*time.Hour))); err != nil {
		return err
	}
	want := certs.Fingerprint(d.renewed.Cert)
	d.say("legacy PKI renews: %s", certs.Describe(d.renewed.Cert))
	t0 := time.Now()
	if err := d.updateSecret(ctx, legacyNS, "mail-tls", func(s *corev1.Secret) {
		s.Data["tls.crt"], s.Data["tls.key"] = d.renewed.ChainPEM, d.renewed.KeyPEM
	}); err != nil {
		return err
	}
	if err := d.waitTarget(ctx, want); err != nil {
		return err
	}
	d.say("+%s  Secret mail/%s holds the renewal", since(t0), targetTLS)
	if err := d.poll(ctx, "the rollout to start", func(cs *v1alpha1.CertSync) bool {
		return restartedFor(cs, want) == 2
	}); err != nil {
		return err
	}
	d.say("+%s  certsync restarts Deployment/postfix and StatefulSet/dovecot (pod-template annotation %s)", since(t0), v1alpha1.AnnotationRestartedFor)
	if err := d.poll(ctx, "the rollout to complete", func(cs *v1alpha1.CertSync) bool {
		return restartedFor(cs, want) == 2 && conditionIs(cs, v1alpha1.ConditionRolledOut, "True", v1alpha1.ReasonRolledOut)
	}); err != nil {
		return err
	}
	d.say("+%s  rollout complete", since(t0))
	if err := d.waitVerified(ctx, want); err != nil {
		return err
	}
	d.say("+%s  certsync verified all pods over TLS and STARTTLS: renewal to proof took %s", since(t0), since(t0))
	if err := d.showServed(ctx, want); err != nil {
		return err
	}
	if err := d.showStatus(ctx); err != nil {
		return err
	}
	return d.showEvents(ctx, t0)
}

// actStalePod: one pod starts serving an old certificate behind the
// operator's back; the next verification catches it and restarts it.
func (d *demo) actStalePod(ctx context.Context) error {
	d.title("Act 3: one pod serves a stale certificate behind everyone's back")
	var pods corev1.PodList
	if err := d.c.List(ctx, &pods, client.InNamespace(mailNS), client.MatchingLabels{"app": "postfix"}); err != nil {
		return err
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("no postfix pods")
	}
	victim := pods.Items[0].Name
	if err := d.sim.ServeStale(victim, d.old.ChainPEM, d.old.KeyPEM); err != nil {
		return err
	}
	t0 := time.Now()
	d.say("pod %s now serves the old certificate (serial %s, expires in 2 days)", victim, certs.SerialHex(d.old.Cert))
	if err := d.showServed(ctx, certs.Fingerprint(d.renewed.Cert)); err != nil {
		return err
	}
	if err := d.poll(ctx, "the stale pod to be caught", func(cs *v1alpha1.CertSync) bool {
		return cs.Status.Pods != nil && cs.Status.Pods.Stale > 0 || d.podGone(ctx, victim)
	}); err != nil {
		return err
	}
	d.say("+%s  caught by the periodic verification", since(t0))
	if err := d.waitPodGone(ctx, victim); err != nil {
		return err
	}
	d.say("+%s  pod %s evicted (maxUnavailable 1, PodDisruptionBudgets honoured)", since(t0), victim)
	if err := d.waitVerified(ctx, certs.Fingerprint(d.renewed.Cert)); err != nil {
		return err
	}
	d.say("+%s  healed: every pod serves the current certificate again (caught and healed in %s)", since(t0), since(t0))
	if err := d.showServed(ctx, certs.Fingerprint(d.renewed.Cert)); err != nil {
		return err
	}
	return d.showEvents(ctx, t0)
}

// actGarbage: the legacy export breaks and drops an HTML page where the
// certificate belongs. The target must stay untouched.
func (d *demo) actGarbage(ctx context.Context) error {
	d.title("Act 4: the legacy export breaks and drops an HTML page instead of a certificate")
	before := &corev1.Secret{}
	if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: targetTLS}, before); err != nil {
		return err
	}
	t0 := time.Now()
	if err := d.updateSecret(ctx, legacyNS, "mail-tls", func(s *corev1.Secret) {
		s.Data["tls.crt"] = []byte("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
	}); err != nil {
		return err
	}
	d.say("legacy Secret now holds an HTML page in tls.crt")
	if err := d.poll(ctx, "the garbage to be refused", func(cs *v1alpha1.CertSync) bool {
		return len(cs.Status.Sources) > 0 && cs.Status.Sources[0].Reason == certs.ReasonNotPEM
	}); err != nil {
		return err
	}
	after := &corev1.Secret{}
	if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: targetTLS}, after); err != nil {
		return err
	}
	if after.ResourceVersion != before.ResourceVersion {
		return fmt.Errorf("target Secret changed after a garbage source")
	}
	d.say("+%s  refused; Secret mail/%s untouched (resourceVersion %s), pods keep serving the good certificate", since(t0), targetTLS, after.ResourceVersion)
	if err := d.showStatus(ctx); err != nil {
		return err
	}
	return d.showEvents(ctx, t0)
}

// waitVerified waits until the CertSync reports all 5 pods verified on want.
func (d *demo) waitVerified(ctx context.Context, want string) error {
	return d.poll(ctx, "all pods verified", func(cs *v1alpha1.CertSync) bool {
		return cs.Status.Certificate != nil && cs.Status.Certificate.SHA256 == want &&
			cs.Status.Pods != nil && cs.Status.Pods.Total == 5 && cs.Status.Pods.Verified == 5 &&
			conditionIs(cs, v1alpha1.ConditionReady, "True", "")
	})
}

// restartedFor counts the workloads certsync restarted for the certificate.
func restartedFor(cs *v1alpha1.CertSync, sha256 string) int {
	n := 0
	for _, r := range cs.Status.Restarts {
		if r.SHA256 == sha256 && r.Kind != "Pod" {
			n++
		}
	}
	return n
}

func since(t time.Time) string { return fmt.Sprintf("%5.2fs", time.Since(t).Seconds()) }
