package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

const (
	legacyNS  = "legacy-pki"
	mailNS    = "mail"
	mailHost  = "mail.example.com"
	targetTLS = "mail-tls"
)

// actRenewal: the legacy PKI holds a certificate that expires in two days;
// certsync syncs it, then the PKI renews it and certsync carries the renewal.
func (d *demo) actRenewal(ctx context.Context) error {
	d.title("Act 1: a legacy PKI renews the mail certificate")
	for _, ns := range []string{legacyNS, mailNS} {
		if err := d.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	ca, err := certstest.GenerateCA(certstest.WithCommonName("Legacy PKI Root CA"))
	if err != nil {
		return err
	}
	now := time.Now()
	old, err := certstest.Generate(certstest.WithIssuer(ca), certstest.WithDNSNames(mailHost), certstest.WithSerial(1001),
		certstest.WithValidity(now.Add(-88*24*time.Hour), now.Add(48*time.Hour)))
	if err != nil {
		return err
	}
	legacy := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: legacyNS, Name: "mail-tls", Annotations: map[string]string{
			// The legacy drop point consents to being read from the mail namespace.
			v1alpha1.AnnotationAllowedNamespaces: mailNS,
		}},
		Data: map[string][]byte{"tls.crt": old.ChainPEM, "tls.key": old.KeyPEM, "ca.crt": ca.CertPEM},
	}
	if err := d.c.Create(ctx, legacy); err != nil {
		return err
	}
	d.say("legacy PKI dropped %s into Secret %s/%s", certs.Describe(old.Cert), legacyNS, legacy.Name)

	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "mail"},
		Spec: v1alpha1.CertSyncSpec{
			Sources:    []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: "mail-tls", Namespace: legacyNS}}},
			Validation: v1alpha1.Validation{DNSNames: []string{mailHost}},
			Target:     v1alpha1.Target{SecretName: targetTLS},
		},
	}
	if err := d.c.Create(ctx, cs); err != nil {
		return err
	}
	d.say("created CertSync %s/%s: source legacy-pki/mail-tls -> target Secret %s/%s", mailNS, cs.Name, mailNS, targetTLS)
	t0 := time.Now()
	if err := d.waitTarget(ctx, certs.Fingerprint(old.Cert)); err != nil {
		return err
	}
	d.say("target Secret %s/%s written %s after the CertSync was created", mailNS, targetTLS, time.Since(t0).Round(time.Millisecond))
	if err := d.showStatus(ctx); err != nil {
		return err
	}

	renewed, err := certstest.Generate(certstest.WithIssuer(ca), certstest.WithDNSNames(mailHost), certstest.WithSerial(1002),
		certstest.WithValidity(now.Add(-time.Minute), now.Add(90*24*time.Hour)))
	if err != nil {
		return err
	}
	d.say("legacy PKI renews: %s", certs.Describe(renewed.Cert))
	t1 := time.Now()
	if err := d.updateSecret(ctx, legacyNS, "mail-tls", func(s *corev1.Secret) {
		s.Data["tls.crt"], s.Data["tls.key"] = renewed.ChainPEM, renewed.KeyPEM
	}); err != nil {
		return err
	}
	if err := d.waitTarget(ctx, certs.Fingerprint(renewed.Cert)); err != nil {
		return err
	}
	d.say("target Secret updated to serial %s %s after the renewal", certs.SerialHex(renewed.Cert), time.Since(t1).Round(time.Millisecond))
	if err := d.showStatus(ctx); err != nil {
		return err
	}
	return d.showEvents(ctx)
}

// actGarbage: the legacy system's export breaks and drops an HTML error
// page where the certificate belongs. The target must stay untouched.
func (d *demo) actGarbage(ctx context.Context) error {
	d.title("Act 2: the legacy export breaks and drops an HTML page instead of a certificate")
	before := &corev1.Secret{}
	if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: targetTLS}, before); err != nil {
		return err
	}
	if err := d.updateSecret(ctx, legacyNS, "mail-tls", func(s *corev1.Secret) {
		s.Data["tls.crt"] = []byte("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
	}); err != nil {
		return err
	}
	d.say("legacy Secret now holds an HTML page in tls.crt")
	err := d.poll(ctx, func(cs *v1alpha1.CertSync) bool {
		return len(cs.Status.Sources) > 0 && cs.Status.Sources[0].Reason == certs.ReasonNotPEM
	})
	if err != nil {
		return err
	}
	after := &corev1.Secret{}
	if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: targetTLS}, after); err != nil {
		return err
	}
	if after.ResourceVersion != before.ResourceVersion {
		return fmt.Errorf("target Secret changed after a garbage source")
	}
	d.say("certsync refused it; target Secret untouched (resourceVersion %s, sha256 %.16s…)", after.ResourceVersion, after.Annotations[v1alpha1.AnnotationSHA256])
	if err := d.showStatus(ctx); err != nil {
		return err
	}
	return d.showEvents(ctx)
}

func (d *demo) updateSecret(ctx context.Context, ns, name string, mutate func(*corev1.Secret)) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var s corev1.Secret
		if err := d.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
			return false, nil
		}
		mutate(&s)
		return d.c.Update(ctx, &s) == nil, nil
	})
}

// waitTarget waits until the target holds the certificate with sha256.
func (d *demo) waitTarget(ctx context.Context, sha256 string) error {
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var s corev1.Secret
		if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: targetTLS}, &s); err != nil {
			return false, nil
		}
		return s.Annotations[v1alpha1.AnnotationSHA256] == sha256, nil
	})
	if err != nil {
		return fmt.Errorf("target never received certificate %.16s…: %w", sha256, err)
	}
	return nil
}

func (d *demo) poll(ctx context.Context, done func(*v1alpha1.CertSync) bool) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var cs v1alpha1.CertSync
		if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: "mail"}, &cs); err != nil {
			return false, nil
		}
		return done(&cs), nil
	})
}

func (d *demo) showStatus(ctx context.Context) error {
	var cs v1alpha1.CertSync
	if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: "mail"}, &cs); err != nil {
		return err
	}
	d.say("kubectl get certsync -n %s mail -o yaml (status, abridged):", mailNS)
	if c := cs.Status.Certificate; c != nil {
		d.table([]string{"SOURCE", "SERIAL", "NOT AFTER", "SHA256"},
			[][]string{{c.Source, c.SerialNumber, c.NotAfter.UTC().Format(time.RFC3339), c.SHA256[:16] + "…"}})
	}
	var rows [][]string
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionSourcesReady, v1alpha1.ConditionSynced} {
		if c := meta.FindStatusCondition(cs.Status.Conditions, typ); c != nil {
			rows = append(rows, []string{c.Type, string(c.Status), c.Reason, c.Message})
		}
	}
	d.table([]string{"CONDITION", "STATUS", "REASON", "MESSAGE"}, rows)
	return nil
}

func (d *demo) showEvents(ctx context.Context) error {
	var list eventsv1.EventList
	if err := d.c.List(ctx, &list, client.InNamespace(mailNS)); err != nil {
		return err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].EventTime.Before(&list.Items[j].EventTime) })
	var rows [][]string
	for _, e := range list.Items {
		rows = append(rows, []string{e.EventTime.Format("15:04:05.000"), e.Type, e.Reason, e.Regarding.Kind + "/" + e.Regarding.Name, e.Note})
	}
	d.say("kubectl events -n %s:", mailNS)
	d.table([]string{"TIME", "TYPE", "REASON", "OBJECT", "NOTE"}, rows)
	return nil
}
