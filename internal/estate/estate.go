// Package estate turns CertSync and SecretSync objects into the on-call's
// view: one row per object, sorted by urgency, and what to do about a
// reason (from docs/runbooks.md). Pure: the plugin reads, this decides.
package estate

import (
	"fmt"
	"math"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

// Row is one object of the estate.
type Row struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	// Source is the source the target's content came from.
	Source   string     `json:"source,omitempty"`
	NotAfter *time.Time `json:"notAfter,omitempty"`
	// DaysLeft is whole days until NotAfter (negative once expired); nil
	// when no expiry is known.
	DaysLeft *int `json:"daysLeft,omitempty"`
	// Verified and Total are the pods serving the synced certificate and
	// the pods checked (CertSync only).
	Verified    int32 `json:"verified"`
	Total       int32 `json:"total"`
	Stale       int32 `json:"stale"`
	Unreachable int32 `json:"unreachable"`
	// Ready is the Ready condition's status and reason.
	Ready       string `json:"ready"`
	ReadyReason string `json:"readyReason,omitempty"`
	// Urgency orders rows: lower is more urgent (see Urgency).
	Urgency int `json:"urgency"`
}

// Urgency ranks, most urgent first.
const (
	UrgencyExpired = iota
	UrgencyNotReady
	UrgencyStale
	UrgencyExpiringSoon
	UrgencyFine
)

// FromCertSync builds a CertSync's row.
func FromCertSync(cs *v1alpha1.CertSync, now time.Time) Row {
	r := Row{Namespace: cs.Namespace, Name: cs.Name, Kind: "CertSync"}
	if c := cs.Status.Certificate; c != nil {
		r.Source = c.Source
		r.setExpiry(c.NotAfter, now)
	}
	if p := cs.Status.Pods; p != nil {
		r.Verified, r.Total, r.Stale, r.Unreachable = p.Verified, p.Total, p.Stale, p.Unreachable
	}
	r.setReady(cs.Status.Conditions)
	r.Urgency = Urgency(r, meta.IsStatusConditionTrue(cs.Status.Conditions, v1alpha1.ConditionExpiringSoon))
	return r
}

// FromSecretSync builds a SecretSync's row.
func FromSecretSync(ss *v1alpha1.SecretSync, now time.Time) Row {
	r := Row{Namespace: ss.Namespace, Name: ss.Name, Kind: "SecretSync"}
	if s := ss.Status.Secret; s != nil {
		r.Source = s.Source
		r.setExpiry(s.NotAfter, now)
	}
	r.setReady(ss.Status.Conditions)
	r.Urgency = Urgency(r, meta.IsStatusConditionTrue(ss.Status.Conditions, v1alpha1.ConditionExpiringSoon))
	return r
}

func (r *Row) setExpiry(na *metav1.Time, now time.Time) {
	if na == nil {
		return
	}
	t := na.Time.UTC()
	r.NotAfter = &t
	d := DaysLeft(t, now)
	r.DaysLeft = &d
}

func (r *Row) setReady(conds []metav1.Condition) {
	r.Ready = string(metav1.ConditionUnknown)
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady); c != nil {
		r.Ready, r.ReadyReason = string(c.Status), c.Reason
	}
}

// DaysLeft is the whole days from now to notAfter, rounded down, so a
// certificate with 23 hours left shows 0 and an expired one a negative number.
func DaysLeft(notAfter, now time.Time) int {
	return int(math.Floor(notAfter.Sub(now).Hours() / 24))
}

// Urgency ranks a row: expired, then not ready, then pods serving a stale
// certificate or not answering, then expiring soon, then the rest.
func Urgency(r Row, expiringSoon bool) int {
	switch {
	case r.DaysLeft != nil && r.NotAfter != nil && *r.DaysLeft < 0:
		return UrgencyExpired
	case r.Ready != string(metav1.ConditionTrue):
		return UrgencyNotReady
	case r.Stale > 0 || r.Unreachable > 0:
		return UrgencyStale
	case expiringSoon:
		return UrgencyExpiringSoon
	}
	return UrgencyFine
}

// Sort orders rows by urgency, then by days left (unknown last), then by
// namespace, kind and name.
func Sort(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Urgency != b.Urgency {
			return a.Urgency < b.Urgency
		}
		if (a.DaysLeft == nil) != (b.DaysLeft == nil) {
			return a.DaysLeft != nil
		}
		if a.DaysLeft != nil && *a.DaysLeft != *b.DaysLeft {
			return *a.DaysLeft < *b.DaysLeft
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
}

// Cells are the table columns of a row, after Header.
func (r Row) Cells(withNamespace bool) []string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	notAfter, days := "-", "-"
	if r.NotAfter != nil {
		notAfter = r.NotAfter.Format(time.RFC3339)
	}
	if r.DaysLeft != nil {
		days = fmt.Sprint(*r.DaysLeft)
	}
	verified, stale, unreachable := "-", "-", "-"
	if r.Kind == "CertSync" && r.Total > 0 {
		verified = fmt.Sprintf("%d/%d", r.Verified, r.Total)
		stale, unreachable = fmt.Sprint(r.Stale), fmt.Sprint(r.Unreachable)
	}
	ready := r.Ready
	if r.ReadyReason != "" {
		ready += " " + r.ReadyReason
	}
	cells := []string{r.Name, r.Kind, dash(r.Source), notAfter, days, verified, stale, unreachable, ready}
	if withNamespace {
		cells = append([]string{r.Namespace}, cells...)
	}
	return cells
}

// Header is the table header matching Cells.
func Header(withNamespace bool) []string {
	h := []string{"NAME", "KIND", "SOURCE", "NOT-AFTER", "DAYS", "VERIFIED", "STALE", "UNREACHABLE", "READY"}
	if withNamespace {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}
