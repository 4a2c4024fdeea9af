package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	tuneGC([]string{"HOME=/root", "GOGC=50"})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set the target changed to %d", got)
	}
	tuneGC([]string{"HOME=/root"})
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("without GOGC the target is %d, want %d", got, defaultGCPercent)
	}
}
