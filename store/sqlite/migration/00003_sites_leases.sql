-- Moodle sites (docs/moodle.md) and named leases for singleton jobs. Times are Unix microseconds UTC.

-- +goose Up
CREATE TABLE sites (
	name       TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	prefix     TEXT NOT NULL,
	tail       INTEGER NOT NULL,
	tail_from  TEXT NOT NULL,
	db         TEXT NOT NULL, -- password masked, for people reading the database; the real one is sealed
	secrets    BLOB NOT NULL, -- sealed JSON: token, db, plugin_secret
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE leases (
	name        TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	leased_until INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE leases;
DROP TABLE sites;
