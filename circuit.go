package mih

import (
	"context"
	"time"
)

// Circuit is the shared state of one service's circuit breaker (docs/operations.md, Circuit
// breakers). The row in the store is the authority: every process sharing the store reads it, and
// every change of state is a compare-and-set on Version, so that exactly one process opens a
// circuit, takes the half-open probe or closes it.
//
// A service without a stored circuit is closed with no failures.
type Circuit struct {
	Service string `json:"service"`
	// State is CircuitClosed, CircuitOpen or CircuitHalfOpen.
	State string `json:"state"`
	// Failures counts consecutive retryable failures while closed; FailingSince is when the first
	// of them came (zero when Failures is 0). The count restarts when a failure comes later than
	// the service's window after FailingSince.
	Failures     int       `json:"failures"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	// OpenedAt is when the circuit opened, the start of the outage: a failed probe reopens the
	// circuit without moving it, so that the wait between probes can grow with the outage.
	// RetryAt is when the next probe may go.
	OpenedAt time.Time `json:"opened_at,omitzero"`
	RetryAt  time.Time `json:"retry_at,omitzero"`
	// ProbeID names the half-open probe in flight; ProbeUntil is when its claim lapses, so that a
	// process that died while probing does not hold the circuit half-open for ever.
	ProbeID    string    `json:"-"`
	ProbeUntil time.Time `json:"probe_until,omitzero"`
	// LastSuccessAt is when the service last answered (a success or a 4xx), as recorded by any
	// process: to within a few seconds, since a closed circuit's successes are written at most
	// every breaker.SuccessEvery. Zero when never recorded.
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	// Version is raised by every write; SwapCircuit compares it.
	Version   int64     `json:"-"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// CircuitStore keeps circuit states.
type CircuitStore interface {
	// FindCircuits returns every stored circuit, ordered by service.
	FindCircuits(ctx context.Context) ([]*Circuit, error)
	// FindCircuit returns one service's circuit: CodeNotFound when none is stored (it is closed).
	FindCircuit(ctx context.Context, service string) (*Circuit, error)
	// SwapCircuit writes c when the stored version still equals c.Version (0: no row stored yet)
	// and raises c.Version. It reports false, writing nothing, when another writer came first.
	SwapCircuit(ctx context.Context, c *Circuit) (bool, error)
}
