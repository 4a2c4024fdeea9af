-- Every time is Unix microseconds UTC in an INTEGER column. Booleans are INTEGER 0/1.

-- +goose Up
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('config_version', '0');

CREATE TABLE services (
	name       TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	enabled    INTEGER NOT NULL,
	base_url   TEXT NOT NULL, -- password masked, for people reading the database; the real one is sealed
	settings   TEXT NOT NULL, -- JSON: timeouts, retries, backoff, max age, circuit
	secrets    BLOB NOT NULL, -- sealed JSON: base_url, auth, headers, signing_secret
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE rules (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL,
	event      TEXT NOT NULL,
	filter     TEXT NOT NULL,
	service    TEXT NOT NULL REFERENCES services (name),
	method     TEXT NOT NULL,
	endpoint   TEXT NOT NULL,
	template   TEXT NOT NULL,
	enrich     TEXT NOT NULL, -- JSON array
	active     INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX rules_service ON rules (service);

-- seq is the rowid: listings and cursors follow it, and every index below ends with it implicitly.
-- id, the source's event id, is the key ingest deduplicates on.
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT NOT NULL UNIQUE,
	site        TEXT NOT NULL,
	eventname   TEXT NOT NULL,
	userid      INTEGER NOT NULL,
	courseid    INTEGER NOT NULL,
	received_at INTEGER NOT NULL,
	data        TEXT NOT NULL -- the whole event as JSON
);
CREATE INDEX events_site ON events (site);
CREATE INDEX events_eventname ON events (eventname);
CREATE INDEX events_userid ON events (userid);
CREATE INDEX events_courseid ON events (courseid);
CREATE INDEX events_received_at ON events (received_at);

-- AUTOINCREMENT keeps ids of deleted deliveries from coming back: they are shown to people.
CREATE TABLE deliveries (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id        TEXT NOT NULL,    -- '' for asynchronous gateway calls
	rule_id         INTEGER NOT NULL, -- 0 for asynchronous gateway calls
	service         TEXT NOT NULL,
	state           TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'paused', 'dead', 'succeeded')),
	attempts        INTEGER NOT NULL,
	method          TEXT NOT NULL,
	endpoint        TEXT NOT NULL,
	headers         TEXT NOT NULL, -- JSON object, '' when none
	payload         TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	lease_owner     TEXT,
	lease_until     INTEGER,
	last_status     INTEGER NOT NULL,
	last_error      TEXT NOT NULL,
	dead_reason     TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	delivered_at    INTEGER
);
-- The claim walks this index oldest due first; it holds only deliveries that can be due.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_state ON deliveries (state);
CREATE INDEX deliveries_service ON deliveries (service, state);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
	id               INTEGER PRIMARY KEY,
	delivery_id      INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	started_at       INTEGER NOT NULL,
	latency_ms       REAL NOT NULL,
	status           INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	error_code       TEXT NOT NULL,
	error            TEXT NOT NULL,
	request_url      TEXT NOT NULL,
	request_headers  TEXT NOT NULL,
	response_headers TEXT NOT NULL,
	response_body    TEXT NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);

CREATE TABLE request_log (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	logged_at   INTEGER NOT NULL,
	service     TEXT NOT NULL,
	endpoint    TEXT NOT NULL,
	method      TEXT NOT NULL,
	status      INTEGER NOT NULL,
	latency_ms  REAL NOT NULL,
	attempts    INTEGER NOT NULL,
	success     INTEGER NOT NULL,
	error       TEXT NOT NULL,
	delivery_id INTEGER NOT NULL,
	source      TEXT NOT NULL
);
CREATE INDEX request_log_logged_at ON request_log (logged_at);
CREATE INDEX request_log_service ON request_log (service);

CREATE TABLE tokens (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	name         TEXT NOT NULL UNIQUE,
	hash         TEXT NOT NULL UNIQUE, -- SHA-256 of the token; the token itself is never stored
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER
);

-- +goose Down
DROP TABLE tokens;
DROP TABLE request_log;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE rules;
DROP TABLE services;
DROP TABLE meta;
