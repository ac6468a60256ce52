package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/verification"
)

// showServed connects to every mail pod itself — independently of the
// operator — and prints what each port serves against the wanted
// fingerprint: the check an SRE did by hand, pod by pod, after the incident.
func (d *demo) showServed(ctx context.Context, want string) error {
	var list corev1.PodList
	if err := d.c.List(ctx, &list, client.InNamespace(mailNS), client.MatchingLabels{"tier": "mail"}); err != nil {
		return err
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	results := (&probe.Prober{Timeout: 3 * time.Second}).ProbeAll(ctx, verification.Targets(pods, nil), mailHost)
	var rows [][]string
	for _, r := range results {
		serial, notAfter, match := "-", "-", "UNREACHABLE"
		if r.Leaf != nil {
			serial, notAfter = fmt.Sprintf("%x", r.Leaf.SerialNumber), r.Leaf.NotAfter.UTC().Format(time.RFC3339)
			match = "STALE"
			if probe.Classify(r, want) == probe.Verified {
				match = "yes"
			}
		}
		rows = append(rows, []string{r.Target.Pod, r.Target.IP, fmt.Sprint(r.Target.Endpoint.Port), string(r.Target.Endpoint.Protocol), serial, notAfter, match})
	}
	d.say("what every pod serves (TLS/STARTTLS handshake from the demo itself):")
	d.table([]string{"POD", "IP", "PORT", "PROTOCOL", "SERIAL", "NOT AFTER", "MATCH"}, rows)
	return nil
}
