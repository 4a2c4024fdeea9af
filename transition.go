package mih

import "slices"

// Transition is a named change of a delivery's state. Every change the hub makes to a delivery is
// one of these, and the store applies each as a guarded update: the row moves only while its
// state is one of From (and, for the worker's outcomes, while the worker still holds its lease),
// so that a stale worker or a racing replay cannot move a delivery out of a state it must not
// leave. delivery.Next decides which of the worker's outcomes a round ends in.
type Transition struct {
	// Name is how logs and errors call it.
	Name string
	// From lists the states the delivery may be in for the transition to apply.
	From []DeliveryState
	// To is the state it ends in; empty for Resume, whose target depends on the attempts made
	// (pending when none, retrying otherwise).
	To DeliveryState
}

// The transitions. Succeed, RetryAt, Kill and Pause are the outcomes of a worker's round on a
// delivery it claimed, so they leave only the states a claim takes.
var (
	// Succeed: the service accepted the delivery.
	Succeed = Transition{Name: "succeed", From: claimable, To: DeliverySucceeded}
	// RetryAt: a retryable failure with attempts left; due again at next_attempt_at.
	RetryAt = Transition{Name: "retry", From: claimable, To: DeliveryRetrying}
	// Kill: a final failure, or the last attempt used up; dead with a reason.
	Kill = Transition{Name: "kill", From: claimable, To: DeliveryDead}
	// Pause: its service is disabled or its circuit open; it waits without using attempts.
	Pause = Transition{Name: "pause", From: claimable, To: DeliveryPaused}
	// Resume: its service is enabled again or its circuit closed (or it is the half-open probe).
	Resume = Transition{Name: "resume", From: []DeliveryState{DeliveryPaused}}
	// Replay: an administrator sends a dead delivery again with a fresh attempt budget.
	Replay = Transition{Name: "replay", From: []DeliveryState{DeliveryDead}, To: DeliveryPending}
	// Expire: a waiting delivery gives up (older than its service's max_age_h, or its service
	// was deleted); dead with a reason.
	Expire = Transition{Name: "expire", From: waiting, To: DeliveryDead}
)

var (
	claimable = []DeliveryState{DeliveryPending, DeliveryRetrying}
	waiting   = []DeliveryState{DeliveryPending, DeliveryRetrying, DeliveryPaused}
)

// Transitions lists every transition.
func Transitions() []Transition {
	return []Transition{Succeed, RetryAt, Kill, Pause, Resume, Replay, Expire}
}

// Allows reports whether the transition may leave state s.
func (t Transition) Allows(s DeliveryState) bool { return slices.Contains(t.From, s) }

// ClaimableStates are the states a worker claims deliveries in: due deliveries that wait for an
// attempt.
func ClaimableStates() []DeliveryState { return slices.Clone(claimable) }

// OutcomeTransition is the transition a worker's result in state s applies: Succeed, RetryAt,
// Kill or Pause. ok is false for a state no round can end in.
func OutcomeTransition(s DeliveryState) (t Transition, ok bool) {
	switch s {
	case DeliverySucceeded:
		return Succeed, true
	case DeliveryRetrying:
		return RetryAt, true
	case DeliveryDead:
		return Kill, true
	case DeliveryPaused:
		return Pause, true
	}
	return Transition{}, false
}
