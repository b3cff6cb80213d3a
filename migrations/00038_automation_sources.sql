-- +goose Up
-- What started an enrollment or posted a job, so that an action retried
-- after it committed (the worker died before the action was marked ok)
-- finds its own earlier work instead of doing it again: a finished
-- enrollment is no longer "active", so the active-only index let a retry
-- enrol the contact anew and send every step twice.
ALTER TABLE sequence_enrollments ADD COLUMN source_run_id uuid, ADD COLUMN source_idx integer;
CREATE UNIQUE INDEX sequence_enrollments_source ON sequence_enrollments (tenant_id, source_run_id, source_idx)
    WHERE source_run_id IS NOT NULL;
-- The sources (rule run actions: auto:<run>:<idx>) of the job's latest
-- posts (the last 31); a repeated post from one of them changes nothing.
ALTER TABLE dispatch_jobs ADD COLUMN post_sources text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE dispatch_jobs DROP COLUMN post_sources;
DROP INDEX sequence_enrollments_source;
ALTER TABLE sequence_enrollments DROP COLUMN source_idx, DROP COLUMN source_run_id;
