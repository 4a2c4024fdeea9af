package mih

import (
	"encoding/json"
	"time"
)

// DeliveryState is where a delivery stands. States change only through the named transitions
// (transition.go), which the store applies as guarded updates.
type DeliveryState string

// Delivery states.
const (
	// DeliveryPending waits for its first attempt (or for its first attempt after a replay).
	DeliveryPending DeliveryState = "pending"
	// DeliveryRetrying failed at least once with a retryable error and waits for next_attempt_at.
	DeliveryRetrying DeliveryState = "retrying"
	// DeliveryPaused waits without using attempts: its service is disabled or its circuit open.
	DeliveryPaused DeliveryState = "paused"
	// DeliveryDead is in the dead-letter queue: a permanent failure, attempts used up, or expired.
	// Dead deliveries are never pruned automatically.
	DeliveryDead DeliveryState = "dead"
	// DeliverySucceeded was accepted by the service.
	DeliverySucceeded DeliveryState = "succeeded"
)

// DeliveryStates lists every state.
func DeliveryStates() []DeliveryState {
	return []DeliveryState{DeliveryPending, DeliveryRetrying, DeliveryPaused, DeliveryDead, DeliverySucceeded}
}

// Valid reports whether s is a known state.
func (s DeliveryState) Valid() bool {
	switch s {
	case DeliveryPending, DeliveryRetrying, DeliveryPaused, DeliveryDead, DeliverySucceeded:
		return true
	}
	return false
}

// Reasons a delivery is dead.
const (
	ReasonFailed         = "failed"          // a non-retryable response
	ReasonExhausted      = "exhausted"       // every attempt used up
	ReasonExpired        = "expired"         // waited longer than the service's max_age_h
	ReasonPayload        = "payload"         // the payload could not be built
	ReasonServiceDeleted = "service_deleted" // its service was deleted while it waited
	ReasonRuleDeleted    = "rule_deleted"    // its rule was deleted before it could be rendered
	// ReasonSkipped: the rule's format does not wrap this event (an xAPI rule and an event that
	// records no learning); nothing was sent. LastError says why.
	ReasonSkipped = "skipped"
)

// Delivery is one request to one service for one event and rule (or one asynchronous gateway
// call). Payload is the request body as rendered; Method and Endpoint are final (placeholders
// already substituted). A delivery whose rule needs enrichment is stored without a payload and
// rendered by the worker (Unrendered).
type Delivery struct {
	ID             int64             `json:"id"`
	EventID        string            `json:"event_id,omitempty"`
	RuleID         int64             `json:"rule_id,omitempty"`
	Service        string            `json:"service"`
	State          DeliveryState     `json:"state"`
	Attempts       int               `json:"attempts"`
	Method         string            `json:"method"`
	Endpoint       string            `json:"endpoint"`
	Headers        map[string]string `json:"headers,omitempty"`
	Payload        json.RawMessage   `json:"payload"`
	IdempotencyKey string            `json:"idempotency_key"`
	NextAttemptAt  time.Time         `json:"next_attempt_at"`
	LastStatus     int               `json:"last_status,omitempty"`
	LastError      string            `json:"last_error,omitempty"`
	DeadReason     string            `json:"dead_reason,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	DeliveredAt    *time.Time        `json:"delivered_at,omitempty"`
	// Lease, on a delivery given to CreateEvents, stores it already leased: ingest hands it to
	// this process's worker, which then need not claim it back. Only written, never read back.
	Lease *Lease `json:"-"`
}

// Lease is who holds a delivery, and until when.
type Lease struct {
	Owner string
	Until time.Time
}

// IdempotencyKey is the key a delivery carries as Idempotency-Key (and webhook-id when signed).
// Replays keep it, so a receiver can drop a duplicate.
func IdempotencyKey(eventID string, ruleID int64) string {
	return eventID + ":" + itoa(ruleID)
}

// Attempt is one try of a delivery, with what was sent and what came back.
type Attempt struct {
	ID              int64             `json:"id"`
	DeliveryID      int64             `json:"delivery_id"`
	StartedAt       time.Time         `json:"started_at"`
	LatencyMS       float64           `json:"latency_ms"`
	Status          int               `json:"status"`
	Outcome         string            `json:"outcome"`
	ErrorCode       string            `json:"error_code,omitempty"`
	Error           string            `json:"error,omitempty"`
	RequestURL      string            `json:"request_url"`
	RequestHeaders  map[string]string `json:"request_headers,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ResponseBody    string            `json:"response_body,omitempty"`
}

// Attempt outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeRetry   = "retry"
	OutcomeDead    = "dead"
	OutcomePaused  = "paused"
)

// DeliveryFilter selects deliveries. Zero fields do not filter.
type DeliveryFilter struct {
	IDs     []int64
	State   DeliveryState
	Service string
	RuleID  int64
	EventID string
	Limit   int
	Cursor  string
}

// ClaimParams asks for up to Limit due deliveries, leased to Owner until Now+Lease.
type ClaimParams struct {
	Owner string
	Limit int
	Lease time.Duration
	Now   time.Time
}

// Unrendered reports whether the worker still has to render the delivery's request, after
// looking up the enrichments its rule needs.
func (d *Delivery) Unrendered() bool { return len(d.Payload) == 0 && d.RuleID != 0 && d.EventID != "" }

// DeliveryResult is how a claimed delivery ended this round. The store applies it only while
// the caller still holds the lease, and writes the attempt and the log entry with it.
type DeliveryResult struct {
	ID            int64
	State         DeliveryState
	NextAttemptAt time.Time
	// CountAttempt is false for a delivery put back without a try (paused by an open circuit).
	CountAttempt bool
	LastStatus   int
	LastError    string
	DeadReason   string
	// Payload and Headers, when not nil, replace the stored ones (an empty map clears them), and
	// Endpoint and Method when not empty: the request rendered late, after enrichment.
	Payload  json.RawMessage
	Headers  map[string]string
	Method   string
	Endpoint string
	Attempt  *Attempt
	Log      *LogEntry
	Now      time.Time
}

// Rendered is a delivery's request as its rule builds it late, in the delivery worker.
type Rendered struct {
	Method   string
	Endpoint string
	Headers  map[string]string
	Payload  json.RawMessage
}

// DeliveryCount is the number of deliveries of one service in one state.
type DeliveryCount struct {
	Service string
	State   DeliveryState
	Count   int
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
