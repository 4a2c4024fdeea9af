package coursesync

import (
	"runtime"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// BenchmarkSync_1000x30 plans and applies a source of 1,000 courses of 30 participants (28
// students and 2 teachers from a pool of 10,000 accounts, 100 of them missing) against the
// in-process Moodle, then runs the same source again. Per operation it reports the time of the
// plan, of the apply and of the second (no-op) run, the Web Service calls each made, and the
// heap the plan holds. B/op counts every allocation of the process, the fake Moodle's included.
//
//	go test -run '^$' -bench Sync_1000x30 -benchtime 3x ./sync/
func BenchmarkSync_1000x30(b *testing.B) {
	const courses, per, pool, absent = 1000, 30, 10000, 100
	b.ReportAllocs()
	var planD, applyD, noopD time.Duration
	var calls, writes, noopCalls, heap float64
	for range b.N {
		b.StopTimer()
		f := newFixture(b, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend })
		src, _, _ := largeSource(f, courses, per, pool, absent)
		f.src.setJSON(b, src)
		f.ws.ResetCalls()
		b.StartTimer()

		t0 := time.Now()
		plan, err := f.runner.Plan(f.ctx, f.job(), nil)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		t2 := time.Now()
		rep, err := f.runner.Apply(f.ctx, plan, nil)
		if err != nil || len(rep.Errors) > 0 || rep.Applied.Create != courses {
			b.Fatalf("apply: %v, %d errors, %+v", err, len(rep.Errors), rep.Applied)
		}
		t3 := time.Now()
		// What the plan holds: the heap with it, less the heap without it.
		b.StopTimer()
		var with, without runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&with)
		plan.Close()
		plan = nil
		runtime.GC()
		runtime.ReadMemStats(&without)
		heap += float64(int64(with.HeapAlloc)-int64(without.HeapAlloc)) / (1 << 20)
		b.StartTimer()
		t3b := time.Now()
		c := f.ws.Calls()
		calls += float64(c.Total)
		writes += float64(c.Writes)
		f.ws.ResetCalls()

		run, err := f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerCLI})
		if err != nil || run.Status != mih.SyncSucceeded || run.Counts.Planned.Total() != 0 {
			b.Fatalf("second run: %v %+v", err, run)
		}
		t4 := time.Now()
		noopCalls += float64(f.ws.Calls().Total)
		planD += t1.Sub(t0)
		applyD += t3.Sub(t2)
		noopD += t4.Sub(t3b)
	}
	n := float64(b.N)
	b.ReportMetric(float64(planD.Milliseconds())/n, "plan-ms")
	b.ReportMetric(float64(applyD.Milliseconds())/n, "apply-ms")
	b.ReportMetric(float64(noopD.Milliseconds())/n, "rerun-ms")
	b.ReportMetric(calls/n, "calls")
	b.ReportMetric(writes/n, "write-calls")
	b.ReportMetric(noopCalls/n, "rerun-calls")
	b.ReportMetric(heap/n, "plan-heap-MB")
}
