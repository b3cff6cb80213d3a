-- The shared data model (DESIGN.md 4a): tenants, contacts, bots, bot chats,
-- events, chat bindings, the audit log, and row-level security on all of them.
-- Every tenant table's policy reads app.tenant_id, set per transaction with
-- set_config(..., true); NULLIF turns the '' a reused connection returns into
-- NULL, so no tenant set means zero rows.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION app_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid
$$;
-- +goose StatementEnd

CREATE TABLE tenants (
    id               uuid PRIMARY KEY,
    slug             text UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone         text NOT NULL DEFAULT 'UTC',
    languages        text[] NOT NULL DEFAULT '{ru,en}',
    default_language text NOT NULL DEFAULT 'ru',
    features         jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = app_tenant()) WITH CHECK (id = app_tenant());

-- Every text a bot sends is a tenant text; defaults ship in tenants/.
CREATE TABLE tenant_texts (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key        text NOT NULL CHECK (key ~ '^[a-z0-9_.]{1,100}$'),
    lang       text NOT NULL CHECK (lang ~ '^[a-z]{2}$'),
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key, lang)
);

-- One contact per person per tenant; a person is known by Telegram user id.
CREATE TABLE contacts (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    tg_user_id    bigint,
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    username      text NOT NULL DEFAULT '',
    language      text NOT NULL DEFAULT '',
    phone         text NOT NULL DEFAULT '',
    tags          text[] NOT NULL DEFAULT '{}',
    custom        jsonb NOT NULL DEFAULT '{}',
    crm_links     jsonb NOT NULL DEFAULT '{}',
    consent_at    timestamptz,
    erased_at     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, tg_user_id)
);
CREATE INDEX contacts_tenant_phone ON contacts (tenant_id, phone) WHERE phone <> '';
CREATE INDEX contacts_tenant_tags ON contacts USING gin (tags);

-- A bot is keyed by Telegram's numeric bot id, so a revoked token can be
-- replaced without losing anything; one bot belongs to one tenant.
CREATE TABLE bots (
    id                 bigint PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    public_id          text NOT NULL UNIQUE,
    username           text NOT NULL DEFAULT '',
    name               text NOT NULL DEFAULT '',
    token_sealed       bytea NOT NULL,
    webhook_secret     bytea NOT NULL,
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'token_revoked')),
    paid_broadcast     boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bots_tenant ON bots (tenant_id);

-- One bot chat per contact per bot.
CREATE TABLE bot_chats (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id         bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    contact_id     uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    chat_id        bigint NOT NULL,
    reachable      boolean NOT NULL DEFAULT true,
    blocked_at     timestamptz,
    subscriptions  jsonb NOT NULL DEFAULT '{}',
    unsubscribed   boolean NOT NULL DEFAULT false,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bot_id, chat_id)
);
CREATE INDEX bot_chats_contact ON bot_chats (tenant_id, contact_id);

-- Append-only log of what happened; analytics and segments read it.
CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    contact_id  uuid REFERENCES contacts (id) ON DELETE CASCADE,
    bot_id      bigint,
    type        text NOT NULL CHECK (type ~ '^[a-z0-9_.]{1,64}$'),
    payload     jsonb NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant_type_time ON events (tenant_id, type, occurred_at);
CREATE INDEX events_contact ON events (tenant_id, contact_id, occurred_at);

-- Any group the bot is in has one binding with a purpose. It follows
-- migrate_to_chat_id when a group becomes a supergroup.
CREATE TABLE chat_bindings (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id      bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    chat_id     bigint NOT NULL,
    chat_type   text NOT NULL,
    title       text NOT NULL DEFAULT '',
    is_forum    boolean NOT NULL DEFAULT false,
    purpose     text NOT NULL DEFAULT 'none'
                CHECK (purpose IN ('none', 'staff_support', 'executors', 'community', 'channel')),
    bot_status  text NOT NULL DEFAULT 'member',
    rights      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bot_id, chat_id)
);

-- The operation log: who changed what, for every tenant (seed 003 asks for
-- one; it also answers "who did this" for every admin action).
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_time ON audit_log (tenant_id, at);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_texts', 'contacts', 'bots', 'bot_chats', 'events', 'chat_bindings', 'audit_log'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_log, chat_bindings, events, bot_chats, bots, contacts, tenant_texts, tenants;
DROP FUNCTION app_tenant();
