-- Course sync (docs/sync.md): jobs and their runs. Times are Unix microseconds UTC.

-- +goose Up
CREATE TABLE sync_jobs (
	name       text PRIMARY KEY,
	config     text NOT NULL, -- the job as JSON (no secrets: the site and the service hold them)
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);

CREATE TABLE sync_runs (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job          text NOT NULL REFERENCES sync_jobs (name) ON DELETE CASCADE,
	kind         text NOT NULL,
	trigger_by   text NOT NULL,
	status       text NOT NULL,
	runner       text NOT NULL,
	expect       text NOT NULL,
	scheduled_at bigint,
	created_at   bigint NOT NULL,
	started_at   bigint,
	finished_at  bigint,
	progress     text NOT NULL, -- JSON
	counts       text NOT NULL, -- JSON
	plan         text,          -- JSON, lists cut at 2000 items
	errors       text,          -- JSON
	error_code   text NOT NULL,
	error        text NOT NULL,
	missing_csv  bytea
);
CREATE INDEX sync_runs_job ON sync_runs (job, id);
CREATE INDEX sync_runs_status ON sync_runs (status, id);

-- +goose Down
DROP TABLE sync_runs;
DROP TABLE sync_jobs;
