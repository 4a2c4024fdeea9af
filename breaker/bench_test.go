package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
)

// BenchmarkAllow measures what the breaker adds to every call: on a closed circuit (the hot path
// of every delivery, no database) and on an open one (the fail-fast refusal).
func BenchmarkAllow(b *testing.B) {
	st := openStore(b)
	svc := newService(b, st, "crm")
	c := &clock{t: time.Now().UTC()}
	br := breaker.New(st, breaker.Options{Now: c.Now})
	ctx := context.Background()

	b.Run("closed", func(b *testing.B) {
		for b.Loop() {
			rec, err := br.Allow(ctx, svc)
			if err != nil {
				b.Fatal(err)
			}
			rec(nil)
		}
	})
	for range svc.Circuit.FailureThreshold {
		rec, err := br.Allow(ctx, svc)
		if err != nil {
			b.Fatal(err)
		}
		rec(err500)
	}
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if _, err := br.Allow(ctx, svc); mih.ErrorCode(err) != mih.CodeCircuitOpen {
				b.Fatal(err)
			}
		}
	})
}
