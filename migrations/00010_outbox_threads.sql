-- The outbox orders messages per destination: a chat, or one forum topic of a
-- chat (internal/telegram/outbox, docs/outbox.md). The sweeper's safety net
-- re-indexes open rows into their destination's queue, so it needs the
-- thread too.

-- +goose Up
DROP FUNCTION outbox_open_before(timestamptz, integer);
-- +goose StatementBegin
CREATE FUNCTION outbox_open_before(p_before timestamptz, p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid, bot_id bigint, chat_id bigint, thread_id integer, method text, priority smallint, seq bigint, cost smallint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT m.id, m.tenant_id, m.bot_id, m.chat_id, m.thread_id, m.method, m.priority, m.seq, m.cost
    FROM outbox_messages m
    WHERE m.status IN ('queued', 'sending') AND m.created_at < p_before
    ORDER BY m.created_at
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION outbox_open_before(timestamptz, integer);
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
