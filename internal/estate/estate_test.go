package estate

import (
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/egress"
)

var now = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func TestDaysLeft(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want int
	}{
		{23 * time.Hour, 0}, {24 * time.Hour, 1}, {-time.Minute, -1}, {-25 * time.Hour, -2}, {30*24*time.Hour + time.Hour, 30},
	}
	for _, tt := range tests {
		if got := DaysLeft(now.Add(tt.in), now); got != tt.want {
			t.Errorf("DaysLeft(now+%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func row(name string, days *int, ready string, stale int32) Row {
	r := Row{Namespace: "ns", Name: name, Kind: "CertSync", Ready: ready, Stale: stale, DaysLeft: days}
	if days != nil {
		na := now.Add(time.Duration(*days) * 24 * time.Hour)
		r.NotAfter = &na
	}
	return r
}

func days(d int) *int { return &d }

func TestUrgencyAndSort(t *testing.T) {
	rows := []Row{
		row("unknown-expiry", nil, "True", 0),
		row("fine-far", days(90), "True", 0),
		row("fine-near", days(45), "True", 0),
		row("soon", days(10), "True", 0),
		row("stale", days(60), "True", 2),
		row("notready", days(70), "False", 0),
		row("unknown-ready", days(70), "Unknown", 0),
		row("expired", days(-1), "True", 0),
	}
	for i := range rows {
		rows[i].Urgency = Urgency(rows[i], rows[i].Name == "soon")
	}
	Sort(rows)
	want := []string{"expired", "notready", "unknown-ready", "stale", "soon", "fine-near", "fine-far", "unknown-expiry"}
	for i, r := range rows {
		if r.Name != want[i] {
			t.Fatalf("position %d: %s, want %s (all: %v)", i, r.Name, want[i], rows)
		}
	}
}

func TestFromCertSyncWithoutStatus(t *testing.T) {
	r := FromCertSync(&v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "new"}}, now)
	if r.Ready != "Unknown" || r.DaysLeft != nil || r.Urgency != UrgencyNotReady {
		t.Errorf("new CertSync: %+v", r)
	}
	cells := r.Cells(false)
	if cells[2] != "-" || cells[3] != "-" || cells[5] != "-" {
		t.Errorf("cells of a new CertSync: %v", cells)
	}
}

func TestEveryNotReadyReasonHasAdvice(t *testing.T) {
	for _, reason := range []string{
		v1alpha1.ReasonNoValidSource, v1alpha1.ReasonSourcesDegraded, v1alpha1.ReasonTargetConflict, v1alpha1.ReasonDowngradeRefused,
		v1alpha1.ReasonSuspended, v1alpha1.ReasonTargetWriteError, v1alpha1.ReasonRollingOut, v1alpha1.ReasonRolloutStalled,
		v1alpha1.ReasonWorkloadNotFound, v1alpha1.ReasonStaleCertificate, v1alpha1.ReasonStaleAfterRestart,
		v1alpha1.ReasonPodsUnreachable, v1alpha1.ReasonNoEndpoints, v1alpha1.ReasonExpired,
		v1alpha1.ReasonInvalidSelector, v1alpha1.ReasonWaitingForRollout, v1alpha1.ReasonRollbackHeld,
		v1alpha1.ReasonTokenRequestFailed, v1alpha1.ReasonTokenEndpointUnreachable,
		consent.ReasonCredentialNotReleased, egress.ReasonEgressDenied,
		v1alpha1.ReasonRolloutPaced, v1alpha1.ReasonWaitingForPreviousRollout, v1alpha1.ReasonWaitingForRolloutSlot,
	} {
		if a, ok := AdviceFor(reason); !ok || len(a.Lines) == 0 || a.Runbook == "" {
			t.Errorf("%s: no advice", reason)
		}
	}
}

// Every runbook link points at a section of docs/runbooks.md.
func TestAdviceRunbookAnchorsExist(t *testing.T) {
	b, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "##") {
			a := strings.ToLower(strings.ReplaceAll(strings.Trim(h, " "), " ", "-"))
			a = strings.Map(func(r rune) rune {
				if r == '-' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
					return r
				}
				return -1
			}, a)
			anchors[a] = true
		}
	}
	for reason, a := range advice {
		_, anchor, _ := strings.Cut(a.Runbook, "#")
		if !anchors[anchor] {
			t.Errorf("%s: runbook anchor %q is not a section of docs/runbooks.md", reason, anchor)
		}
	}
}
