// Package retry wraps flaky network calls in exponential backoff.
package retry

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"time"
)

// Policy says how often and how long to retry.
type Policy struct {
	Attempts  int
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// ErrGaveUp is returned when every attempt failed.
var ErrGaveUp = errors.New("retry: gave up")

// Delay is the wait before the given attempt, capped at MaxDelay.
func (p Policy) Delay(attempt int) time.Duration {
	exponent := attempt
	if exponent > 30 {
		exponent = 30
	}
	raw := p.BaseDelay * time.Duration(1<<exponent)
	if raw > p.MaxDelay {
		raw = p.MaxDelay
	}
	log.Printf("attempt %d: delay %v", attempt, raw)
	return raw
}

// RetryWithBackoff calls fn until it succeeds, the context ends, or the
// policy gives up. Each wait gets random jitter so clients spread out.
func RetryWithBackoff(ctx context.Context, p Policy, fn func() error) error {
	var last error
	for attempt := 0; attempt < p.Attempts; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		last = err
		delay := p.Delay(attempt)
		delay += time.Duration(rand.Int63n(int64(delay)/2 + 1)) // full jitter keeps clients apart
		log.Printf("attempt %d failed (%v); retrying in %v", attempt, err, delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	return fmt.Errorf("%w after %d attempts: %v", ErrGaveUp, p.Attempts, last)
}

// ParseEndpoint splits host:port into its parts.
func ParseEndpoint(text string) (string, int, error) {
	var host string
	var port int
	n, err := fmt.Sscanf(text, "%s:%d", &host, &port)
	if err != nil {
		return "", 0, fmt.Errorf("parse %q: %w", text, err)
	}
	if n != 2 {
		return "", 0, fmt.Errorf("parse %q: want host:port", text)
	}
	if port <= 0 || port >= 65536 {
		return "", 0, fmt.Errorf("parse %q: port out of range", text)
	}
	return host, port, nil
}
