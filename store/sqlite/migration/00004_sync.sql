-- Course sync (docs/sync.md): jobs and their runs. Times are Unix microseconds UTC.

-- +goose Up
CREATE TABLE sync_jobs (
	name       TEXT PRIMARY KEY,
	config     TEXT NOT NULL, -- the job as JSON (no secrets: the site and the service hold them)
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- AUTOINCREMENT keeps ids of pruned runs from coming back: they are shown to people.
CREATE TABLE sync_runs (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	job          TEXT NOT NULL REFERENCES sync_jobs (name) ON DELETE CASCADE,
	kind         TEXT NOT NULL,
	trigger_by   TEXT NOT NULL,
	status       TEXT NOT NULL,
	runner       TEXT NOT NULL,
	expect       TEXT NOT NULL,
	scheduled_at INTEGER,
	created_at   INTEGER NOT NULL,
	started_at   INTEGER,
	finished_at  INTEGER,
	progress     TEXT NOT NULL, -- JSON
	counts       TEXT NOT NULL, -- JSON
	plan         TEXT,          -- JSON, lists cut at 2000 items
	errors       TEXT,          -- JSON
	error_code   TEXT NOT NULL,
	error        TEXT NOT NULL,
	missing_csv  BLOB
);
CREATE INDEX sync_runs_job ON sync_runs (job, id);
CREATE INDEX sync_runs_status ON sync_runs (status, id);

-- +goose Down
DROP TABLE sync_runs;
DROP TABLE sync_jobs;
