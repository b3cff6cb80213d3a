-- A survey schedule may target a saved segment (internal/broadcast/audience)
-- instead of every subscriber of its bot: seed 004 targets surveys by
-- micromarket. The segment being deleted stops targeting it (the schedule
-- pauses: see survey.Service.scan) rather than widening to everyone.

-- +goose Up
ALTER TABLE survey_schedules ADD COLUMN segment_id uuid REFERENCES segments (id) ON DELETE SET NULL;
ALTER TABLE survey_schedules ADD COLUMN targeted boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE survey_schedules DROP COLUMN targeted, DROP COLUMN segment_id;
