-- Moodle sites (docs/moodle.md) and named leases for singleton jobs. Times are Unix microseconds UTC.

-- +goose Up
CREATE TABLE sites (
	name       text PRIMARY KEY,
	url        text NOT NULL,
	prefix     text NOT NULL,
	tail       boolean NOT NULL,
	tail_from  text NOT NULL,
	db         text NOT NULL, -- password masked, for people reading the database; the real one is sealed
	secrets    bytea NOT NULL, -- sealed JSON: token, db, plugin_secret
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);

CREATE TABLE leases (
	name        text PRIMARY KEY,
	owner       text NOT NULL,
	leased_until bigint NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP TABLE sites;
