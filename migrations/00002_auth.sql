-- Accounts, sessions, invites and password resets (internal/auth), and the
-- platform operators, who belong to no tenant.
--
-- Tenant tables take tenant_id DEFAULT app_tenant(), so the session code is
-- the same SQL for users (tenant scope) and operators (no tenant); the RLS
-- WITH CHECK still refuses a row for any other tenant.
--
-- Look-ups made before the tenant is known (login by e-mail, invite and
-- reset links, refresh tokens) go through the SECURITY DEFINER functions at
-- the end, which return only what that path needs.

-- +goose Up
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL DEFAULT app_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    -- Login is by e-mail alone, so an e-mail is unique across the platform.
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name          text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    language      text NOT NULL DEFAULT '' CHECK (language IN ('', 'ru', 'en')),
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE INDEX users_tenant ON users (tenant_id);

-- A session is one login; its refresh tokens form a family that rotates on
-- every use. Reusing a spent token revokes the session (and so the family).
CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL DEFAULT app_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent    text NOT NULL DEFAULT '',
    ip            text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE refresh_tokens (
    hash       bytea PRIMARY KEY,
    tenant_id  uuid NOT NULL DEFAULT app_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE invites (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL DEFAULT app_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (email = lower(email)),
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    token_hash  bytea NOT NULL UNIQUE,
    invited_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at  timestamptz
);
CREATE INDEX invites_tenant ON invites (tenant_id, created_at);

CREATE TABLE password_resets (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL DEFAULT app_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user ON password_resets (tenant_id, user_id);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'sessions', 'refresh_tokens', 'invites', 'password_resets'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- Platform operators: members of no tenant, so these tables carry no
-- tenant_id and no RLS; only the auth service reads them. The session tables
-- mirror sessions/refresh_tokens column for column (user_id is the operator).
CREATE TABLE operators (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name          text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT operators_email_key UNIQUE (email)
);

CREATE TABLE operator_sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    user_agent    text NOT NULL DEFAULT '',
    ip            text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text NOT NULL DEFAULT ''
);
CREATE INDEX operator_sessions_user ON operator_sessions (user_id);

CREATE TABLE operator_refresh_tokens (
    hash       bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES operator_sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX operator_refresh_tokens_session ON operator_refresh_tokens (session_id);

-- Login: the tenant is not known yet. Returns the one user with that e-mail.
-- +goose StatementBegin
CREATE FUNCTION auth_user_by_email(p_email text)
RETURNS TABLE (id uuid, tenant_id uuid, role text, password_hash text, disabled boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.tenant_id, u.role, u.password_hash, u.disabled FROM users u WHERE u.email = lower(p_email)
$$;
-- +goose StatementEnd

-- Invite acceptance: the link's token hash leads to its tenant.
-- +goose StatementBegin
CREATE FUNCTION auth_invite_by_hash(p_hash bytea)
RETURNS TABLE (id uuid, tenant_id uuid, expires_at timestamptz, accepted_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT i.id, i.tenant_id, i.expires_at, i.accepted_at, i.revoked_at FROM invites i WHERE i.token_hash = p_hash
$$;
-- +goose StatementEnd

-- Password reset confirmation.
-- +goose StatementBegin
CREATE FUNCTION auth_reset_by_hash(p_hash bytea)
RETURNS TABLE (id uuid, tenant_id uuid, expires_at timestamptz, used_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT r.id, r.tenant_id, r.expires_at, r.used_at FROM password_resets r WHERE r.token_hash = p_hash
$$;
-- +goose StatementEnd

-- Refresh: which session (and tenant; NULL for an operator) a token belongs to.
-- +goose StatementBegin
CREATE FUNCTION auth_session_by_refresh_hash(p_hash bytea)
RETURNS TABLE (session_id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.session_id, t.tenant_id FROM refresh_tokens t WHERE t.hash = p_hash
    UNION ALL
    SELECT o.session_id, NULL::uuid FROM operator_refresh_tokens o WHERE o.hash = p_hash
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION auth_session_by_refresh_hash(bytea);
DROP FUNCTION auth_reset_by_hash(bytea);
DROP FUNCTION auth_invite_by_hash(bytea);
DROP FUNCTION auth_user_by_email(text);
DROP TABLE operator_refresh_tokens, operator_sessions, operators;
DROP TABLE password_resets, invites, refresh_tokens, sessions, users;
