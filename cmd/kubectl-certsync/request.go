package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
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

// sendRequest sets a request annotation (a merge patch of metadata only,
// so the spec and its generation are untouched) and waits until the
// operator records in status.lastHandledRequests that it served it.
func sendRequest(ctx context.Context, c client.Client, ns, name, key string, timeout time.Duration) (*v1alpha1.CertSync, error) {
	var cs v1alpha1.CertSync
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cs); err != nil {
		return nil, fmt.Errorf("CertSync %s/%s: %w", ns, name, err)
	}
	value := time.Now().UTC().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if err := c.Patch(ctx, &cs, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		return nil, fmt.Errorf("annotating CertSync %s/%s: %w", ns, name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, requestPoll, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cs); err != nil {
			return false, err
		}
		h := cs.Status.LastHandledRequests
		if h == nil {
			return false, nil
		}
		if key == v1alpha1.AnnotationVerifyRequested {
			return h.Verify == value, nil
		}
		return h.Renew == value, nil
	})
	if err != nil {
		return nil, fmt.Errorf("request %s=%s not served within %s (is the operator running? its logs: kubectl -n certsync-system logs deploy/certsync-controller-manager): %w", key, value, timeout, err)
	}
	return &cs, nil
}

// verifyCmd asks for a verification now and prints its result.
func verifyCmd(ctx context.Context, c client.Client, ns, name string, timeout time.Duration, w io.Writer) error {
	cs, err := sendRequest(ctx, c, ns, name, v1alpha1.AnnotationVerifyRequested, timeout)
	if err != nil {
		return err
	}
	v := meta.FindStatusCondition(cs.Status.Conditions, v1alpha1.ConditionVerified)
	if v == nil {
		fmt.Fprintf(w, "CertSync %s/%s: verified, no result recorded\n", ns, name)
		return errNotVerified
	}
	fmt.Fprintf(w, "CertSync %s/%s: Verified=%s (%s) %s\n", ns, name, v.Status, v.Reason, v.Message)
	if p := cs.Status.Pods; p != nil {
		fmt.Fprintf(w, "Pods: %d/%d verified, %d stale, %d unreachable\n", p.Verified, p.Total, p.Stale, p.Unreachable)
		if len(p.StaleNames) > 0 {
			fmt.Fprintln(w, "Stale: "+strings.Join(p.StaleNames, ", "))
		}
		if len(p.UnreachableNames) > 0 {
			fmt.Fprintln(w, "Unreachable: "+strings.Join(p.UnreachableNames, ", "))
		}
	}
	if v.Status != "True" {
		return errNotVerified
	}
	return nil
}

// renewCmd asks the operator to read every source now (HTTPS sources
// bypass their refresh interval and backoff; cert-manager Certificates are
// asked to re-issue, as `cmctl renew` does) and prints the outcome.
func renewCmd(ctx context.Context, c client.Client, ns, name string, timeout time.Duration, w io.Writer) error {
	cs, err := sendRequest(ctx, c, ns, name, v1alpha1.AnnotationRenewRequested, timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "CertSync %s/%s: every source read again.\n", ns, name)
	var rows [][]string
	for _, s := range cs.Status.Sources {
		na := "-"
		if s.NotAfter != nil {
			na = s.NotAfter.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{"  " + s.Name, fmt.Sprint(s.Ready), dash(s.Reason), na, s.Message})
	}
	if err := printTable(w, []string{"  SOURCE", "READY", "REASON", "NOT-AFTER", "MESSAGE"}, rows); err != nil {
		return err
	}
	if crt := cs.Status.Certificate; crt != nil && crt.NotAfter != nil {
		fmt.Fprintf(w, "Target holds the certificate from %q (sha256 %.16s…), valid until %s.\n", crt.Source, crt.SHA256, crt.NotAfter.UTC().Format(time.RFC3339))
	}
	for _, typ := range []string{v1alpha1.ConditionSynced, v1alpha1.ConditionRolledOut} {
		if c := meta.FindStatusCondition(cs.Status.Conditions, typ); c != nil {
			fmt.Fprintf(w, "%s=%s (%s) %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, s := range cs.Status.Sources {
		if s.Reason == sources.ReasonIssuing {
			fmt.Fprintf(w, "Source %s: cert-manager is issuing; certsync syncs the new certificate when it is Ready.\n", s.Name)
		}
	}
	return nil
}
