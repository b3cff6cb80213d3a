-- Two-factor sign-in with TOTP (RFC 6238) for members and operators. The
-- secret is sealed with the platform keyring like bot tokens; last_step is
-- the 30-second step of the last accepted code, so a code works only once.

-- +goose Up
CREATE TABLE user_totp (
    user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret_sealed bytea NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE user_totp ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_totp USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

CREATE TABLE operator_totp (
    user_id       uuid PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    secret_sealed bytea NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE operator_totp, user_totp;
