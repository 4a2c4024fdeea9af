-- Inbound endpoints and their rules: messages from external systems turned into Moodle Web
-- Service calls. Times are Unix microseconds UTC.

-- +goose Up
CREATE TABLE inbound_endpoints (
	name        TEXT PRIMARY KEY,
	description TEXT NOT NULL,
	tolerance_s REAL NOT NULL,
	active      INTEGER NOT NULL,
	secrets     BLOB NOT NULL, -- sealed JSON: signing secrets, token
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

CREATE TABLE inbound_rules (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	endpoint   TEXT NOT NULL REFERENCES inbound_endpoints (name) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	filter     TEXT NOT NULL,
	site       TEXT NOT NULL,
	function   TEXT NOT NULL,
	template   TEXT NOT NULL,
	active     INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX inbound_rules_endpoint ON inbound_rules (endpoint);

-- +goose Down
DROP TABLE inbound_rules;
DROP TABLE inbound_endpoints;
