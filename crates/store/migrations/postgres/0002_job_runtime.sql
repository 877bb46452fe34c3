-- Job runtime (PostgreSQL; lockstep with sqlite/0002_job_runtime.sql).
-- started_at/finished_at record when the last attempt ran (scheduling
-- accuracy = started_at - run_at); a running job holds one slot of its
-- vertical in vertical_slots, taken and given back in the same transaction
-- as its status change, so the count can never drift.
ALTER TABLE jobs ADD COLUMN started_at BIGINT;
ALTER TABLE jobs ADD COLUMN finished_at BIGINT;
-- Ready jobs only: done and dead jobs pile up but never slow a claim.
DROP INDEX jobs_ready;
CREATE INDEX jobs_queued ON jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_kind ON jobs (kind, status, created_at DESC, id DESC);

CREATE TABLE vertical_slots (
    vertical  TEXT PRIMARY KEY,
    running   BIGINT NOT NULL DEFAULT 0 CHECK (running >= 0)
);

-- Contact completeness is scored after ingestion without decrypting PII.
ALTER TABLE leads ADD COLUMN has_phone BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE leads ADD COLUMN has_email BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE leads ADD COLUMN rejection_reason TEXT;
