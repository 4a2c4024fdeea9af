package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// batch is the size of one ingest call and of one claim, as the queue runs them.
const batch = 100

// backlog is how many deliveries wait in ClaimComplete.
const backlog = 20000

// Bench measures the hot paths of a store, on the store open returns:
//
//   - CreateEvents: one call ingests 100 events with one delivery each (events/s);
//   - CreateEventsParallel: the same from 8 goroutines per CPU, as concurrent ingest requests;
//   - ClaimComplete: claim 100 due deliveries out of a backlog of 20,000, complete them with an
//     attempt and a log entry each (deliveries/s);
//   - Pipeline: ingest 100 events, then claim and complete their deliveries (events/s end to end
//     on the store side).
func Bench(b *testing.B, open func(b *testing.B) mih.Store) {
	b.Run("CreateEvents", func(b *testing.B) {
		s := open(b)
		var seq int
		for b.Loop() {
			ingestBatch(b, s, &seq)
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("CreateEventsParallel", func(b *testing.B) {
		s := open(b)
		var seq atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n := int(seq.Add(1)) * batch
				ingestBatch(b, s, &n)
			}
		})
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("ClaimComplete", func(b *testing.B) {
		s := open(b)
		// A standing backlog, as after an outage: claims must not slow down with it.
		for range backlog / 1000 {
			addDue(b, s, 1000)
		}
		for b.Loop() {
			b.StopTimer()
			addDue(b, s, batch)
			b.StartTimer()
			claimComplete(b, s)
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deliveries/s")
	})
	b.Run("Pipeline", func(b *testing.B) {
		s := open(b)
		var seq int
		for b.Loop() {
			ingestBatch(b, s, &seq)
			claimComplete(b, s)
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	})
}

// ingestBatch ingests the next batch of events, numbered from *seq on.
func ingestBatch(b *testing.B, s mih.Store, seq *int) {
	items := make([]mih.IngestItem, batch)
	for i := range items {
		*seq++
		e := newEvent(fmt.Sprintf("bench:%d", *seq), *seq)
		d := newDelivery("crm", time.Time{})
		d.RuleID, d.IdempotencyKey = 1, ""
		items[i] = mih.IngestItem{Event: e, Deliveries: []*mih.Delivery{d}}
	}
	res, err := s.CreateEvents(b.Context(), items)
	if err != nil {
		b.Fatal(err)
	}
	if res.Accepted != batch {
		b.Fatalf("accepted %d of %d", res.Accepted, batch)
	}
}

// addDue adds n deliveries due now.
func addDue(b *testing.B, s mih.Store, n int) {
	ds := make([]*mih.Delivery, n)
	for i := range ds {
		ds[i] = newDelivery("crm", time.Time{})
	}
	if err := s.CreateDeliveries(b.Context(), ds); err != nil {
		b.Fatal(err)
	}
}

// claimComplete claims a batch of due deliveries and completes each as a success.
func claimComplete(b *testing.B, s mih.Store) {
	now := time.Now()
	ds, err := s.ClaimDeliveries(b.Context(), mih.ClaimParams{Owner: "bench", Limit: batch, Lease: time.Minute, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	if len(ds) != batch {
		b.Fatalf("claimed %d of %d", len(ds), batch)
	}
	rs := make([]mih.DeliveryResult, len(ds))
	for i, d := range ds {
		rs[i] = mih.DeliveryResult{
			ID: d.ID, State: mih.DeliverySucceeded, CountAttempt: true, LastStatus: 200, Now: now,
			Attempt: &mih.Attempt{StartedAt: now, LatencyMS: 3.2, Status: 200, Outcome: mih.OutcomeSuccess,
				RequestURL: "https://api.example.com/v1/users", ResponseBody: `{"ok":true}`},
			Log: &mih.LogEntry{Time: now, Service: d.Service, Endpoint: d.Endpoint, Method: d.Method, Status: 200,
				LatencyMS: 3.2, Attempts: 1, Success: true},
		}
	}
	n, err := s.CompleteDeliveries(b.Context(), "bench", rs)
	if err != nil {
		b.Fatal(err)
	}
	if n != len(rs) {
		b.Fatalf("completed %d of %d", n, len(rs))
	}
}
