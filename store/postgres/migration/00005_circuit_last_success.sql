-- When the service last answered (a success or a 4xx), so that the ledger can tell a delivery
-- that fails alone from one that fails because the service is down. Unix microseconds UTC, 0
-- when never.

-- +goose Up
ALTER TABLE circuits ADD COLUMN last_success_at bigint NOT NULL DEFAULT 0;
-- The breaker's probe is the paused delivery of a service whose last try is oldest.
CREATE INDEX deliveries_paused ON deliveries (service, next_attempt_at, id) WHERE state = 'paused';

-- +goose Down
DROP INDEX deliveries_paused;
ALTER TABLE circuits DROP COLUMN last_success_at;
