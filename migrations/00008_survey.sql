-- The survey engine (internal/survey, docs/surveys.md): one engine for CSAT
-- after a ticket, campaign surveys, NPS and rate-the-visit. A survey has
-- ordered questions; a run sends it to contacts (a campaign) or is started
-- by a trigger (a resolved ticket); answers are stored per question with
-- their time, one per contact and run (a second tap edits it).

-- +goose Up
CREATE TABLE surveys (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- key names a system survey (csat) so features find theirs; NULL for
    -- surveys an admin made.
    key         text,
    title       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, key)
);

CREATE TABLE survey_questions (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    survey_id   uuid NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position BETWEEN 1 AND 50),
    kind        text NOT NULL CHECK (kind IN ('single', 'multi', 'scale', 'text')),
    -- prompt is the question's text; prompt_key, when set, is a text
    -- catalogue key rendered in the person's language instead.
    prompt      text NOT NULL DEFAULT '',
    prompt_key  text NOT NULL DEFAULT '',
    options     jsonb NOT NULL DEFAULT '[]',
    scale_min   integer,
    scale_max   integer,
    optional    boolean NOT NULL DEFAULT false,
    UNIQUE (survey_id, position)
);

CREATE TABLE survey_runs (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    survey_id   uuid NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    -- source says who started it (csat, broadcast, manual) and ref what
    -- for (the ticket id of a CSAT run); answer hooks are per source.
    source      text NOT NULL,
    ref         text NOT NULL DEFAULT '',
    closes_at   timestamptz,
    closed_at   timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX survey_runs_ref ON survey_runs (tenant_id, source, ref);

-- One row per contact a run asked: delivery and completion.
CREATE TABLE survey_asks (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    run_id       uuid NOT NULL REFERENCES survey_runs (id) ON DELETE CASCADE,
    contact_id   uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    bot_id       bigint NOT NULL,
    chat_id      bigint NOT NULL,
    lang         text NOT NULL DEFAULT '',
    -- position is the question the contact is at; answering it moves on,
    -- answering an earlier one again only edits that answer.
    position     integer NOT NULL DEFAULT 1,
    asked_at     timestamptz NOT NULL,
    completed_at timestamptz,
    PRIMARY KEY (tenant_id, run_id, contact_id)
);

-- choices are option indexes (single: one; multi: any), value the scale
-- value, text the free-text answer; skipped marks an optional question
-- passed over. One row per contact, run and question: a second tap edits it.
CREATE TABLE survey_answers (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    run_id       uuid NOT NULL REFERENCES survey_runs (id) ON DELETE CASCADE,
    question_id  uuid NOT NULL REFERENCES survey_questions (id) ON DELETE CASCADE,
    contact_id   uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    choices      integer[] NOT NULL DEFAULT '{}',
    value        integer,
    text         text NOT NULL DEFAULT '',
    skipped      boolean NOT NULL DEFAULT false,
    answered_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, run_id, question_id, contact_id)
);
CREATE INDEX survey_answers_question ON survey_answers (tenant_id, question_id);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['surveys', 'survey_questions', 'survey_runs', 'survey_asks', 'survey_answers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE survey_answers, survey_asks, survey_runs, survey_questions, surveys;
