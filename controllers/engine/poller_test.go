package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/internal/sources"
)

// script is a fetch that returns, call by call, the given outcomes.
type script struct {
	calls    int
	outcomes []outcome
}

type outcome struct {
	value string
	err   error
}

func (s *script) fetch(context.Context, *sources.HTTPSFetcher, string) (any, string, error) {
	o := s.outcomes[min(s.calls, len(s.outcomes)-1)]
	s.calls++
	return o.value, o.value, o.err
}

// TestPollerSchedule: the poller owns when a source is fetched: once per
// refresh interval while it succeeds, at once when its configuration
// changes, after a jittered doubling backoff while it fails; an outcome's
// ChangedAt moves only when the outcome does.
func TestPollerSchedule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	key := PollKey{Object: types.NamespacedName{Namespace: "mail", Name: "mail"}, Source: "pki"}
	cfg := sources.HTTPSConfig{URL: "https://pki.example/mail.pem"}
	down := &sources.Error{Reason: "Unavailable", Message: "503", Transient: true}
	s := &script{outcomes: []outcome{{value: "a"}, {value: "a"}, {value: "b"}, {err: down}, {err: down}, {value: "b"}}}
	p := &Poller{Jitter: func() float64 { return 0.5 }} // no jitter: 0.8 + 0.4*0.5 = 1
	poll := func(at time.Duration, c sources.HTTPSConfig) Poll {
		return p.Poll(context.Background(), key, c, t0.Add(at), time.Minute, s.fetch)
	}
	steps := []struct {
		at        time.Duration
		cfg       sources.HTTPSConfig
		calls     int
		value     any
		failed    bool
		changedAt time.Duration
		next      time.Duration
	}{
		{at: 0, calls: 1, value: "a", changedAt: 0, next: time.Minute},
		{at: 30 * time.Second, calls: 1, value: "a", changedAt: 0, next: time.Minute},                                                                                    // fresh: no request
		{at: time.Minute, calls: 2, value: "a", changedAt: 0, next: 2 * time.Minute},                                                                                     // due, same body
		{at: 90 * time.Second, cfg: sources.HTTPSConfig{URL: "https://pki.example/new.pem"}, calls: 3, value: "b", changedAt: 90 * time.Second, next: 150 * time.Second}, // config changed: at once
		{at: 150 * time.Second, calls: 4, failed: true, changedAt: 150 * time.Second, next: 155 * time.Second},                                                           // 5 s backoff
		{at: 155 * time.Second, calls: 5, failed: true, changedAt: 150 * time.Second, next: 165 * time.Second},                                                           // doubled, same outcome
		{at: 165 * time.Second, calls: 6, value: "b", changedAt: 165 * time.Second, next: 225 * time.Second},                                                             // recovered
	}
	for i, st := range steps {
		c := cfg
		if st.cfg.URL != "" {
			c = st.cfg
			cfg = st.cfg
		}
		got := poll(st.at, c)
		if s.calls != st.calls {
			t.Fatalf("step %d: %d fetches, want %d", i, s.calls, st.calls)
		}
		if (got.Err != nil) != st.failed {
			t.Fatalf("step %d: err %v, want failed=%v", i, got.Err, st.failed)
		}
		if !st.failed && got.Value != st.value {
			t.Errorf("step %d: value %v, want %v", i, got.Value, st.value)
		}
		if want := t0.Add(st.changedAt); !got.ChangedAt.Equal(want) {
			t.Errorf("step %d: changedAt %s, want %s", i, got.ChangedAt, want)
		}
		if want := t0.Add(st.next); !got.Next.Equal(want) {
			t.Errorf("step %d: next %s, want %s", i, got.Next, want)
		}
		var se *sources.Error
		if errors.As(got.Err, &se) && se.Transient {
			t.Errorf("step %d: a failure the poller schedules must not also be retried by the workqueue", i)
		}
	}
}

// TestPollerForgets: Retain drops the sources no longer named (their next
// poll fetches again), and a fetch cut short by shutdown is not kept.
func TestPollerForgets(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	obj := types.NamespacedName{Namespace: "mail", Name: "mail"}
	s := &script{outcomes: []outcome{{value: "a"}}}
	p := &Poller{}
	for _, src := range []string{"one", "two"} {
		p.Poll(context.Background(), PollKey{Object: obj, Source: src}, sources.HTTPSConfig{}, t0, time.Minute, s.fetch)
	}
	p.Poll(context.Background(), PollKey{Object: types.NamespacedName{Namespace: "web", Name: "mail"}, Source: "one"}, sources.HTTPSConfig{}, t0, time.Minute, s.fetch)
	if p.Sources() != 3 {
		t.Fatalf("%d sources held, want 3", p.Sources())
	}
	p.Retain(obj, map[string]bool{"two": true})
	if p.Sources() != 2 {
		t.Fatalf("after Retain: %d sources held, want 2", p.Sources())
	}
	p.Poll(context.Background(), PollKey{Object: obj, Source: "one"}, sources.HTTPSConfig{}, t0, time.Minute, s.fetch)
	if s.calls != 4 {
		t.Errorf("a forgotten source is fetched again: %d fetches, want 4", s.calls)
	}
	p.Retain(obj, nil)
	if p.Sources() != 1 {
		t.Fatalf("after Retain(nil): %d sources held, want 1 (another object's)", p.Sources())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := p.Poll(ctx, PollKey{Object: obj, Source: "one"}, sources.HTTPSConfig{}, t0, time.Minute, s.fetch)
	if got.Err == nil || p.Sources() != 1 {
		t.Errorf("a fetch cut short: err %v, %d sources held; want an error and nothing kept", got.Err, p.Sources())
	}
}
