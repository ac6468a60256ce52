package sources

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int
		jitter   float64
		want     time.Duration
	}{
		{0, 0.5, 5 * time.Second},
		{1, 0.5, 5 * time.Second},
		{2, 0.5, 10 * time.Second},
		{3, 0.5, 20 * time.Second},
		{7, 0.5, 320 * time.Second},
		{8, 0.5, 10 * time.Minute},
		{50, 0.5, 10 * time.Minute},
		{1, 0, 4 * time.Second},
		{50, 0.999999, 12*time.Minute - time.Millisecond},
	}
	for _, tt := range tests {
		got := Backoff(tt.failures, tt.jitter)
		if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tt.failures, tt.jitter, got, tt.want)
		}
	}
}
