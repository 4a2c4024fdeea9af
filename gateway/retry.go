package gateway

import (
	"errors"
	"time"

	"github.com/mihhub/mih"
)

// Jitter is the spread applied to every backoff delay (±20 %), so that deliveries that failed
// together do not come back together.
const Jitter = 0.2

// RetryDelay is the wait before the next attempt after failed attempts (n ≥ 1) ended in err:
// svc.Backoff(n) with ±Jitter, rnd giving a number in [0, 1). A Retry-After the service sent
// (on 429/503) is honoured as a lower bound, itself bounded by max_backoff_s so that a server
// cannot park a delivery for days. Deliveries and synchronous calls share this one policy.
func RetryDelay(svc *mih.Service, n int, err error, rnd func() float64) time.Duration {
	d := time.Duration(float64(svc.Backoff(n)) * (1 + Jitter*(2*rnd()-1)))
	if se, ok := errors.AsType[*mih.SendError](err); ok && se.RetryAfter > 0 {
		ra := min(se.RetryAfter, time.Duration(svc.MaxBackoffS*float64(time.Second)))
		d = max(d, ra)
	}
	return max(d, 0)
}

// Retryable reports whether another attempt may succeed: a *mih.SendError that says so. Any
// other error is our own (or a Guard's) and is not retried by the gateway.
func Retryable(err error) bool {
	se, ok := errors.AsType[*mih.SendError](err)
	return ok && se.Retryable
}
