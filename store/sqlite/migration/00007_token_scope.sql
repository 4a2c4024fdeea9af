-- API tokens have a scope: admin, ingest or read. Tokens made before scopes keep what they
-- could do, everything.

-- +goose Up
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';

-- +goose Down
ALTER TABLE tokens DROP COLUMN scope;
