package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/health"
)

const (
	legacyNS  = "legacy-pki"
	mailNS    = "mail"
	mailHost  = "mail.example.com"
	targetTLS = "mail-tls"
)

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
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
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

// poll waits until done says yes for the CertSync mail/mail.
func (d *demo) poll(ctx context.Context, what string, done func(*v1alpha1.CertSync) bool) error {
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var cs v1alpha1.CertSync
		if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: "mail"}, &cs); err != nil {
			return false, nil
		}
		return done(&cs), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

func conditionIs(cs *v1alpha1.CertSync, typ, status, reason string) bool {
	c := meta.FindStatusCondition(cs.Status.Conditions, typ)
	return c != nil && c.ObservedGeneration == cs.Generation && string(c.Status) == status && (reason == "" || c.Reason == reason)
}

func (d *demo) showStatus(ctx context.Context) error {
	var cs v1alpha1.CertSync
	if err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: "mail"}, &cs); err != nil {
		return err
	}
	verified := ""
	if cs.Status.Pods != nil {
		verified = cs.Status.Pods.Summary
	}
	d.say("kubectl get certsync -n %s mail, and its status:", mailNS)
	if c := cs.Status.Certificate; c != nil {
		d.table([]string{"SOURCE", "SERIAL", "NOT AFTER", "SHA256", "VERIFIED"},
			[][]string{{c.Source, c.SerialNumber, c.NotAfter.UTC().Format(time.RFC3339), c.SHA256[:16] + "…", verified}})
	}
	var rows [][]string
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionSourcesReady, v1alpha1.ConditionSynced,
		v1alpha1.ConditionRolledOut, v1alpha1.ConditionVerified,
		// What Flux and Argo CD act on: True means a human is needed.
		health.ConditionStalled} {
		if c := meta.FindStatusCondition(cs.Status.Conditions, typ); c != nil {
			rows = append(rows, []string{c.Type, string(c.Status), c.Reason, c.Message})
		}
	}
	d.table([]string{"CONDITION", "STATUS", "REASON", "MESSAGE"}, rows)
	return nil
}

// showEvents prints the events of certsync's objects since the given time.
func (d *demo) showEvents(ctx context.Context, since time.Time) error {
	var list eventsv1.EventList
	if err := d.c.List(ctx, &list, client.InNamespace(mailNS)); err != nil {
		return err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].EventTime.Before(&list.Items[j].EventTime) })
	var rows [][]string
	for _, e := range list.Items {
		if e.EventTime.Time.Before(since) || (e.Regarding.Kind != "CertSync" && e.Regarding.Kind != "SecretSync") {
			continue
		}
		rows = append(rows, []string{e.EventTime.Format("15:04:05.000"), e.Type, e.Reason, e.Regarding.Kind + "/" + e.Regarding.Name, e.Note})
	}
	d.say("kubectl events -n %s:", mailNS)
	d.table([]string{"TIME", "TYPE", "REASON", "OBJECT", "NOTE"}, rows)
	return nil
}

// podGone reports whether the pod no longer exists or is terminating.
func (d *demo) podGone(ctx context.Context, name string) bool {
	var p corev1.Pod
	err := d.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: name}, &p)
	return apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil)
}

func (d *demo) waitPodGone(ctx context.Context, name string) error {
	return wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return d.podGone(ctx, name), nil
	})
}
