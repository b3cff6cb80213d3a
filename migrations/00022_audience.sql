-- Audiences (internal/broadcast/audience, docs/audience.md): every person a
-- bot has met is a subscriber of that bot (bot_chats + contacts, 00001);
-- segments are saved filters over their attributes, compiled to one
-- parameterised query. This migration adds the segments and the indexes the
-- compiled queries lean on.

-- +goose Up
CREATE TABLE segments (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    -- The filter as the API took it (validated before it is stored).
    filter      jsonb NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
ALTER TABLE segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON segments USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

-- Page walks one bot's chats in id order from a checkpoint ("id > $after
-- ORDER BY id LIMIT n"): without this the planner sorts every chat of the
-- bot for each page.
CREATE INDEX bot_chats_bot_page ON bot_chats (bot_id, id);

-- "Came from terminal X": the /start payloads of a bot. A selective payload
-- (term_17 out of thousands of people) is answered by a semi-join that reads
-- only that payload's start events. The payload is a generated text column,
-- not an index on (payload ->> 'payload'): under row-level security the
-- planner may not use an index whose condition calls a function that is not
-- LEAKPROOF before the policy's filter, and jsonb's ->> is not; text
-- equality is. Collation "C" makes a prefix a plain range (payloads are
-- [A-Za-z0-9_-], all below "~").
ALTER TABLE events ADD COLUMN start_payload text COLLATE "C"
    GENERATED ALWAYS AS (CASE WHEN type = 'started' THEN payload ->> 'payload' END) STORED;
CREATE INDEX events_start_payload ON events (tenant_id, bot_id, start_payload, contact_id)
    WHERE start_payload IS NOT NULL;

-- "Contacted support in a period": per-contact probes by opening time.
CREATE INDEX support_tickets_contact_opened ON support_tickets (tenant_id, contact_id, opened_at);

-- +goose Down
DROP INDEX support_tickets_contact_opened;
DROP INDEX events_start_payload;
ALTER TABLE events DROP COLUMN start_payload;
DROP INDEX bot_chats_bot_page;
DROP TABLE segments;
