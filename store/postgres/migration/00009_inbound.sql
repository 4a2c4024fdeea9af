-- Inbound endpoints and their rules: messages from external systems turned into Moodle Web
-- Service calls. Times are Unix microseconds UTC.

-- +goose Up
CREATE TABLE inbound_endpoints (
	name        text PRIMARY KEY,
	description text NOT NULL,
	tolerance_s double precision NOT NULL,
	active      boolean NOT NULL,
	secrets     bytea NOT NULL, -- sealed JSON: signing secrets, token
	created_at  bigint NOT NULL,
	updated_at  bigint NOT NULL
);

CREATE TABLE inbound_rules (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	endpoint   text NOT NULL REFERENCES inbound_endpoints (name) ON DELETE CASCADE,
	name       text NOT NULL,
	filter     text NOT NULL,
	site       text NOT NULL,
	function   text NOT NULL,
	template   text NOT NULL,
	active     boolean NOT NULL,
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);
CREATE INDEX inbound_rules_endpoint ON inbound_rules (endpoint);

-- +goose Down
DROP TABLE inbound_rules;
DROP TABLE inbound_endpoints;
