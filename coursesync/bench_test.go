package coursesync

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
)

// BenchmarkSync_1000x30 plans and applies a source of 1,000 courses of 30 participants (28
// students and 2 teachers from a pool of 10,000 accounts, 100 of them missing) against the
// in-process Moodle, then runs the same source again. Per operation it reports the time of the
// plan, of the apply and of the second (no-op) run, the Web Service calls each made, and the
// heap the plan holds. B/op counts every allocation of the process, the fake Moodle's included.
//
//	go test -run '^$' -bench Sync_1000x30 -benchtime 3x ./coursesync/
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

		plan, p, a := planApply(b, f, courses)
		b.StopTimer()
		heap += heldMB(func() { plan.Close(); plan = nil })
		b.StartTimer()
		t3 := time.Now()
		c := f.ws.Calls()
		calls += float64(c.Total)
		writes += float64(c.Writes)
		f.ws.ResetCalls()
		rerun(b, f)
		noopD += time.Since(t3)
		noopCalls += float64(f.ws.Calls().Total)
		planD += p
		applyD += a
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

// BenchmarkSync_10000x40 runs a source of 10,000 courses × 40 participants (400,000, from
// 20,000 accounts of which 200 are missing) twice: the first run creates every course and
// enrolment, the second changes nothing. Moodle is moodletest; in the sub-benchmarks postgres
// and mysql the plan reads a Moodle-shaped database on a real server (loaded with the site's
// state before each run, with the same ids), in ws it reads the Web Services. It reports the
// time of each phase, the calls, the database reads, and the heap the plan holds.
//
//	MIH_TEST_POSTGRES_URL=… MIH_TEST_MYSQL_URL=… go test -run '^$' -bench Sync_10000x40 -benchtime 1x -timeout 60m ./coursesync/
func BenchmarkSync_10000x40(b *testing.B) {
	kinds := []string{"ws"}
	backends := dbBackends(b)
	for _, k := range []string{"postgres", "mysql"} {
		if backends[k] != "" {
			kinds = append(kinds, k)
		}
	}
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			const courses, per, pool, absent = 10000, 40, 20000, 200
			var m struct{ plan1, apply1, plan2, run2, load, calls1, writes1, calls2, writes2, heap1, heap2 float64 }
			for range b.N {
				b.StopTimer()
				f := newFixture(b, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend })
				var d *testDB
				if kind != "ws" {
					d = newTestDB(b, kind, backends[kind], "mdl_")
					f.setSiteDB(d.url)
				}
				src, _, _ := largeSource(f, courses, per, pool, absent)
				f.src.setJSON(b, src)
				if d != nil {
					d.load(b, f.ws)
				}
				f.ws.ResetCalls()
				b.StartTimer()

				plan, p, a := planApply(b, f, courses)
				b.StopTimer()
				m.heap1 += heldMB(func() { plan.Close(); plan = nil })
				c := f.ws.Calls()
				m.calls1 += float64(c.Total)
				m.writes1 += float64(c.Writes)
				f.ws.ResetCalls()
				t3 := time.Now()
				if d != nil {
					d.load(b, f.ws)
				}
				m.load += time.Since(t3).Seconds()
				b.StartTimer()

				t4 := time.Now()
				plan2, err := f.runner.Plan(f.ctx, f.job(), nil)
				if err != nil || plan2.Counts.Planned.Total() != 0 {
					b.Fatalf("second plan: %v %+v", err, plan2)
				}
				t5 := time.Now()
				b.StopTimer()
				m.heap2 += heldMB(func() { plan2.Close(); plan2 = nil })
				b.StartTimer()
				t6 := time.Now()
				rerun(b, f)
				t7 := time.Now()
				c = f.ws.Calls()
				m.calls2 += float64(c.Total)
				m.writes2 += float64(c.Writes)
				m.plan1 += p.Seconds()
				m.apply1 += a.Seconds()
				m.plan2 += t5.Sub(t4).Seconds()
				m.run2 += t7.Sub(t6).Seconds()
			}
			n := float64(b.N)
			b.ReportMetric(m.plan1/n, "plan1-s")
			b.ReportMetric(m.apply1/n, "apply1-s")
			b.ReportMetric(m.calls1/n, "calls1")
			b.ReportMetric(m.writes1/n, "writes1")
			b.ReportMetric(m.plan2/n, "plan2-s")
			b.ReportMetric(m.run2/n, "run2-s")
			b.ReportMetric(m.calls2/n/2, "calls2")
			b.ReportMetric(m.writes2/n, "writes2")
			b.ReportMetric(m.heap1/n, "plan1-heap-MB")
			b.ReportMetric(m.heap2/n, "plan2-heap-MB")
			b.ReportMetric(m.load/n, "dbload-s")
		})
	}
}

// planApply plans the fixture's job and applies the plan, which must create every one of the
// source's courses; it returns the plan, not closed yet, and how long each phase took.
func planApply(b *testing.B, f *fixture, courses int) (*Plan, time.Duration, time.Duration) {
	t0 := time.Now()
	plan, err := f.runner.Plan(f.ctx, f.job(), nil)
	if err != nil {
		b.Fatal(err)
	}
	t1 := time.Now()
	rep, err := f.runner.Apply(f.ctx, plan, nil)
	if err != nil || len(rep.Errors) > 0 || rep.Applied.Create != courses {
		b.Fatalf("apply: %v, %d errors, %+v", err, len(rep.Errors), rep.Applied)
	}
	return plan, t1.Sub(t0), time.Since(t1)
}

// rerun runs the job again, which must find nothing to change.
func rerun(b *testing.B, f *fixture) {
	run, err := f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerCLI})
	if err != nil || run.Status != mih.SyncSucceeded || run.Counts.Planned.Total() != 0 {
		b.Fatalf("second run: %v %+v", err, run)
	}
}

// heldMB is the heap that release frees: what the released value held.
func heldMB(release func()) float64 {
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	release()
	runtime.GC()
	runtime.ReadMemStats(&without)
	return float64(int64(with.HeapAlloc)-int64(without.HeapAlloc)) / (1 << 20)
}

// BenchmarkApply_WriteParallel enrols 200 courses × 40 participants (8,000 enrolments) in a
// Moodle that takes 50 ms per enrolment call beyond its work (latency that calls in flight
// share, like a Moodle with spare PHP workers and database connections), with write_parallel
// 1 and 4: how much several calls at once save when Moodle keeps up.
//
//	go test -run '^$' -bench Apply_WriteParallel -benchtime 1x ./coursesync/
func BenchmarkApply_WriteParallel(b *testing.B) {
	for _, par := range []int{1, 4} {
		b.Run(fmt.Sprintf("write_parallel=%d", par), func(b *testing.B) {
			var applyD time.Duration
			var calls float64
			for range b.N {
				b.StopTimer()
				f := newFixture(b, func(j *mih.SyncJob) { j.WriteParallel = par })
				src, _, _ := largeSource(f, 200, 40, 2000, 0)
				f.src.setJSON(b, src)
				plan, err := f.runner.Plan(f.ctx, f.job(), nil)
				if err != nil {
					b.Fatal(err)
				}
				f.ws.SetLatency(moodle.FuncEnrolUsers, 50*time.Millisecond)
				f.ws.ResetCalls()
				b.StartTimer()
				t0 := time.Now()
				rep, err := f.runner.Apply(f.ctx, plan, nil)
				if err != nil || len(rep.Errors) > 0 || rep.Applied.Enrol != 8000 {
					b.Fatalf("apply: %v %+v", err, rep.Applied)
				}
				applyD += time.Since(t0)
				calls += float64(f.ws.Calls().ByFunction[moodle.FuncEnrolUsers])
				plan.Close()
			}
			b.ReportMetric(applyD.Seconds()/float64(b.N), "apply-s")
			b.ReportMetric(calls/float64(b.N), "enrol-calls")
		})
	}
}
