package main

import (
	"runtime/debug"
	"strings"
)

// defaultGCPercent is the garbage collector's target for `mih serve` when GOGC is not set: the
// heap may grow to three times what is live between collections instead of twice. The hub's live
// heap is small (the ledger is in the database), so collections came so often that they took
// about a sixth of its CPU per delivered event; at 200 the hub with 100,000 deliveries waiting
// still peaks well under 100 MB (docs/benchmarks.md). GOGC in the environment wins.
const defaultGCPercent = 200

// tuneGC applies defaultGCPercent unless environ sets GOGC.
func tuneGC(environ []string) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			return
		}
	}
	debug.SetGCPercent(defaultGCPercent)
}
