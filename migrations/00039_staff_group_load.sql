-- Tickets by topic: a staff group's load (its unresolved tickets) is counted
-- when a new topic picks the least-loaded group and when the console lists
-- the groups, and a topic's held messages are read when it is created or
-- recreated. Without these two indexes each of those read every ticket of
-- the tenant (internal/support/routing.go, store.go).

-- +goose Up
CREATE INDEX support_topics_group ON support_topics (bot_id, staff_chat_id);
CREATE INDEX support_tickets_topic ON support_tickets (topic_id);

-- +goose Down
DROP INDEX support_tickets_topic;
DROP INDEX support_topics_group;
