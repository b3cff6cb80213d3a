-- The outbox (internal/telegram/outbox, docs/outbox.md): every Bot API call a
-- feature makes is a row here, written when it is enqueued, switched to
-- 'sending' before the call and to its outcome after it. A crash between the
-- two leaves 'sending', which is resolved and reported (never guessed): bulk
-- rows become 'unknown', live rows are sent again (at least once) and flagged
-- maybe_duplicate. Redis holds only the ordering index and the budgets.

-- +goose Up
CREATE TABLE outbox_messages (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id            bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    chat_id           bigint NOT NULL,
    thread_id         integer NOT NULL DEFAULT 0,
    method            text NOT NULL CHECK (method ~ '^[a-zA-Z]{1,64}$'),
    params            jsonb NOT NULL DEFAULT '{}',
    priority          smallint NOT NULL CHECK (priority BETWEEN 0 AND 3),
    kind              text NOT NULL DEFAULT '' CHECK (length(kind) <= 64),
    ref               text NOT NULL DEFAULT '' CHECK (length(ref) <= 256),
    idempotency_key   text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- seq orders messages of one destination and priority (from a Redis counter).
    seq               bigint NOT NULL,
    -- cost is how many messages the call counts against the chat's flood limit.
    cost              smallint NOT NULL DEFAULT 1,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unknown', 'blocked')),
    attempts          integer NOT NULL DEFAULT 0,
    -- throttled counts 429 answers; they are waits, not failures.
    throttled         integer NOT NULL DEFAULT 0,
    -- maybe_duplicate: a live message re-sent after an interrupted attempt.
    maybe_duplicate   boolean NOT NULL DEFAULT false,
    error_code        integer,
    error_description text,
    message_ids       bigint[] NOT NULL DEFAULT '{}',
    latency_ms        integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sending_at        timestamptz,
    finished_at       timestamptz,
    UNIQUE (tenant_id, bot_id, idempotency_key)
);
CREATE INDEX outbox_messages_tenant_time ON outbox_messages (tenant_id, created_at);
CREATE INDEX outbox_messages_created ON outbox_messages (created_at); -- pruning
CREATE INDEX outbox_messages_ref ON outbox_messages (tenant_id, kind, ref) WHERE ref <> '';
-- The sweeper's scan for rows Redis may have lost; small because finished rows leave it.
CREATE INDEX outbox_messages_open ON outbox_messages (created_at) WHERE status IN ('queued', 'sending');
ALTER TABLE outbox_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox_messages
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

-- The sweeper's safety net, across tenants: open rows older than p_before,
-- with only what is needed to put them back into the Redis index.
-- +goose StatementBegin
CREATE FUNCTION outbox_open_before(p_before timestamptz, p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid, bot_id bigint, chat_id bigint, method text, priority smallint, seq bigint, cost smallint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT m.id, m.tenant_id, m.bot_id, m.chat_id, m.method, m.priority, m.seq, m.cost
    FROM outbox_messages m
    WHERE m.status IN ('queued', 'sending') AND m.created_at < p_before
    ORDER BY m.created_at
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- Housekeeping: finished rows older than the retention are deleted.
-- +goose StatementBegin
CREATE FUNCTION outbox_prune(p_before timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH d AS (
        DELETE FROM outbox_messages
        WHERE status NOT IN ('queued', 'sending') AND created_at < p_before
        RETURNING 1
    )
    SELECT count(*) FROM d
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION outbox_prune(timestamptz);
DROP FUNCTION outbox_open_before(timestamptz, integer);
DROP TABLE outbox_messages;
