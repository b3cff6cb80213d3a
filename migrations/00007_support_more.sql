-- More of the support desk (docs/support.md): canned answers, banned people,
-- staff members seen in the staff group (for /assign @username), edits and
-- the raw update of every message, and the "user blocked the bot" note.

-- +goose Up
CREATE TABLE support_canned (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    text       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- A banned person's messages are stored nowhere and relayed nowhere; told_at
-- makes the polite notice go out once per ban.
CREATE TABLE support_bans (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id       bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    contact_id   uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    banned_by    bigint,
    banned_at    timestamptz NOT NULL,
    told_at      timestamptz,
    PRIMARY KEY (tenant_id, bot_id, contact_id)
);

-- Staff members who wrote in a staff group, so /assign @username finds them.
CREATE TABLE support_staff (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    tg_user_id  bigint NOT NULL,
    username    text NOT NULL DEFAULT '',
    name        text NOT NULL DEFAULT '',
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, tg_user_id)
);
CREATE INDEX support_staff_username ON support_staff (tenant_id, lower(username));

ALTER TABLE support_messages ADD COLUMN raw jsonb, ADD COLUMN edited_at timestamptz;
-- Set when the "user blocked the bot" note was posted; cleared when the
-- person writes again.
ALTER TABLE support_topics ADD COLUMN blocked_noted_at timestamptz;

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['support_canned', 'support_bans', 'support_staff'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE support_topics DROP COLUMN blocked_noted_at;
ALTER TABLE support_messages DROP COLUMN raw, DROP COLUMN edited_at;
DROP TABLE support_staff, support_bans, support_canned;
