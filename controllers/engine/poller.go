package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/internal/sources"
)

// DefaultRefreshInterval is an HTTPS source's refreshInterval default.
const DefaultRefreshInterval = 15 * time.Minute

// MinRefreshInterval is the shortest refreshInterval honoured.
const MinRefreshInterval = 10 * time.Second

// RefreshInterval is an HTTPS source's refreshInterval, or the default
// when it is unset or too short.
func RefreshInterval(d *metav1.Duration) time.Duration {
	if d != nil && d.Duration >= MinRefreshInterval {
		return d.Duration
	}
	return DefaultRefreshInterval
}

// PollKey names one HTTPS source of one object. The kinds have a Poller
// each, so a CertSync and a SecretSync of the same name never share state.
type PollKey struct {
	Object types.NamespacedName
	Source string
}

func (k PollKey) String() string { return k.Object.String() + "/" + k.Source }

// Poll is an HTTPS source's current outcome.
type Poll struct {
	// Value is what the decode function made of the last good body.
	Value any
	// Err is why the last fetch failed; nil when it succeeded.
	Err error
	// ChangedAt is when the current outcome was first seen.
	ChangedAt time.Time
	// Next is when the source is due again.
	Next time.Time
	// InProgress: there is no outcome yet, the first fetch is running.
	InProgress bool
}

// Poller fetches the HTTPS sources of one kind. It is the single owner of
// each source's state: the schedule (refreshInterval, or a jittered
// exponential backoff while failing), the last outcome, and the fetcher's
// conditional-request cache; forgetting a source forgets all three.
type Poller struct {
	// Fetcher makes the requests; nil: one of the Poller's own.
	Fetcher *sources.HTTPSFetcher
	// Jitter returns a number in [0, 1) for the backoff; nil: random.
	Jitter func() float64
	// Background, when set, runs the fetches off the reconcile workers
	// (see Background): a fetch that takes longer than the reconcile's
	// wait leaves the last outcome in place (or, before the first one,
	// ReasonFetchInProgress) and wakes the object when done. Nil: fetches
	// run inside Poll.
	Background *Background

	mu     sync.Mutex
	states map[PollKey]pollState
}

type pollState struct {
	config   string // hash of the resolved configuration fetched with
	poll     Poll
	sum      string // hash of Value, to tell a changed outcome
	failures int
}

// FetchFunc fetches a source once through f with the cache key, and
// returns what was fetched, decoded, with a digest of it.
type FetchFunc func(ctx context.Context, f *sources.HTTPSFetcher, cacheKey string) (value any, digest string, err error)

// Poll returns the source's last outcome while it is fresh, and fetches it
// again when due or when its configuration (URL, format, credentials, CA,
// timeout) changed: a steady state costs one conditional request per
// refreshInterval. A fetch interrupted by shutdown is not remembered.
func (p *Poller) Poll(ctx context.Context, key PollKey, cfg sources.HTTPSConfig, now time.Time, refresh time.Duration, fetch FetchFunc) Poll {
	hash := configHash(cfg)
	p.mu.Lock()
	st := p.states[key]
	if p.Fetcher == nil {
		p.Fetcher = &sources.HTTPSFetcher{}
	}
	f := p.Fetcher
	p.mu.Unlock()
	if st.config == hash && now.Before(st.poll.Next) {
		return st.poll
	}
	var (
		value  any
		digest string
		err    error
	)
	if p.Background != nil {
		res, done := p.Background.Do(ctx, JobKey{Object: key.Object, Name: fetchJobPrefix + key.Source}, hash, func(ctx context.Context) any {
			var r fetched
			r.value, r.digest, r.err = fetch(ctx, f, key.String())
			r.canceled = ctx.Err() != nil
			return r
		})
		r, _ := res.(fetched)
		if !done || r.canceled {
			return inProgress(st, hash)
		}
		value, digest, err = r.value, r.digest, r.err
	} else {
		value, digest, err = fetch(ctx, f, key.String())
		if ctx.Err() != nil {
			return Poll{Err: ctx.Err(), Next: now}
		}
	}
	var se *sources.Error
	if errors.As(err, &se) {
		// Retries are scheduled here, with jitter, not by the workqueue.
		cp := *se
		cp.Transient = false
		err = &cp
	}
	if st.config != hash || errText(err) != errText(st.poll.Err) || digest != st.sum {
		st.poll.ChangedAt = now
	}
	st.config, st.sum, st.poll.Value, st.poll.Err = hash, digest, value, err
	if err != nil {
		st.failures++
		st.poll.Next = now.Add(sources.Backoff(st.failures, p.jitter()))
	} else {
		st.failures = 0
		st.poll.Next = now.Add(refresh)
	}
	p.mu.Lock()
	if p.states == nil {
		p.states = map[PollKey]pollState{}
	}
	p.states[key] = st
	p.mu.Unlock()
	return st.poll
}

// ReasonFetchInProgress: a source's first fetch (or its first with a
// changed configuration) has not finished; its end wakes the object.
const ReasonFetchInProgress = "FetchInProgress"

// fetchJobPrefix names a source's fetch among an object's background jobs.
const fetchJobPrefix = "fetch/"

// fetched is a background fetch's result.
type fetched struct {
	value    any
	digest   string
	err      error
	canceled bool
}

// inProgress is what a source shows while its fetch runs: the last outcome
// for the same configuration, which stays true until the fetch says
// otherwise, or the fact that the fetch is running.
func inProgress(st pollState, hash string) Poll {
	if st.config == hash && (st.poll.Value != nil || st.poll.Err != nil) {
		return st.poll
	}
	return Poll{InProgress: true, Err: &sources.Error{Reason: ReasonFetchInProgress,
		Message: "the fetch is in progress: the endpoint has not answered yet (the source's timeout bounds it)"}}
}

// Expire makes a source due now, bypassing its refreshInterval or backoff
// (a `kubectl certsync renew`); its outcome and cache are kept, so an
// unchanged body is still a cheap conditional request.
func (p *Poller) Expire(key PollKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.states[key]; ok {
		st.poll.Next = time.Time{}
		p.states[key] = st
	}
}

func (p *Poller) jitter() float64 {
	if p.Jitter != nil {
		return p.Jitter()
	}
	return rand.Float64()
}

// Retain forgets the sources of obj not named in keep (nil: all of them),
// with their cached bodies: private keys among them must not outlive the
// source in memory.
func (p *Poller) Retain(obj types.NamespacedName, keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.states {
		if k.Object == obj && !keep[k.Source] {
			delete(p.states, k)
			if p.Fetcher != nil {
				p.Fetcher.Forget(k.String())
			}
		}
	}
	if p.Background != nil {
		p.Background.Forget(obj, func(name string) bool {
			src, ok := strings.CutPrefix(name, fetchJobPrefix)
			return !ok || keep[src]
		})
	}
}

// SourcesOf returns how many sources of obj the Poller holds state for.
func (p *Poller) SourcesOf(obj types.NamespacedName) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k := range p.states {
		if k.Object == obj {
			n++
		}
	}
	return n
}

// Sources returns how many sources the Poller holds state for.
func (p *Poller) Sources() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.states)
}

// configHash identifies a resolved configuration (credentials included, so
// a rotated token or CA is used at once) without keeping it in clear.
func configHash(cfg sources.HTTPSConfig) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%#v", cfg))
	return hex.EncodeToString(sum[:])
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
