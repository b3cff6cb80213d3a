-- Bot registry and update intake (internal/bots, internal/telegram).
--
-- The webhook router and the outbox must find a bot before they know its
-- tenant, and registration must see whether another tenant already holds a
-- bot id. Those three look-ups are narrow SECURITY DEFINER functions that
-- return only what their path needs (DESIGN.md invariant 1); nothing else
-- reads bots across tenants.

-- +goose Up

-- Which updates were fully recorded (contacts, bot chats, events), so a
-- redelivered update (at-least-once drains) does not record twice. Rows are
-- pruned after two days, beyond Telegram's 24 h redelivery window.
CREATE TABLE processed_updates (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id       bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    update_id    bigint NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, update_id)
);
CREATE INDEX processed_updates_time ON processed_updates (processed_at);
ALTER TABLE processed_updates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON processed_updates
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

-- Registration: is this Telegram bot id held by a tenant other than the
-- caller's? Answers a boolean only, never whose it is.
-- +goose StatementBegin
CREATE FUNCTION bot_registered_elsewhere(p_bot_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM bots WHERE id = p_bot_id AND tenant_id IS DISTINCT FROM app_tenant())
$$;
-- +goose StatementEnd

-- Webhook intake: opaque public id -> bot id, tenant and the sealed secret.
-- +goose StatementBegin
CREATE FUNCTION bot_webhook_target(p_public_id text)
RETURNS TABLE (bot_id bigint, tenant_id uuid, webhook_secret bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT b.id, b.tenant_id, b.webhook_secret FROM bots b WHERE b.public_id = p_public_id
$$;
-- +goose StatementEnd

-- The outbox's token source: the sealed token of one bot (opened in Go with
-- the keyring; the database never sees the plaintext).
-- +goose StatementBegin
CREATE FUNCTION bot_token_sealed(p_bot_id bigint) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT token_sealed FROM bots WHERE id = p_bot_id
$$;
-- +goose StatementEnd

-- Housekeeping run by the mailbox sweeper across tenants.
-- +goose StatementBegin
CREATE FUNCTION prune_processed_updates(p_before timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH d AS (DELETE FROM processed_updates WHERE processed_at < p_before RETURNING 1)
    SELECT count(*) FROM d
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION prune_processed_updates(timestamptz);
DROP FUNCTION bot_token_sealed(bigint);
DROP FUNCTION bot_webhook_target(text);
DROP FUNCTION bot_registered_elsewhere(bigint);
DROP TABLE processed_updates;
