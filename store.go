package mih

import (
	"context"
	"time"
)

// Store is everything the hub keeps. store/sqlite and store/postgres implement it and pass the
// one contract suite in store/storetest; behaviour that suite does not test is not part of it.
//
// Every method returns *Error with CodeNotFound for a missing record and CodeConflict for a
// duplicate name; times are UTC. List methods return the next cursor ("" at the end), newest
// first, with Limit defaulting to 100 and capped at 1000.
type Store interface {
	ServiceStore
	RuleStore
	EventStore
	DeliveryStore
	LogStore
	TokenStore
	MetaStore
	CircuitStore
	SiteStore
	LeaseStore
	SyncStore
	InboundStore
	Close() error
}

// ServiceStore keeps the service registry. Secrets are encrypted at rest by the store and come
// back in clear from Find*: mask them (Service.Masked) before showing them to anyone.
type ServiceStore interface {
	FindServiceByName(ctx context.Context, name string) (*Service, error)
	FindServices(ctx context.Context) ([]*Service, error)
	CreateService(ctx context.Context, s *Service) error
	UpdateService(ctx context.Context, s *Service) error
	// DeleteService deletes the service with its rules, log entries and circuit, and moves its
	// waiting deliveries to the DLQ with ReasonServiceDeleted (dead ones stay replayable).
	DeleteService(ctx context.Context, name string) (ServiceDeletion, error)
}

// ServiceDeletion reports what went with a deleted service.
type ServiceDeletion struct {
	Rules      int `json:"rules"`
	Logs       int `json:"logs"`
	Deliveries int `json:"deliveries_dead"`
}

// RuleStore keeps the Event Bridge rules.
type RuleStore interface {
	FindRuleByID(ctx context.Context, id int64) (*Rule, error)
	FindRules(ctx context.Context, f RuleFilter) ([]*Rule, error)
	CreateRule(ctx context.Context, r *Rule) error
	UpdateRule(ctx context.Context, r *Rule) error
	DeleteRule(ctx context.Context, id int64) error
}

// EventStore keeps received events.
type EventStore interface {
	// CreateEvents writes every new event with its deliveries in one transaction, or nothing.
	// An event whose id is already stored is counted as a duplicate and its deliveries dropped.
	// The deliveries written get their IDs; a delivery with a Lease is stored leased to its owner.
	CreateEvents(ctx context.Context, items []IngestItem) (IngestResult, error)
	FindEventByID(ctx context.Context, id string) (*Event, error)
	FindEvents(ctx context.Context, f EventFilter) ([]*EventRecord, string, error)
	// PruneEvents deletes events received before the cut-off whose deliveries all succeeded;
	// events with a waiting or dead delivery stay. A pruned event's id may be ingested again.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}

// DeliveryStore is the delivery ledger and queue.
type DeliveryStore interface {
	FindDeliveryByID(ctx context.Context, id int64) (*Delivery, error)
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, string, error)
	FindAttempts(ctx context.Context, deliveryID int64) ([]*Attempt, error)
	CountDeliveries(ctx context.Context) ([]DeliveryCount, error)
	// CreateDeliveries writes deliveries that have no event (asynchronous gateway calls).
	CreateDeliveries(ctx context.Context, ds []*Delivery) error

	// ClaimDeliveries leases up to p.Limit pending or retrying deliveries whose next attempt is
	// due and whose lease (if any) has run out, oldest due first. A claim is exclusive: no two
	// callers hold the same delivery at once.
	ClaimDeliveries(ctx context.Context, p ClaimParams) ([]*Delivery, error)
	// CompleteDeliveries applies results in one transaction; a result whose lease owner is no
	// longer owner is skipped (another worker took the delivery over) and not counted.
	CompleteDeliveries(ctx context.Context, owner string, rs []DeliveryResult) (int, error)
	// CompleteAndClaim is CompleteDeliveries then ClaimDeliveries (for the same owner) in one
	// transaction: both happen or neither.
	CompleteAndClaim(ctx context.Context, owner string, rs []DeliveryResult, p ClaimParams) (int, []*Delivery, error)
	// ExtendLeases keeps in-flight deliveries leased while slow calls run.
	ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error
	// ReleaseDeliveries drops owner's leases so another worker may claim them at once.
	ReleaseDeliveries(ctx context.Context, owner string, ids []int64) error

	// PauseDeliveries moves a service's pending and retrying deliveries that are not leased to
	// paused; ResumeDeliveries moves up to limit (0: all) of its paused ones back, oldest first
	// (pending, or retrying when they were tried before), due at now so they go first.
	PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error)
	ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error)
	// ExpireDeliveries moves the service's waiting deliveries created before the cut-off to the
	// DLQ with ReasonExpired.
	ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error)

	// ReplayDeliveries moves the dead deliveries that f selects back to pending with a fresh
	// attempt budget, due at now. It keeps their idempotency keys and history.
	ReplayDeliveries(ctx context.Context, f DeliveryFilter, now time.Time) (int, error)
	// SetDeliveryPayload replaces a dead delivery's payload (a re-render before a replay).
	SetDeliveryPayload(ctx context.Context, id int64, method, endpoint string, payload []byte) error
	// DeleteDeliveries deletes what f selects, except deliveries under lease, with their attempts.
	DeleteDeliveries(ctx context.Context, f DeliveryFilter) (int, error)
	// PruneDeliveries deletes succeeded deliveries finished before the cut-off, and beyond the
	// newest keep ones. Dead deliveries are never pruned.
	PruneDeliveries(ctx context.Context, before time.Time, keep int) (int, error)
}

// LogStore keeps the request log.
type LogStore interface {
	CreateLogs(ctx context.Context, entries []*LogEntry) error
	FindLogs(ctx context.Context, f LogFilter) ([]*LogEntry, string, error)
	// PruneLogs deletes entries older than the cut-off and beyond the newest keep ones, without
	// counting rows.
	PruneLogs(ctx context.Context, before time.Time, keep int) (int, error)
	// ServiceStats summarises the log per service since the given time.
	ServiceStats(ctx context.Context, since time.Time) ([]ServiceStat, error)
}

// ServiceStat is one service's line in the dashboard.
type ServiceStat struct {
	Service      string     `json:"service"`
	Requests     int        `json:"requests"`
	Errors       int        `json:"errors"`
	AvgLatencyMS float64    `json:"avg_latency_ms"`
	LastUsed     *time.Time `json:"last_used,omitempty"`
}

// TokenStore keeps API tokens (hashed).
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token) error
	FindTokenByHash(ctx context.Context, hash string) (*Token, error)
	FindTokens(ctx context.Context) ([]*Token, error)
	DeleteToken(ctx context.Context, id int64) error
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// MetaStore keeps small named values of the hub itself (first-start markers, config version).
type MetaStore interface {
	// GetMeta returns CodeNotFound for an unknown key.
	GetMeta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
	// ConfigVersion rises whenever a service or rule changes, so that every process sharing the
	// store can tell its cached rules are stale.
	ConfigVersion(ctx context.Context) (int64, error)
}

// SecretBox encrypts secrets at rest. The stores take one; package secret provides it.
type SecretBox interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// Waker is told that there is work to do now rather than at the next poll: the delivery workers
// (delivery.Wakeup) after ingest or a replay, the maintainer after a service was enabled. Notify
// never blocks. A wake-up is a value made before whoever signals it, never a closure over a
// variable that may still be nil.
type Waker interface {
	Notify()
}
