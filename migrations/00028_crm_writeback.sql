-- CRM write-back (docs/connectors/README.md#write-back): contact updates
-- are outgoing calls like deal updates and notes (crm_calls, op
-- update_contact). The survey question -> CRM contact field mapping lives
-- in connectors.mapping (survey_fields), so no table is needed.

-- +goose Up
ALTER TABLE crm_calls DROP CONSTRAINT crm_calls_op_check;
ALTER TABLE crm_calls ADD CONSTRAINT crm_calls_op_check CHECK (op IN ('update_deal', 'add_note', 'update_contact'));

-- +goose Down
DELETE FROM crm_calls WHERE op = 'update_contact';
ALTER TABLE crm_calls DROP CONSTRAINT crm_calls_op_check;
ALTER TABLE crm_calls ADD CONSTRAINT crm_calls_op_check CHECK (op IN ('update_deal', 'add_note'));
