package telegram

import (
	"encoding/json"

	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// Task types.
const (
	TaskDrain = "telegram:drain" // handle one chat's mailbox in update_id order
	TaskSweep = "telegram:sweep" // re-drain orphaned mailboxes, prune dedupe rows
)

// drainRetries is generous: a drain that fails (database down) must come
// back, and failures of one update are counted and capped separately.
const drainRetries = 50

// newDrainTask returns the task that drains a chat's mailbox. Drains carry
// no TaskID: a second drain for a held mailbox exits at once, and the
// holder re-checks the mailbox after releasing it.
func newDrainTask(m mailbox) *asynq.Task {
	raw, _ := json.Marshal(m)
	return asynq.NewTask(TaskDrain, raw, asynq.Queue(queue.Updates), asynq.MaxRetry(drainRetries))
}

// NewSweepTask returns the periodic sweep.
func NewSweepTask() *asynq.Task {
	return asynq.NewTask(TaskSweep, nil, asynq.Queue(queue.Updates), asynq.MaxRetry(0))
}
