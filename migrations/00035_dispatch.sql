-- Dispatch (internal/dispatch, docs/dispatch.md, seed 002): executors who
-- may take jobs, the Telegram user <-> CRM user links, one-time codes that
-- bind an executors' chat, job cards posted there from CRM deals, and the
-- log of every client-phone reveal. RLS on all of them.

-- +goose Up
-- An executor is a Telegram user who registered with the bot (/start
-- dreg...); an admin approves them unless the tenant approves automatically.
CREATE TABLE dispatch_executors (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    tg_user_id  bigint NOT NULL,
    contact_id  uuid REFERENCES contacts (id) ON DELETE SET NULL,
    name        text NOT NULL DEFAULT '',
    username    text NOT NULL DEFAULT '',
    skills      text[] NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'blocked')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, tg_user_id)
);

-- Telegram user <-> CRM user: an executor's CRM account (the deal's new
-- responsible user) and a manager's Telegram (who is told a job was taken).
CREATE TABLE crm_user_links (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    tg_user_id  bigint NOT NULL,
    crm_user_id text NOT NULL CHECK (length(crm_user_id) BETWEEN 1 AND 100),
    name        text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, tg_user_id),
    UNIQUE (tenant_id, crm_user_id)
);

CREATE TABLE dispatch_bind_codes (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code_hash    bytea NOT NULL UNIQUE,
    created_by   uuid,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    used_chat_id bigint,
    created_at   timestamptz NOT NULL
);

-- One job per CRM deal. status: open (card shown with buttons), taken
-- (one winner, decided by one conditional UPDATE — invariant 7), removed
-- (deal cancelled or deleted). writeback tracks the CRM update after a take:
-- none, pending, updated (responsible set, note not yet), done, failed.
CREATE TABLE dispatch_jobs (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector_id        uuid NOT NULL,
    deal_id             text NOT NULL,
    bot_id              bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    chat_id             bigint NOT NULL,
    message_id          bigint,
    status              text NOT NULL CHECK (status IN ('open', 'taken', 'removed')),
    card                jsonb NOT NULL DEFAULT '{}',
    skills              text[] NOT NULL DEFAULT '{}',
    client_name         text NOT NULL DEFAULT '',
    client_phone        text NOT NULL DEFAULT '',
    manager_crm_user_id text NOT NULL DEFAULT '',
    options             jsonb NOT NULL DEFAULT '{}',
    taken_by_tg_user_id bigint,
    taken_by_name       text NOT NULL DEFAULT '',
    taken_by_username   text NOT NULL DEFAULT '',
    taken_at            timestamptz,
    -- generation counts (re)openings, so a write-back of an earlier take
    -- is never applied after a withdrawal.
    generation          integer NOT NULL DEFAULT 1,
    writeback           text NOT NULL DEFAULT 'none' CHECK (writeback IN ('none', 'pending', 'updated', 'done', 'failed')),
    writeback_attempts  integer NOT NULL DEFAULT 0,
    writeback_error     text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (tenant_id, connector_id, deal_id)
);
CREATE INDEX dispatch_jobs_list ON dispatch_jobs (tenant_id, created_at DESC);

-- Every client-phone reveal: who, which job, how (dm: straight to the
-- private chat; link: after starting the bot from the button's link).
CREATE TABLE dispatch_reveals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id      uuid NOT NULL REFERENCES dispatch_jobs (id) ON DELETE CASCADE,
    tg_user_id  bigint NOT NULL,
    name        text NOT NULL DEFAULT '',
    via         text NOT NULL CHECK (via IN ('dm', 'link')),
    at          timestamptz NOT NULL
);
CREATE INDEX dispatch_reveals_list ON dispatch_reveals (tenant_id, at DESC);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dispatch_executors', 'crm_user_links', 'dispatch_bind_codes', 'dispatch_jobs', 'dispatch_reveals'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- The write-back sweeper looks across tenants for takes whose write-back
-- task was never queued (a crash between the commit and the enqueue).
-- +goose StatementBegin
CREATE FUNCTION dispatch_stalled_writebacks(p_before timestamptz)
RETURNS TABLE (tenant_id uuid, job_id uuid, generation integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT j.tenant_id, j.id, j.generation FROM dispatch_jobs j
    WHERE j.status = 'taken' AND j.writeback IN ('pending', 'updated') AND j.updated_at < p_before
    LIMIT 500
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION dispatch_stalled_writebacks(timestamptz);
DROP TABLE dispatch_reveals, dispatch_jobs, dispatch_bind_codes, crm_user_links, dispatch_executors;
