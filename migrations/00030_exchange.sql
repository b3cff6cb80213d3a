-- The 1C exchange (internal/crm/exchange, docs/connectors/http-json.md):
-- the tenant's own system pushes clients, balances, terminals and CRM
-- events to us with an API key, and pulls our events from a per-tenant
-- outbox with a cursor, acknowledging what it processed. 1C initiates
-- every exchange; we never need to reach it for these.

-- +goose Up

-- API keys: only the SHA-256 of the key is kept (the key is shown once).
-- connector_id, when set, names the HTTP/JSON connector that pushed CRM
-- events are attributed to (no foreign key: internal/crm owns connectors).
CREATE TABLE exchange_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    connector_id uuid,
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX exchange_keys_tenant ON exchange_keys (tenant_id, created_at);

-- Our events for the tenant's system, paged by seq. Publishers hold a
-- shared advisory lock of the tenant's outbox until they commit and readers
-- read under the exclusive one, so no seq is in flight while a page is read
-- and a cursor never passes an event committed later (see
-- internal/crm/exchange/outbox.go). acked_at marks what the tenant
-- acknowledged; unacknowledged rows are served again.
CREATE TABLE exchange_outbox (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          uuid NOT NULL UNIQUE,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type        text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    acked_at    timestamptz
);
CREATE INDEX exchange_outbox_pending ON exchange_outbox (tenant_id, seq) WHERE acked_at IS NULL;

-- Client balances as the tenant's system last pushed them (the cabinet's
-- "My balance" without a call to 1C); client_id is the tenant's id.
CREATE TABLE client_balances (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id   text NOT NULL,
    amount      numeric(14, 2) NOT NULL,
    bonus       numeric(14, 2) NOT NULL DEFAULT 0,
    currency    text NOT NULL,
    updated_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);

-- Points of sale (vending micromarkets: terminals with a QR code each) as
-- the tenant's system lists them. internal/loyalty may take this table
-- over; external_id is the tenant's id, id ours (deep links use it).
CREATE TABLE terminals (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    name        text NOT NULL,
    address     text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    attrs       jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, external_id)
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['exchange_keys', 'exchange_outbox', 'client_balances', 'terminals'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- Key authentication happens before the tenant is known: hash -> the key's
-- tenant and connector, for live keys only; it stamps last_used_at at most
-- once a minute. Nothing else reads keys across tenants.
-- +goose StatementBegin
CREATE FUNCTION exchange_key_auth(p_hash bytea)
RETURNS TABLE (key_id uuid, tenant_id uuid, connector_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE exchange_keys k SET last_used_at = now()
     WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
       AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
    RETURN QUERY SELECT k.id, k.tenant_id, k.connector_id FROM exchange_keys k
     WHERE k.key_hash = p_hash AND k.revoked_at IS NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION exchange_key_auth(bytea);
DROP TABLE terminals, client_balances, exchange_outbox, exchange_keys;
