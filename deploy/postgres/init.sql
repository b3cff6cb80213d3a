-- Roles for a fresh PostgreSQL: `helpdesk` owns the schema (runs migrations);
-- `helpdesk_app` is what the platform connects as: it owns nothing and cannot
-- bypass row-level security. Change the passwords.
CREATE ROLE helpdesk LOGIN PASSWORD 'change-me-three';
CREATE ROLE helpdesk_app LOGIN NOBYPASSRLS PASSWORD 'change-me-too';
CREATE DATABASE helpdesk OWNER helpdesk;
