-- +goose Up
-- A sequence step the outbox refuses (params it can never send, saved
-- before they were validated) is marked failed with the reason instead of
-- rolling back its tenant's whole batch on every tick.
ALTER TABLE sequence_steps DROP CONSTRAINT sequence_steps_state_check;
ALTER TABLE sequence_steps ADD CONSTRAINT sequence_steps_state_check
    CHECK (state IN ('scheduled', 'sent', 'skipped', 'cancelled', 'failed'));

-- +goose Down
UPDATE sequence_steps SET state = 'skipped' WHERE state = 'failed';
ALTER TABLE sequence_steps DROP CONSTRAINT sequence_steps_state_check;
ALTER TABLE sequence_steps ADD CONSTRAINT sequence_steps_state_check
    CHECK (state IN ('scheduled', 'sent', 'skipped', 'cancelled'));
