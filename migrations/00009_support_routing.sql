-- The support desk, continued (docs/support.md): CSAT runs per ticket,
-- request types and routing across several staff groups, staff Telegram
-- accounts linked to console users (agent metrics), link codes.

-- +goose Up
-- request_type is the routing menu's choice; route_pending marks a first
-- ticket whose topic waits for that choice. csat_asked_at is claimed by one
-- conditional UPDATE so a ticket's CSAT is asked once; csat_run_id is its
-- survey run (survey_runs.source = 'csat', ref = the ticket id).
ALTER TABLE support_tickets
    ADD COLUMN request_type  text NOT NULL DEFAULT '',
    ADD COLUMN route_pending boolean NOT NULL DEFAULT false,
    ADD COLUMN csat_asked_at timestamptz,
    ADD COLUMN csat_run_id   uuid;
CREATE INDEX support_tickets_opened ON support_tickets (tenant_id, opened_at);

-- Which request types a staff group takes (empty: all). A new topic goes to
-- the least-loaded group its type allows.
CREATE TABLE support_group_routes (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id        bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    chat_id       bigint NOT NULL,
    request_types text[] NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, bot_id, chat_id)
);
ALTER TABLE support_bind_codes ADD COLUMN request_types text[] NOT NULL DEFAULT '{}';

-- A staff member's Telegram account linked to a console user ("/link
-- <code>" in a staff group): their work counts for that user in metrics.
ALTER TABLE support_staff ADD COLUMN user_id uuid;
CREATE TABLE support_link_codes (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    code_hash   bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['support_group_routes', 'support_link_codes'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE support_link_codes, support_group_routes;
ALTER TABLE support_staff DROP COLUMN user_id;
ALTER TABLE support_bind_codes DROP COLUMN request_types;
DROP INDEX support_tickets_opened;
ALTER TABLE support_tickets DROP COLUMN request_type, DROP COLUMN route_pending, DROP COLUMN csat_asked_at, DROP COLUMN csat_run_id;
