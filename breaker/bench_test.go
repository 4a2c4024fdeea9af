package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/gateway"
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
			d := br.Allow(ctx, svc)
			if d.Verdict != gateway.Allowed {
				b.Fatal(d.Refusal)
			}
			d.Record(nil)
		}
	})
	for range svc.Circuit.FailureThreshold {
		br.Allow(ctx, svc).Record(err500)
	}
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if d := br.Allow(ctx, svc); mih.ErrorCode(d.Refusal) != mih.CodeCircuitOpen {
				b.Fatal(d.Verdict)
			}
		}
	})
}
