-- The forum-topic support desk (internal/support, docs/support.md): tickets
-- per contact, one forum topic per contact and bot in the bot's staff group,
-- every message of both directions with the Telegram ids of both sides, and
-- one-time codes that bind a staff group. RLS on all of them.

-- +goose Up
-- One forum topic per contact and bot. thread_id is NULL while the topic is
-- being created (state 'creating'); messages that arrive meanwhile wait as
-- 'pending' support_messages and are relayed in order once it exists.
-- generation counts creations, so a deleted topic is recreated exactly once.
CREATE TABLE support_topics (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id          bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    contact_id      uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    user_chat_id    bigint NOT NULL,
    staff_chat_id   bigint NOT NULL,
    thread_id       integer,
    state           text NOT NULL CHECK (state IN ('creating', 'open', 'closed')),
    generation      integer NOT NULL DEFAULT 1,
    -- icon is the wanted status icon (new, in_work, resolved); icon_applied
    -- the last one sent. Edits are debounced: at most one per topic per
    -- Options.IconDebounce, the latest state wins.
    icon            text NOT NULL DEFAULT 'new',
    icon_applied    text NOT NULL DEFAULT 'new',
    icon_edited_at  timestamptz,
    icon_due_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, bot_id, contact_id)
);
CREATE UNIQUE INDEX support_topics_thread ON support_topics (bot_id, staff_chat_id, thread_id) WHERE thread_id IS NOT NULL;

CREATE TABLE support_tickets (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    no                  bigint GENERATED ALWAYS AS IDENTITY,
    bot_id              bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    contact_id          uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    topic_id            uuid REFERENCES support_topics (id) ON DELETE SET NULL,
    status              text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_work', 'resolved')),
    -- The assignee is a staff Telegram user (replied in the topic) or a
    -- console user (replied from the web); the first replier wins.
    assignee_tg_user_id bigint,
    assignee_user_id    uuid,
    assignee_name       text NOT NULL DEFAULT '',
    tags                text[] NOT NULL DEFAULT '{}',
    opened_at           timestamptz NOT NULL,
    first_response_at   timestamptz,
    resolved_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- One open ticket per contact and bot: a conditional insert decides it.
CREATE UNIQUE INDEX support_tickets_open ON support_tickets (tenant_id, bot_id, contact_id) WHERE status <> 'resolved';
CREATE INDEX support_tickets_list ON support_tickets (tenant_id, status, opened_at DESC);

CREATE TABLE support_messages (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    ticket_id        uuid NOT NULL REFERENCES support_tickets (id) ON DELETE CASCADE,
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    direction        text NOT NULL CHECK (direction IN ('in', 'out', 'note')),
    -- Both sides' message ids: the user's chat and the staff group's copy,
    -- so replies and edits can be mapped either way.
    user_chat_id     bigint NOT NULL,
    user_message_id  bigint,
    staff_chat_id    bigint,
    staff_message_id bigint,
    -- Who wrote it: the contact (in), a staff Telegram user or a console user.
    author_contact_id uuid,
    author_tg_user_id bigint,
    author_user_id    uuid,
    author_name       text NOT NULL DEFAULT '',
    kind             text NOT NULL DEFAULT 'text',
    text             text NOT NULL DEFAULT '',
    -- relay: pending (waits for the topic), queued (in the outbox), sent,
    -- failed, none (notes).
    relay            text NOT NULL DEFAULT 'queued' CHECK (relay IN ('pending', 'queued', 'sent', 'failed', 'none')),
    -- source identifies the Telegram message it came from, so an update
    -- handled twice (at-least-once) is stored once.
    source           text,
    created_at       timestamptz NOT NULL,
    UNIQUE (tenant_id, source)
);
CREATE INDEX support_messages_ticket ON support_messages (tenant_id, ticket_id, seq);
CREATE INDEX support_messages_pending ON support_messages (tenant_id, ticket_id, seq) WHERE relay = 'pending';

-- One-time codes an admin sends as "/bind <code>" in a forum supergroup.
-- Only the hash is stored. The look-up runs in the bot's tenant (the update
-- carries it), so a code of another tenant is simply not found.
CREATE TABLE support_bind_codes (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL UNIQUE,
    created_by  uuid,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_chat_id bigint,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['support_topics', 'support_tickets', 'support_messages', 'support_bind_codes'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE support_bind_codes, support_messages, support_tickets, support_topics;
