package delivery

// Wakeup tells the delivery workers that there is work to claim now rather than at their next
// poll. It is made before everything that may signal it (ingest, the breaker resuming paused
// deliveries at start-up, replays) and handed to the worker, so a signal can never reach a worker
// that does not exist yet: it waits in the channel until the worker runs. The zero value is not
// usable; a nil *Wakeup ignores signals.
type Wakeup struct{ c chan struct{} }

// NewWakeup returns a Wakeup that holds one pending signal.
func NewWakeup() *Wakeup { return &Wakeup{c: make(chan struct{}, 1)} }

// Notify records a pending signal. It never blocks; signals sent while one is pending merge.
func (w *Wakeup) Notify() {
	if w == nil {
		return
	}
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// C is the channel a worker waits on.
func (w *Wakeup) C() <-chan struct{} { return w.c }
