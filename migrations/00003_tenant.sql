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
-- conversation, contact or text. Members are the tenant's enabled users
-- (00002_auth).
-- +goose StatementBegin
CREATE FUNCTION ops_tenant_usage()
RETURNS TABLE (id uuid, slug text, name text, status text, created_at timestamptz,
               members bigint, contacts bigint, bots bigint, events_24h bigint, events_30d bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.id, COALESCE(t.slug, ''), t.name, t.status, t.created_at,
           (SELECT count(*) FROM users u WHERE u.tenant_id = t.id AND NOT u.disabled),
           (SELECT count(*) FROM contacts c WHERE c.tenant_id = t.id AND c.erased_at IS NULL),
           (SELECT count(*) FROM bots b WHERE b.tenant_id = t.id),
           (SELECT count(*) FROM events e WHERE e.tenant_id = t.id AND e.occurred_at > now() - interval '24 hours'),
           (SELECT count(*) FROM events e WHERE e.tenant_id = t.id AND e.occurred_at > now() - interval '30 days')
    FROM tenants t
    ORDER BY t.created_at, t.id
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ops_tenant_usage();
DROP FUNCTION tenant_id_by_slug(text);
DROP INDEX events_tenant_time;
ALTER TABLE tenants DROP COLUMN text_defaults, DROP COLUMN settings, DROP COLUMN template;
