-- Automation (internal/automation, docs/automation.md): rules as data
-- (trigger -> conditions -> actions), one run per rule and event (the
-- event's key deduplicates), one row per action of a run (each run by its
-- own asynq task), message sequences with enrollments and per-step rows
-- (the state is recorded before the send, so a restart never sends twice).

-- +goose Up
CREATE TABLE automation_rules (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    enabled        boolean NOT NULL DEFAULT true,
    trigger_type   text NOT NULL,
    trigger        jsonb NOT NULL,
    conditions     jsonb NOT NULL DEFAULT '[]',
    actions        jsonb NOT NULL DEFAULT '[]',
    -- schedule rules: the last minute fired (cron in the tenant's zone).
    last_fired_at  timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX automation_rules_trigger ON automation_rules (tenant_id, trigger_type) WHERE enabled;

CREATE TABLE automation_runs (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id      uuid NOT NULL REFERENCES automation_rules (id) ON DELETE CASCADE,
    event_key    text NOT NULL,
    event        jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    UNIQUE (tenant_id, rule_id, event_key)
);
CREATE INDEX automation_runs_rule ON automation_runs (tenant_id, rule_id, created_at DESC);

-- status: pending (queued or retrying), ok, failed (gave up).
CREATE TABLE automation_action_runs (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    run_id      uuid NOT NULL REFERENCES automation_runs (id) ON DELETE CASCADE,
    idx         integer NOT NULL,
    type        text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    result      text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, run_id, idx)
);

-- Bot events (events table) already fed to the rules, per tenant.
CREATE TABLE automation_event_cursors (
    tenant_id     uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    last_event_id bigint NOT NULL DEFAULT 0
);

CREATE TABLE sequences (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    steps       jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- One active enrollment per sequence and contact. deal/pipeline/stage say
-- what started it: leaving that stage cancels it.
CREATE TABLE sequence_enrollments (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sequence_id   uuid NOT NULL REFERENCES sequences (id) ON DELETE CASCADE,
    contact_id    uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    connector_id  uuid,
    deal_id       text NOT NULL DEFAULT '',
    pipeline_id   text NOT NULL DEFAULT '',
    stage_id      text NOT NULL DEFAULT '',
    manager_tg_user_id bigint,
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'done', 'cancelled')),
    cancel_reason text NOT NULL DEFAULT '',
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz
);
CREATE UNIQUE INDEX sequence_enrollments_active ON sequence_enrollments (tenant_id, sequence_id, contact_id) WHERE status = 'active';
CREATE INDEX sequence_enrollments_deal ON sequence_enrollments (tenant_id, deal_id) WHERE status = 'active';

-- One row per step and recipient. state: scheduled, sent (recorded in the
-- same transaction that records the outbox message, before it is sent),
-- skipped (unsubscribed, unreachable, no chat), cancelled.
CREATE TABLE sequence_steps (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    enrollment_id uuid NOT NULL REFERENCES sequence_enrollments (id) ON DELETE CASCADE,
    idx           integer NOT NULL,
    recipient     text NOT NULL DEFAULT 'contact' CHECK (recipient IN ('contact', 'manager')),
    due_at        timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'scheduled' CHECK (state IN ('scheduled', 'sent', 'skipped', 'cancelled')),
    outbox_id     uuid,
    reason        text NOT NULL DEFAULT '',
    done_at       timestamptz,
    PRIMARY KEY (tenant_id, enrollment_id, idx, recipient)
);
CREATE INDEX sequence_steps_due ON sequence_steps (due_at) WHERE state = 'scheduled';

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['automation_rules', 'automation_runs', 'automation_action_runs', 'automation_event_cursors',
                             'sequences', 'sequence_enrollments', 'sequence_steps'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- The scheduler's scans look across tenants before they know one: these
-- return tenant ids only (DESIGN.md invariant 1).
-- +goose StatementBegin
CREATE FUNCTION sequence_due_tenants(p_now timestamptz) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT tenant_id FROM sequence_steps WHERE state = 'scheduled' AND due_at <= p_now
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION automation_polled_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT tenant_id FROM automation_rules WHERE enabled AND trigger_type IN ('schedule', 'bot.event')
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION automation_polled_tenants();
DROP FUNCTION sequence_due_tenants(timestamptz);
DROP TABLE sequence_steps, sequence_enrollments, sequences, automation_event_cursors, automation_action_runs, automation_runs, automation_rules;
