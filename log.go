package mih

import "time"

// LogEntry is one call to a service: an attempt of a delivery or a synchronous gateway call.
type LogEntry struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	Service    string    `json:"service"`
	Endpoint   string    `json:"endpoint"`
	Method     string    `json:"method"`
	Status     int       `json:"status"`
	LatencyMS  float64   `json:"latency_ms"`
	Attempts   int       `json:"attempts"`
	Success    bool      `json:"success"`
	Error      string    `json:"error,omitempty"`
	DeliveryID int64     `json:"delivery_id,omitempty"`
	Source     string    `json:"source"` // "delivery", "gateway" or "sync"
}

// LogFilter selects log entries, newest first.
type LogFilter struct {
	Service string
	Success *bool
	Since   time.Time
	Limit   int
	Cursor  string
}
