package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs/certstest"
)

// actExpiry: a certificate and an OAuth2 client secret that both expire in
// 20 days. Incident 2 was such a secret expiring unnoticed; the action item
// was "alert a month ahead".
func (d *demo) actExpiry(ctx context.Context) error {
	d.title("Act 5: a certificate and an OAuth2 client secret expire in 20 days")
	now := time.Now()
	in20d := now.Add(20 * 24 * time.Hour)
	webmail, err := certstest.Generate(certstest.WithIssuer(d.ca), certstest.WithDNSNames("webmail.example.com"),
		certstest.WithValidity(now.Add(-70*24*time.Hour), in20d))
	if err != nil {
		return err
	}
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "webmail-drop"},
			Data: map[string][]byte{"tls.crt": webmail.ChainPEM, "tls.key": webmail.KeyPEM}},
		&v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "webmail"}, Spec: v1alpha1.CertSyncSpec{
			Sources: []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: "webmail-drop"}}},
			Target:  v1alpha1.Target{SecretName: "webmail-tls"},
		}},
		// The identity team drops the OAuth2 client of the outbound mailer,
		// with the date its secret expires in the IdP, and lets SecretSyncs
		// of the namespace copy it (certsync.io/allowed-namespaces).
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "idp-export",
			Annotations: map[string]string{v1alpha1.AnnotationAllowedNamespaces: mailNS}}, Data: map[string][]byte{
			"client_id": []byte("mailer"), "client_secret": []byte("demo-not-a-real-secret"),
			"expires_at": []byte(in20d.UTC().Format(time.RFC3339)),
		}},
		&v1alpha1.SecretSync{ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "mail-oauth"}, Spec: v1alpha1.SecretSyncSpec{
			Sources: []v1alpha1.SecretSyncSource{{Name: "idp", Secret: &v1alpha1.SecretSyncSecretRef{Name: "idp-export"}}},
			Keys:    []v1alpha1.SecretSyncKey{{From: "client_id", To: "CLIENT_ID"}, {From: "client_secret", To: "CLIENT_SECRET"}},
			Expiry:  v1alpha1.SecretSyncExpiry{From: &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}},
			Target:  v1alpha1.SecretSyncTarget{SecretName: "oauth-client"},
		}},
	}
	for _, o := range objs {
		if err := d.c.Create(ctx, o); err != nil {
			return err
		}
	}
	d.say("created CertSync mail/webmail (certificate expires %s) and SecretSync mail/mail-oauth (client secret expires %s)",
		in20d.UTC().Format(time.RFC3339), in20d.UTC().Format(time.RFC3339))
	t0 := time.Now()
	var cs v1alpha1.CertSync
	var ss v1alpha1.SecretSync
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: "webmail"}, &cs) != nil ||
			d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: "mail-oauth"}, &ss) != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(cs.Status.Conditions, v1alpha1.ConditionExpiringSoon) &&
			meta.IsStatusConditionTrue(ss.Status.Conditions, v1alpha1.ConditionExpiringSoon), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the expiry warnings: %w", err)
	}
	d.say("+%s  both warned, 20 days ahead:", since(t0))
	var rows [][]string
	for _, x := range []struct {
		kind, name string
		conds      []metav1.Condition
	}{{"CertSync", "webmail", cs.Status.Conditions}, {"SecretSync", "mail-oauth", ss.Status.Conditions}} {
		if c := meta.FindStatusCondition(x.conds, v1alpha1.ConditionExpiringSoon); c != nil {
			rows = append(rows, []string{x.kind + "/" + x.name, "ExpiringSoon", string(c.Status), c.Reason, c.Message})
		}
	}
	d.table([]string{"OBJECT", "CONDITION", "STATUS", "REASON", "MESSAGE"}, rows)
	if err := d.showEvents(ctx, t0); err != nil {
		return err
	}
	return d.showMetrics(ctx)
}

// showMetrics scrapes the operator's metrics endpoint, as Prometheus would,
// and prints what the shipped alert rules look at.
func (d *demo) showMetrics(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.metricsAddr+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	d.say("curl http://%s/metrics | grep certsync_ (expiries shown as days left, as the alerts compute them):", d.metricsAddr)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "certsync_certificate_not_after_timestamp_seconds{"):
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				fmt.Fprintf(d.out, "    %s  (%.1f days left)\n", line, time.Until(time.Unix(int64(v), 0)).Hours()/24)
			}
		case strings.HasPrefix(line, "certsync_ready{"), strings.HasPrefix(line, "certsync_pods{"):
			fmt.Fprintf(d.out, "    %s\n", line)
		}
	}
	return sc.Err()
}
