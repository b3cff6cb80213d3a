-- Operator views across tenants. Operators see aggregates and bot health,
-- never conversations: these functions return only counts and identifiers.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION ops_usage(p_since timestamptz)
RETURNS TABLE (tenant_id uuid, tenant_name text, updates bigint, messages_sent bigint, messages_failed bigint, throttled bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.id, t.name,
           (SELECT count(*) FROM events e WHERE e.tenant_id = t.id AND e.type = 'message_received' AND e.occurred_at >= p_since),
           (SELECT count(*) FROM outbox_messages m WHERE m.tenant_id = t.id AND m.status = 'sent' AND m.created_at >= p_since),
           (SELECT count(*) FROM outbox_messages m WHERE m.tenant_id = t.id AND m.status IN ('failed', 'unknown') AND m.created_at >= p_since),
           (SELECT COALESCE(sum(m.throttled), 0) FROM outbox_messages m WHERE m.tenant_id = t.id AND m.created_at >= p_since)
    FROM tenants t
    ORDER BY t.name
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION ops_bots()
RETURNS TABLE (bot_id bigint, tenant_id uuid, tenant_name text, username text, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT b.id, b.tenant_id, t.name, b.username, b.status
    FROM bots b JOIN tenants t ON t.id = b.tenant_id
    ORDER BY t.name, b.username
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ops_bots();
DROP FUNCTION ops_usage(timestamptz);
