package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/sources"
)

// errNotVerified makes `verify` exit non-zero when the pods were checked
// but do not all serve the certificate; its result is already printed.
var errNotVerified = errors.New("not every pod serves the synced certificate")

// requestPoll is how often the plugin looks whether its request was served.
const requestPoll = 250 * time.Millisecond

// target is the object a request is for: a CertSync or, when there is
// none of that name, a SecretSync. Both serve the same annotations.
type target struct {
	kind string
	obj  client.Object
}

// handled is the object's status.lastHandledRequests.
func (t target) handled() *v1alpha1.HandledRequests {
	switch o := t.obj.(type) {
	case *v1alpha1.CertSync:
		return o.Status.LastHandledRequests
	case *v1alpha1.SecretSync:
		return o.Status.LastHandledRequests
	}
	return nil
}

// conditions are the object's status conditions.
func (t target) conditions() []metav1.Condition {
	switch o := t.obj.(type) {
	case *v1alpha1.CertSync:
		return o.Status.Conditions
	case *v1alpha1.SecretSync:
		return o.Status.Conditions
	}
	return nil
}

// findTarget reads the CertSync, else the SecretSync, of that name.
func findTarget(ctx context.Context, c client.Client, ns, name string) (target, error) {
	var cs v1alpha1.CertSync
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cs)
	switch {
	case err == nil:
		return target{"CertSync", &cs}, nil
	case !apierrors.IsNotFound(err):
		return target{}, fmt.Errorf("CertSync %s/%s: %w", ns, name, err)
	}
	var ss v1alpha1.SecretSync
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ss); err != nil {
		if apierrors.IsNotFound(err) {
			return target{}, fmt.Errorf("no CertSync or SecretSync %q in namespace %s", name, ns)
		}
		return target{}, fmt.Errorf("SecretSync %s/%s: %w", ns, name, err)
	}
	return target{"SecretSync", &ss}, nil
}

// sendRequest sets a request annotation (a merge patch of metadata only,
// so the spec and its generation are untouched) and waits until the
// operator records in status.lastHandledRequests that it served it.
func sendRequest(ctx context.Context, c client.Client, ns, name, key string, timeout time.Duration) (target, error) {
	t, err := findTarget(ctx, c, ns, name)
	if err != nil {
		return t, err
	}
	value := time.Now().UTC().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if err := c.Patch(ctx, t.obj, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		return t, fmt.Errorf("annotating %s %s/%s: %w", t.kind, ns, name, err)
	}
	err = wait.PollUntilContextTimeout(ctx, requestPoll, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, t.obj); err != nil {
			return false, err
		}
		h := t.handled()
		if h == nil {
			return false, nil
		}
		if key == v1alpha1.AnnotationVerifyRequested {
			return h.Verify == value, nil
		}
		return h.Renew == value, nil
	})
	if err != nil {
		return t, fmt.Errorf("request %s=%s not served within %s (is the operator running? its logs: kubectl -n certsync-system logs deploy/certsync-controller-manager): %w", key, value, timeout, err)
	}
	return t, nil
}

// verifyCmd asks for a verification now and prints its result: a
// CertSync's pods probed, a SecretSync's token request made again.
func verifyCmd(ctx context.Context, c client.Client, ns, name string, timeout time.Duration, w io.Writer) error {
	t, err := sendRequest(ctx, c, ns, name, v1alpha1.AnnotationVerifyRequested, timeout)
	if err != nil {
		return err
	}
	v := meta.FindStatusCondition(t.conditions(), v1alpha1.ConditionVerified)
	if v == nil {
		if t.kind == "SecretSync" {
			fmt.Fprintf(w, "SecretSync %s/%s: nothing to verify (no verify.oauth2ClientCredentials)\n", ns, name)
			return nil
		}
		fmt.Fprintf(w, "%s %s/%s: verified, no result recorded\n", t.kind, ns, name)
		return errNotVerified
	}
	fmt.Fprintf(w, "%s %s/%s: Verified=%s (%s) %s\n", t.kind, ns, name, v.Status, v.Reason, v.Message)
	if cs, ok := t.obj.(*v1alpha1.CertSync); ok {
		if p := cs.Status.Pods; p != nil {
			fmt.Fprintf(w, "Pods: %d/%d verified, %d stale, %d unreachable\n", p.Verified, p.Total, p.Stale, p.Unreachable)
			if len(p.StaleNames) > 0 {
				fmt.Fprintln(w, "Stale: "+strings.Join(p.StaleNames, ", "))
			}
			if len(p.UnreachableNames) > 0 {
				fmt.Fprintln(w, "Unreachable: "+strings.Join(p.UnreachableNames, ", "))
			}
		}
	}
	if v.Status != metav1.ConditionTrue {
		return errNotVerified
	}
	return nil
}

// renewCmd asks the operator to read every source now (HTTPS sources
// bypass their refresh interval and backoff; cert-manager Certificates are
// asked to re-issue, as `cmctl renew` does) and prints the outcome.
func renewCmd(ctx context.Context, c client.Client, ns, name string, timeout time.Duration, w io.Writer) error {
	t, err := sendRequest(ctx, c, ns, name, v1alpha1.AnnotationRenewRequested, timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %s/%s: every source read again.\n", t.kind, ns, name)
	var rows [][]string
	row := func(name string, ready bool, reason string, notAfter *metav1.Time, msg string) {
		na := "-"
		if notAfter != nil {
			na = notAfter.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{"  " + name, fmt.Sprint(ready), dash(reason), na, msg})
	}
	var issuing []string
	switch o := t.obj.(type) {
	case *v1alpha1.CertSync:
		for _, s := range o.Status.Sources {
			row(s.Name, s.Ready, s.Reason, s.NotAfter, s.Message)
			if s.Reason == sources.ReasonIssuing {
				issuing = append(issuing, s.Name)
			}
		}
	case *v1alpha1.SecretSync:
		for _, s := range o.Status.Sources {
			row(s.Name, s.Ready, s.Reason, s.NotAfter, s.Message)
		}
	}
	if err := printTable(w, []string{"  SOURCE", "READY", "REASON", "NOT-AFTER", "MESSAGE"}, rows); err != nil {
		return err
	}
	switch o := t.obj.(type) {
	case *v1alpha1.CertSync:
		if crt := o.Status.Certificate; crt != nil && crt.NotAfter != nil {
			fmt.Fprintf(w, "Target holds the certificate from %q (sha256 %.16s…), valid until %s.\n", crt.Source, crt.SHA256, crt.NotAfter.UTC().Format(time.RFC3339))
		}
	case *v1alpha1.SecretSync:
		if sec := o.Status.Secret; sec != nil {
			until := "no known expiry"
			if sec.NotAfter != nil {
				until = "expiring " + sec.NotAfter.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "Target holds the values from %q (sha256 %.16s…), %s.\n", sec.Source, sec.SHA256, until)
		}
	}
	for _, typ := range []string{v1alpha1.ConditionSynced, v1alpha1.ConditionRolledOut} {
		if c := meta.FindStatusCondition(t.conditions(), typ); c != nil {
			fmt.Fprintf(w, "%s=%s (%s) %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, s := range issuing {
		fmt.Fprintf(w, "Source %s: cert-manager is issuing; certsync syncs the new certificate when it is Ready.\n", s)
	}
	return nil
}
