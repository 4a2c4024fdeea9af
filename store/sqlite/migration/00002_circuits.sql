-- Circuit breaker state, shared by every process on the database. Times are Unix microseconds
-- UTC, 0 when unset. version is the compare-and-set counter.

-- +goose Up
CREATE TABLE circuits (
	service       TEXT PRIMARY KEY,
	state         TEXT NOT NULL,
	failures      INTEGER NOT NULL,
	failing_since INTEGER NOT NULL,
	opened_at     INTEGER NOT NULL,
	retry_at      INTEGER NOT NULL,
	probe_id      TEXT NOT NULL,
	probe_until   INTEGER NOT NULL,
	version       INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE circuits;
