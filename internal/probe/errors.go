package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// timeoutError reports that a probe's budget ran out, and in which phase:
// "timeout after 5s during TLS handshake". errors.Is(err,
// os.ErrDeadlineExceeded) holds for it, whatever layer noticed first.
type timeoutError struct {
	after time.Duration
	phase string
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("timeout after %s during %s", e.after, e.phase)
}

func (e *timeoutError) Unwrap() []error { return []error{os.ErrDeadlineExceeded, e.err} }

// Timeout makes the error look like a net.Error timeout to callers that test for it.
func (e *timeoutError) Timeout() bool { return true }

// explain turns a low-level failure into an error saying what happened and
// where, keeping the original in the chain for errors.Is/As.
func explain(ctx context.Context, err error, start time.Time, phase string, t Target) error {
	var pe *protocolError
	if errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		// err is only the artificial deadline that interrupted the read.
		return fmt.Errorf("probe cancelled during %s: %w", phase, context.Canceled)
	case ctx.Err() != nil || isTimeout(err):
		deadline, _ := ctx.Deadline()
		return &timeoutError{after: deadline.Sub(start).Round(time.Millisecond), phase: phase, err: err}
	case phase == phaseConnect:
		// "connect to 127.0.0.1:25: connection refused" rather than Go's
		// "dial tcp 127.0.0.1:25: connect: connection refused".
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return fmt.Errorf("connect to %s: %w", net.JoinHostPort(t.IP, fmt.Sprint(t.Endpoint.Port)), wrapped{errno.Error(), err})
		}
		return fmt.Errorf("connect: %w", err)
	}
	// Go's text of a failed read names the local port, which changes on
	// every try; status messages must not, or every re-check is a write.
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return fmt.Errorf("%s: %w", phase, wrapped{opErr.Err.Error(), err})
	}
	return fmt.Errorf("%s: %w", phase, err)
}

// wrapped shows a short text while keeping the full error for errors.Is/As.
type wrapped struct {
	text string
	err  error
}

func (w wrapped) Error() string { return w.text }
func (w wrapped) Unwrap() error { return w.err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
