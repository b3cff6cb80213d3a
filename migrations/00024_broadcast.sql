-- Broadcast campaigns (internal/broadcast, docs/broadcasts.md): a campaign
-- is content for one bot's audience (a segment and a subscription topic),
-- sent once. Each recipient gets a delivery row written in the same
-- transaction as the outbox row of its message and the campaign's
-- checkpoint (the last bot chat id taken from the audience), so a restarted
-- worker resumes after the checkpoint and a recipient is never queued twice
-- (primary key), and the outbox sends each queued message at most once.

-- +goose Up
CREATE TABLE campaigns (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bot_id         bigint NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- segment_id NULL: every subscriber of the bot.
    segment_id     uuid,
    topic          text NOT NULL DEFAULT '' CHECK (length(topic) <= 64),
    content        jsonb NOT NULL,
    survey_id      uuid,
    status         text NOT NULL DEFAULT 'draft'
                   CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'done', 'cancelled')),
    scheduled_at   timestamptz,
    started_at     timestamptz,
    finished_at    timestamptz,
    -- The delivery checkpoint: the last bot chat queued (recipients are
    -- taken in bot chat id order); exhausted once the audience ran out.
    checkpoint     uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    exhausted      boolean NOT NULL DEFAULT false,
    audience_size  integer,
    survey_run_id  uuid,
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_tenant ON campaigns (tenant_id, created_at);
CREATE INDEX campaigns_due ON campaigns (scheduled_at) WHERE status = 'scheduled';
CREATE INDEX campaigns_sending ON campaigns (started_at) WHERE status = 'sending';
ALTER TABLE campaigns ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaigns
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

CREATE TABLE campaign_deliveries (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    campaign_id  uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    bot_chat_id  uuid NOT NULL,
    contact_id   uuid NOT NULL,
    chat_id      bigint NOT NULL,
    lang         text NOT NULL DEFAULT '',
    outbox_id    uuid NOT NULL,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'sent', 'failed', 'blocked', 'unknown')),
    message_id   bigint,
    error_code   integer,
    reason       text,
    queued_at    timestamptz NOT NULL,
    finished_at  timestamptz,
    viewed_at    timestamptz,
    clicks       integer NOT NULL DEFAULT 0,
    clicked_at   timestamptz,
    PRIMARY KEY (campaign_id, bot_chat_id)
);
-- The leader's window: deliveries still waiting for their outcome.
CREATE INDEX campaign_deliveries_open ON campaign_deliveries (campaign_id) WHERE status = 'queued';
CREATE INDEX campaign_deliveries_chat ON campaign_deliveries (tenant_id, chat_id, campaign_id);
ALTER TABLE campaign_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaign_deliveries
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

-- The scheduler's scans, across tenants: scheduled campaigns now due and
-- campaigns sending (to restart a leader chain a crash lost), with only the
-- ids the task needs.
-- +goose StatementBegin
CREATE FUNCTION campaigns_active(p_now timestamptz, p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    (SELECT c.id, c.tenant_id, c.status FROM campaigns c
     WHERE c.status = 'scheduled' AND c.scheduled_at <= p_now ORDER BY c.scheduled_at LIMIT p_limit)
    UNION ALL
    (SELECT c.id, c.tenant_id, c.status FROM campaigns c
     WHERE c.status = 'sending' ORDER BY c.started_at LIMIT p_limit)
$$;
-- +goose StatementEnd

-- A click on a tracked URL button (/r/:token), before the tenant is known:
-- counts the click on the delivery and answers the button's URL (NULL for
-- an unknown campaign, recipient or button).
-- +goose StatementBegin
CREATE FUNCTION campaign_click(p_campaign uuid, p_bot_chat uuid, p_button integer, p_now timestamptz)
RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH u AS (
        UPDATE campaign_deliveries d SET clicks = d.clicks + 1, clicked_at = COALESCE(d.clicked_at, p_now)
        WHERE d.campaign_id = p_campaign AND d.bot_chat_id = p_bot_chat
        RETURNING d.campaign_id
    )
    SELECT c.content -> 'buttons' -> p_button ->> 'url' FROM campaigns c JOIN u ON u.campaign_id = c.id
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION campaign_click(uuid, uuid, integer, timestamptz);
DROP FUNCTION campaigns_active(timestamptz, integer);
DROP TABLE campaign_deliveries;
DROP TABLE campaigns;
