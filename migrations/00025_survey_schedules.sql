-- Survey management and recurring surveys (internal/survey, docs/surveys.md):
-- a thank-you sticker per survey, archiving, recurring schedules (a monthly
-- NPS), scheduled runs unique per (survey, period), and the checkpoint of a
-- run that asks an audience in batches.

-- +goose Up
ALTER TABLE surveys
    -- thanks_sticker: a sticker file_id sent after the thanks text on completion.
    ADD COLUMN thanks_sticker text NOT NULL DEFAULT '',
    ADD COLUMN archived_at    timestamptz,
    ADD COLUMN updated_at     timestamptz;

ALTER TABLE survey_runs
    -- period names the schedule period a run is for (2026-12 for a monthly
    -- schedule); unique per survey, so two schedulers or a restart never
    -- start one period twice. NULL for runs started by a feature.
    ADD COLUMN period         text,
    -- audience: whom a run asks by itself, in batches (AudienceSpec); NULL
    -- for runs whose caller asks the contacts (CSAT, campaigns).
    ADD COLUMN audience       jsonb,
    -- ask_cursor is the audience checkpoint: the batch after it is next.
    ADD COLUMN ask_cursor     text NOT NULL DEFAULT '',
    ADD COLUMN ask_state      text NOT NULL DEFAULT 'none' CHECK (ask_state IN ('none', 'asking', 'done')),
    ADD COLUMN ask_touched_at timestamptz;
CREATE UNIQUE INDEX survey_runs_period ON survey_runs (tenant_id, survey_id, period) WHERE period IS NOT NULL;
CREATE INDEX survey_runs_survey ON survey_runs (tenant_id, survey_id, created_at);
-- The stall scan: runs still asking whose last batch is old.
CREATE INDEX survey_runs_asking ON survey_runs (ask_touched_at) WHERE ask_state = 'asking';
CREATE INDEX survey_asks_contact ON survey_asks (tenant_id, contact_id);
-- A contact's answers in a run (the export's rows, every answer's hook
-- payload): the primary key has question_id before contact_id, so without
-- this a big run is scanned once per contact.
CREATE INDEX survey_answers_contact ON survey_answers (tenant_id, run_id, contact_id);

-- One recurring schedule per survey: monthly on a day at a time of day, or
-- a cron spec, in the tenant's time zone; each period starts one run that
-- asks the audience (AudienceSpec) and closes when the next one starts (or
-- close_after_hours after it started, if sooner).
CREATE TABLE survey_schedules (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    survey_id         uuid NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    bot_id            bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('monthly', 'cron')),
    day               integer NOT NULL DEFAULT 1 CHECK (day BETWEEN 1 AND 31),
    at_time           text NOT NULL DEFAULT '',
    cron              text NOT NULL DEFAULT '',
    close_after_hours integer NOT NULL DEFAULT 0 CHECK (close_after_hours >= 0),
    enabled           boolean NOT NULL DEFAULT true,
    next_at           timestamptz,
    last_period       text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (survey_id)
);
CREATE INDEX survey_schedules_due ON survey_schedules (next_at) WHERE enabled;

-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE survey_schedules ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON survey_schedules USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
END $$;
-- +goose StatementEnd

-- The scheduler's scans across tenants return only ids; the work itself
-- runs in a tenant transaction.
-- +goose StatementBegin
CREATE FUNCTION survey_schedules_due(p_now timestamptz, p_limit integer)
RETURNS TABLE (tenant_id uuid, schedule_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT s.tenant_id, s.id FROM survey_schedules s
    WHERE s.enabled AND s.next_at <= p_now
    ORDER BY s.next_at
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION survey_runs_stalled(p_before timestamptz, p_limit integer)
RETURNS TABLE (tenant_id uuid, run_id uuid, ask_cursor text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT r.tenant_id, r.id, r.ask_cursor FROM survey_runs r
    WHERE r.ask_state = 'asking' AND r.ask_touched_at < p_before
    ORDER BY r.ask_touched_at
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION survey_runs_stalled(timestamptz, integer);
DROP FUNCTION survey_schedules_due(timestamptz, integer);
DROP TABLE survey_schedules;
DROP INDEX survey_answers_contact;
DROP INDEX survey_asks_contact;
DROP INDEX survey_runs_asking;
DROP INDEX survey_runs_survey;
DROP INDEX survey_runs_period;
ALTER TABLE survey_runs DROP COLUMN period, DROP COLUMN audience, DROP COLUMN ask_cursor, DROP COLUMN ask_state,
    DROP COLUMN ask_touched_at;
ALTER TABLE surveys DROP COLUMN thanks_sticker, DROP COLUMN archived_at, DROP COLUMN updated_at;
