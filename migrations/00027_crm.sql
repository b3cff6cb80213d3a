-- CRM connectors (internal/crm, docs/connectors/README.md): one row per
-- connection of a tenant to a CRM account, the outgoing calls made through
-- it (each through asynq, outcome visible per connector) and deep-link
-- codes that link a Telegram contact to a CRM contact.
--
-- A CRM webhook names its connector by an opaque public id before the tenant
-- is known; crm_webhook_target is the one narrow SECURITY DEFINER look-up
-- for that path (DESIGN.md invariant 1). A sweeper finds calls whose enqueue
-- was lost through crm_stale_calls and prunes old rows through prune_crm.

-- +goose Up
CREATE TABLE connectors (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind               text NOT NULL CHECK (kind ~ '^[a-z0-9]{1,32}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    public_id          text NOT NULL UNIQUE,
    -- Kind-specific credentials (JSON) sealed with the keyring, aad = the
    -- connector id; oauth_sealed holds the OAuth app and tokens when the
    -- connector was authorized by OAuth2 (NULL for long-lived tokens).
    credentials_sealed bytea NOT NULL,
    oauth_sealed       bytea,
    webhook_secret     bytea NOT NULL,
    -- The CRM account (amoCRM subdomain.amocrm.ru), for display.
    account            text NOT NULL DEFAULT '',
    mapping            jsonb NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'auth_error')),
    token_expires_at   timestamptz,
    last_success_at    timestamptz,
    last_error_at      timestamptz,
    last_error         text NOT NULL DEFAULT '',
    events_received    bigint NOT NULL DEFAULT 0,
    events_ignored     bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connectors_tenant ON connectors (tenant_id);

-- Every outgoing CRM call: recorded before it is queued, updated after each
-- attempt. key makes a caller's enqueue idempotent.
CREATE TABLE crm_calls (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector_id  uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    key           text NOT NULL,
    op            text NOT NULL CHECK (op IN ('update_deal', 'add_note')),
    payload       jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    UNIQUE (connector_id, key)
);
CREATE INDEX crm_calls_pending ON crm_calls (connector_id, created_at) WHERE status = 'pending';
CREATE INDEX crm_calls_stale ON crm_calls (updated_at) WHERE status = 'pending';

-- A deep-link code for a CRM contact: t.me/<bot>?start=crm_<code> links
-- whoever opens it to that CRM contact.
CREATE TABLE crm_link_codes (
    code            text PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector_id    uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    crm_contact_id  text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    used_by         uuid REFERENCES contacts (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Linked contacts are found by connector and CRM contact id.
CREATE INDEX contacts_crm_links ON contacts USING gin (crm_links jsonb_path_ops);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['connectors', 'crm_calls', 'crm_link_codes'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- Webhook intake: opaque public id -> connector, tenant and the sealed
-- secret. Nothing else about the connector crosses the tenant boundary.
-- +goose StatementBegin
CREATE FUNCTION crm_webhook_target(p_public_id text)
RETURNS TABLE (connector_id uuid, tenant_id uuid, webhook_secret bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT c.id, c.tenant_id, c.webhook_secret FROM connectors c WHERE c.public_id = p_public_id
$$;
-- +goose StatementEnd

-- The call sweeper: pending calls not touched since p_before (their task
-- was never queued, or was lost), ids only.
-- +goose StatementBegin
CREATE FUNCTION crm_stale_calls(p_before timestamptz, p_limit integer)
RETURNS TABLE (tenant_id uuid, call_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.tenant_id, k.id FROM crm_calls k
    WHERE k.status = 'pending' AND k.updated_at < p_before
    ORDER BY k.updated_at LIMIT p_limit
$$;
-- +goose StatementEnd

-- Housekeeping by the sweeper across tenants: finished calls and expired
-- or used link codes older than p_before. Returns the rows removed.
-- +goose StatementBegin
CREATE FUNCTION prune_crm(p_before timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH c AS (DELETE FROM crm_calls WHERE status <> 'pending' AND updated_at < p_before RETURNING 1),
         l AS (DELETE FROM crm_link_codes WHERE expires_at < p_before OR used_at < p_before RETURNING 1)
    SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM l)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION prune_crm(timestamptz);
DROP FUNCTION crm_stale_calls(timestamptz, integer);
DROP FUNCTION crm_webhook_target(text);
DROP INDEX contacts_crm_links;
DROP TABLE crm_link_codes, crm_calls, connectors;
