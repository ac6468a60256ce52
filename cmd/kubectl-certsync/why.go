package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/estate"
)

// maxEvents is how many of the object's latest events why shows.
const maxEvents = 5

// source is one source's state, for either kind.
type source struct {
	name, reason, message string
	ready                 bool
	notAfter              *metav1.Time
}

// why explains a CertSync (or, if there is none of that name, a
// SecretSync): its conditions, its sources, its last events and what to do.
func why(ctx context.Context, c client.Client, ns, name string, now time.Time, w io.Writer) error {
	var (
		kind    = "CertSync"
		conds   []metav1.Condition
		sources []source
		row     estate.Row
		extra   []string
	)
	var cs v1alpha1.CertSync
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cs)
	switch {
	case err == nil:
		conds, row = cs.Status.Conditions, estate.FromCertSync(&cs, now)
		for _, s := range cs.Status.Sources {
			sources = append(sources, source{s.Name, s.Reason, s.Message, s.Ready, s.NotAfter})
		}
		if p := cs.Status.Pods; p != nil {
			if len(p.StaleNames) > 0 {
				extra = append(extra, "Stale pods: "+strings.Join(p.StaleNames, ", "))
			}
			if len(p.UnreachableNames) > 0 {
				extra = append(extra, "Unreachable pods: "+strings.Join(p.UnreachableNames, ", "))
			}
		}
	case apierrors.IsNotFound(err):
		var ss v1alpha1.SecretSync
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ss); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("no CertSync or SecretSync %q in namespace %s", name, ns)
			}
			return err
		}
		kind, conds, row = "SecretSync", ss.Status.Conditions, estate.FromSecretSync(&ss, now)
		for _, s := range ss.Status.Sources {
			sources = append(sources, source{s.Name, s.Reason, s.Message, s.Ready, s.NotAfter})
		}
	default:
		return err
	}

	fmt.Fprintf(w, "%s %s/%s: Ready=%s", kind, ns, name, row.Ready)
	if row.ReadyReason != "" {
		fmt.Fprintf(w, " (%s)", row.ReadyReason)
	}
	if row.NotAfter != nil {
		fmt.Fprintf(w, "; certificate from %q expires %s (%d days)", row.Source, row.NotAfter.Format(time.RFC3339), *row.DaysLeft)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "\nConditions:")
	var rows [][]string
	for _, c := range conds {
		rows = append(rows, []string{"  " + c.Type, string(c.Status), c.Reason, c.Message})
	}
	if err := printTable(w, []string{"  TYPE", "STATUS", "REASON", "MESSAGE"}, rows); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nSources:")
	rows = nil
	for _, s := range sources {
		na := "-"
		if s.notAfter != nil {
			na = s.notAfter.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{"  " + s.name, fmt.Sprint(s.ready), dash(s.reason), na, s.message})
	}
	if err := printTable(w, []string{"  NAME", "READY", "REASON", "NOT-AFTER", "MESSAGE"}, rows); err != nil {
		return err
	}
	for _, e := range extra {
		fmt.Fprintln(w, "\n"+e)
	}

	events, err := lastEvents(ctx, c, ns, kind, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nLast events:")
	if len(events) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, e := range events {
		fmt.Fprintf(w, "  %s  %s  %s  %s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.Reason, e.Message)
	}

	fmt.Fprintln(w, "\nWhat to do:")
	var reasons []string
	for _, c := range conds {
		if c.Type == v1alpha1.ConditionExpiringSoon && c.Status == metav1.ConditionTrue ||
			c.Type != v1alpha1.ConditionExpiringSoon && c.Status != metav1.ConditionTrue {
			reasons = append(reasons, c.Reason)
		}
	}
	for _, s := range sources {
		if !s.ready {
			reasons = append(reasons, v1alpha1.ReasonSourcesDegraded)
		}
	}
	var said []string
	for _, r := range reasons {
		a, ok := estate.AdviceFor(r)
		if !ok || slices.Contains(said, a.Runbook+a.Lines[0]) {
			continue
		}
		said = append(said, a.Runbook+a.Lines[0])
		fmt.Fprintf(w, "  %s:\n", r)
		for _, l := range a.Lines {
			fmt.Fprintf(w, "    %s\n", strings.NewReplacer("NS", ns, "NAME", name).Replace(l))
		}
		fmt.Fprintf(w, "    runbook: %s\n", a.Runbook)
	}
	if len(said) == 0 {
		fmt.Fprintln(w, "  nothing: every condition is as it should be")
	}
	return nil
}

// lastEvents returns the object's latest events, oldest first. The
// operator records through events.k8s.io/v1; core/v1 shows the same events
// and filters them by involvedObject on the server.
func lastEvents(ctx context.Context, c client.Client, ns, kind, name string) ([]corev1.Event, error) {
	var list corev1.EventList
	sel := fields.SelectorFromSet(fields.Set{"involvedObject.name": name, "involvedObject.kind": kind})
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	evs := list.Items
	slices.SortStableFunc(evs, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	if len(evs) > maxEvents {
		evs = evs[len(evs)-maxEvents:]
	}
	return evs, nil
}

// eventTime is when an event last happened, whichever API wrote it.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
