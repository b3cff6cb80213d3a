-- Tenant settings beyond 00001: the template a tenant was applied from, its
-- structured settings (bot commands, support routing, free-form feature
-- settings) and the template's text layer; the slug look-up used by
-- `helpdesk tenant apply`; the operators' usage view.

-- +goose Up
ALTER TABLE tenants
    ADD COLUMN template      text  NOT NULL DEFAULT '',
    ADD COLUMN settings      jsonb NOT NULL DEFAULT '{}',
    -- lang -> key -> value: the template's texts, between the platform
    -- defaults and the tenant's own overrides (tenant_texts).
    ADD COLUMN text_defaults jsonb NOT NULL DEFAULT '{}';

-- The operators' usage counts scan events by tenant and time.
CREATE INDEX events_tenant_time ON events (tenant_id, occurred_at);

-- Apply is keyed by slug and runs before it knows the tenant: this returns
-- only the id of the tenant with that slug.
-- +goose StatementBegin
CREATE FUNCTION tenant_id_by_slug(p_slug text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT id FROM tenants WHERE slug = p_slug
$$;
-- +goose StatementEnd

-- Operators see every tenant with usage aggregates only: never a
-- conversation, contact or text. Team members live in the auth package's
-- table; it is found by name at call time so this function does not depend on
-- migration order (0 when no such table exists yet).
-- +goose StatementBegin
CREATE FUNCTION ops_tenant_usage()
RETURNS TABLE (id uuid, slug text, name text, status text, created_at timestamptz,
               members bigint, contacts bigint, bots bigint, events_24h bigint, events_30d bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    member_table text;
    members_expr text := '0::bigint';
BEGIN
    SELECT c.relname INTO member_table
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p') AND c.relname IN ('memberships', 'tenant_members', 'members')
    ORDER BY array_position(ARRAY['memberships', 'tenant_members', 'members']::text[], c.relname::text)
    LIMIT 1;
    IF member_table IS NOT NULL THEN
        members_expr := format('(SELECT count(*) FROM %I m WHERE m.tenant_id = t.id)', member_table);
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT t.id, COALESCE(t.slug, ''), t.name, t.status, t.created_at,
               %s,
               (SELECT count(*) FROM contacts c WHERE c.tenant_id = t.id AND c.erased_at IS NULL),
               (SELECT count(*) FROM bots b WHERE b.tenant_id = t.id),
               (SELECT count(*) FROM events e WHERE e.tenant_id = t.id AND e.occurred_at > now() - interval '24 hours'),
               (SELECT count(*) FROM events e WHERE e.tenant_id = t.id AND e.occurred_at > now() - interval '30 days')
        FROM tenants t
        ORDER BY t.created_at, t.id$q$, members_expr);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ops_tenant_usage();
DROP FUNCTION tenant_id_by_slug(text);
DROP INDEX events_tenant_time;
ALTER TABLE tenants DROP COLUMN text_defaults, DROP COLUMN settings, DROP COLUMN template;
