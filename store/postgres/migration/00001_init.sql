-- Every time is Unix microseconds UTC in a bigint column, as on SQLite, so that the shared store
-- compares and returns them the same way on both.

-- +goose Up
CREATE TABLE meta (
	name  text PRIMARY KEY,
	value text NOT NULL
);
INSERT INTO meta (name, value) VALUES ('config_version', '0');

CREATE TABLE services (
	name       text PRIMARY KEY,
	type       text NOT NULL,
	enabled    boolean NOT NULL,
	base_url   text NOT NULL, -- password masked, for people reading the database; the real one is sealed
	settings   text NOT NULL, -- JSON: timeouts, retries, backoff, max age, circuit
	secrets    bytea NOT NULL, -- sealed JSON: base_url, auth, headers, signing_secret
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);

CREATE TABLE rules (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name       text NOT NULL,
	event      text NOT NULL,
	filter     text NOT NULL,
	service    text NOT NULL REFERENCES services (name),
	method     text NOT NULL,
	endpoint   text NOT NULL,
	template   text NOT NULL,
	enrich     text NOT NULL, -- JSON array
	active     boolean NOT NULL,
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);
CREATE INDEX rules_service ON rules (service);

-- id, the source's event id, is the key ingest deduplicates on; seq orders listings and cursors.
CREATE TABLE events (
	id          text PRIMARY KEY,
	seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	site        text NOT NULL,
	eventname   text NOT NULL,
	userid      bigint NOT NULL,
	courseid    bigint NOT NULL,
	received_at bigint NOT NULL,
	data        text NOT NULL -- the whole event as JSON, byte for byte
);
CREATE INDEX events_site ON events (site, seq);
CREATE INDEX events_eventname ON events (eventname, seq);
CREATE INDEX events_userid ON events (userid, seq);
CREATE INDEX events_courseid ON events (courseid, seq);
CREATE INDEX events_received_at ON events (received_at);

-- Payloads and headers are text, not jsonb: they are sent byte for byte as rendered.
CREATE TABLE deliveries (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id        text NOT NULL,   -- '' for asynchronous gateway calls
	rule_id         bigint NOT NULL, -- 0 for asynchronous gateway calls
	service         text NOT NULL,
	state           text NOT NULL CHECK (state IN ('pending', 'retrying', 'paused', 'dead', 'succeeded')),
	attempts        integer NOT NULL,
	method          text NOT NULL,
	endpoint        text NOT NULL,
	headers         text NOT NULL, -- JSON object, '' when none
	payload         text NOT NULL,
	idempotency_key text NOT NULL,
	next_attempt_at bigint NOT NULL,
	lease_owner     text,
	lease_until     bigint,
	last_status     integer NOT NULL,
	last_error      text NOT NULL,
	dead_reason     text NOT NULL,
	created_at      bigint NOT NULL,
	updated_at      bigint NOT NULL,
	delivered_at    bigint
) WITH (
	-- Room on each page lets a claim, which changes only lease columns, update in place (HOT) and
	-- leave no index entry behind; frequent vacuum and analyze keep the queue's indexes free of the
	-- dead entries every completed delivery leaves, and the planner's estimates current.
	fillfactor = 80,
	autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_analyze_scale_factor = 0.02
);
-- The claim walks this index oldest due first; it holds only deliveries that can be due. A claim
-- changes no indexed column, so PostgreSQL can update the row in place (HOT).
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_state ON deliveries (state, id);
CREATE INDEX deliveries_service ON deliveries (service, state);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	delivery_id      bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	started_at       bigint NOT NULL,
	latency_ms       double precision NOT NULL,
	status           integer NOT NULL,
	outcome          text NOT NULL,
	error_code       text NOT NULL,
	error            text NOT NULL,
	request_url      text NOT NULL,
	request_headers  text NOT NULL,
	response_headers text NOT NULL,
	response_body    text NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);

CREATE TABLE request_log (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	logged_at   bigint NOT NULL,
	service     text NOT NULL,
	endpoint    text NOT NULL,
	method      text NOT NULL,
	status      integer NOT NULL,
	latency_ms  double precision NOT NULL,
	attempts    integer NOT NULL,
	success     boolean NOT NULL,
	error       text NOT NULL,
	delivery_id bigint NOT NULL,
	source      text NOT NULL
);
CREATE INDEX request_log_logged_at ON request_log (logged_at);
CREATE INDEX request_log_service ON request_log (service, id);

CREATE TABLE tokens (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name         text NOT NULL UNIQUE,
	hash         text NOT NULL UNIQUE, -- SHA-256 of the token; the token itself is never stored
	created_at   bigint NOT NULL,
	last_used_at bigint
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
