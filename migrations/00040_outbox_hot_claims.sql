-- The claim (queued → sending) is one of the two writes every call makes to
-- its outbox row. It changed the status, which the sweeper's partial index of
-- open rows had in its predicate, so PostgreSQL wrote a new entry into each
-- of the table's indexes for it. Keyed on finished_at IS NULL instead (true
-- exactly for queued and sending rows: every outcome but a retry sets
-- finished_at), the claim changes no indexed column and can be a HOT update,
-- in place on the row's page, when the page has room: the table now leaves a
-- quarter of each new page free for that. The outcome still touches indexed
-- columns (finished_at). docs/outbox.md, "Cost per call".

-- +goose Up
ALTER TABLE outbox_messages SET (fillfactor = 75);
DROP INDEX outbox_messages_open;
CREATE INDEX outbox_messages_open ON outbox_messages (created_at) WHERE finished_at IS NULL;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION outbox_open_before(p_before timestamptz, p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid, bot_id bigint, chat_id bigint, thread_id integer, method text, priority smallint, seq bigint, cost smallint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT m.id, m.tenant_id, m.bot_id, m.chat_id, m.thread_id, m.method, m.priority, m.seq, m.cost
    FROM outbox_messages m
    WHERE m.finished_at IS NULL AND m.status IN ('queued', 'sending') AND m.created_at < p_before
    ORDER BY m.created_at
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION outbox_open_before(p_before timestamptz, p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid, bot_id bigint, chat_id bigint, thread_id integer, method text, priority smallint, seq bigint, cost smallint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT m.id, m.tenant_id, m.bot_id, m.chat_id, m.thread_id, m.method, m.priority, m.seq, m.cost
    FROM outbox_messages m
    WHERE m.status IN ('queued', 'sending') AND m.created_at < p_before
    ORDER BY m.created_at
    LIMIT p_limit
$$;
-- +goose StatementEnd
DROP INDEX outbox_messages_open;
CREATE INDEX outbox_messages_open ON outbox_messages (created_at) WHERE status IN ('queued', 'sending');
ALTER TABLE outbox_messages RESET (fillfactor);
