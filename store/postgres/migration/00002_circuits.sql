-- Circuit breaker state, shared by every process on the database. Times are Unix microseconds
-- UTC, 0 when unset. version is the compare-and-set counter.

-- +goose Up
CREATE TABLE circuits (
	service       text PRIMARY KEY,
	state         text NOT NULL,
	failures      integer NOT NULL,
	failing_since bigint NOT NULL,
	opened_at     bigint NOT NULL,
	retry_at      bigint NOT NULL,
	probe_id      text NOT NULL,
	probe_until   bigint NOT NULL,
	version       bigint NOT NULL,
	updated_at    bigint NOT NULL
);

-- +goose Down
DROP TABLE circuits;
