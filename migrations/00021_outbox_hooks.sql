-- Durable result hooks (internal/telegram/outbox, docs/outbox.md): when a call
-- of a kind with a result hook finishes, the Result is stored on the row in
-- the same UPDATE as the outcome and handed to an asynq task "outbox:hook".
-- The task clears it when the hooks succeeded; the sweeper re-enqueues rows
-- whose hook is still pending after a grace period (a crash between the
-- outcome and the enqueue, or a task given up by the queue).

-- +goose Up
ALTER TABLE outbox_messages
    -- hook_result: the Result awaiting its hooks (NULL: none pending).
    ADD COLUMN hook_result   jsonb,
    -- hook_attempts: failed hook runs, for the back-off and the give-up.
    ADD COLUMN hook_attempts integer NOT NULL DEFAULT 0;
-- The sweeper's scan; small because rows leave it once their hooks ran.
CREATE INDEX outbox_messages_hook_pending ON outbox_messages (finished_at) WHERE hook_result IS NOT NULL;

-- Across tenants: rows whose hooks are still pending p_grace_seconds after
-- the outcome, with only what the hook task needs.
-- +goose StatementBegin
CREATE FUNCTION outbox_hooks_pending(p_grace_seconds double precision, p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid, hook_result jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT m.id, m.tenant_id, m.hook_result
    FROM outbox_messages m
    WHERE m.hook_result IS NOT NULL
      AND m.finished_at < now() - p_grace_seconds * interval '1 second'
    ORDER BY m.finished_at
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION outbox_hooks_pending(double precision, integer);
DROP INDEX outbox_messages_hook_pending;
ALTER TABLE outbox_messages DROP COLUMN hook_attempts, DROP COLUMN hook_result;
