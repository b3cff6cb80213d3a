// Package ops is the platform operator's view: queues (through asynq's
// Inspector), failed and archived tasks with retry and delete, bots whose
// webhooks are unhealthy across tenants, and per-tenant usage. Operators see
// counts, ids and errors, never task payloads or conversations.
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// ErrNotFound is an unknown queue or task.
var ErrNotFound = errors.New("ops: not found")

// WebhookChecker reads a bot's webhook health (from the bots service).
type WebhookChecker func(ctx context.Context, tenantID uuid.UUID, botID int64) (WebhookInfo, error)

// WebhookInfo is what the checker reports.
type WebhookInfo struct {
	URL                string
	PendingUpdateCount int
	LastErrorDate      int64
	LastErrorMessage   string
}

// Service answers the operator's questions.
type Service struct {
	db      *db.DB
	rdb     *redis.Client
	insp    *asynq.Inspector
	webhook WebhookChecker
	clock   clock.Clock
	log     *slog.Logger
}

// NewService builds the service; insp reads the same Redis as the workers.
func NewService(d *db.DB, rdb *redis.Client, insp *asynq.Inspector, webhook WebhookChecker, clk clock.Clock, log *slog.Logger) *Service {
	return &Service{db: d, rdb: rdb, insp: insp, webhook: webhook, clock: clk, log: log}
}

// Queue is one queue's state.
type Queue struct {
	Name           string       `json:"name"`
	Size           int          `json:"size"`
	Pending        int          `json:"pending"`
	Active         int          `json:"active"`
	Scheduled      int          `json:"scheduled"`
	Retry          int          `json:"retry"`
	Archived       int          `json:"archived"`
	Paused         bool         `json:"paused"`
	LatencySeconds float64      `json:"latency_seconds"`
	ProcessedToday int          `json:"processed_today"`
	FailedToday    int          `json:"failed_today"`
	History        []DailyStats `json:"history"`
}

// DailyStats are one day's counts.
type DailyStats struct {
	Date      string `json:"date"`
	Processed int    `json:"processed"`
	Failed    int    `json:"failed"`
}

// Queues lists every configured queue, including ones asynq has not seen yet.
func (s *Service) Queues(ctx context.Context) ([]Queue, error) {
	names := make([]string, 0, len(queue.Weights))
	for n := range queue.Weights {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Queue, 0, len(names))
	for _, n := range names {
		q := Queue{Name: n, History: []DailyStats{}}
		info, err := s.insp.GetQueueInfo(n)
		if err != nil && !isQueueNotFound(err) {
			return nil, fmt.Errorf("ops: queue %s: %w", n, err)
		}
		if info == nil {
			// asynq has no stats for a queue that never held a task, but a
			// pause is recorded all the same (asynq's key layout).
			paused, err := s.rdb.Exists(ctx, "asynq:{"+n+"}:paused").Result()
			if err != nil {
				return nil, fmt.Errorf("ops: queue %s: %w", n, err)
			}
			q.Paused = paused == 1
		}
		if info != nil {
			q.Size, q.Pending, q.Active, q.Scheduled = info.Size, info.Pending, info.Active, info.Scheduled
			q.Retry, q.Archived, q.Paused = info.Retry, info.Archived, info.Paused
			q.LatencySeconds = info.Latency.Seconds()
			q.ProcessedToday, q.FailedToday = info.Processed, info.Failed
			hist, err := s.insp.History(n, 7)
			if err != nil {
				return nil, fmt.Errorf("ops: history %s: %w", n, err)
			}
			for _, d := range hist {
				q.History = append(q.History, DailyStats{Date: d.Date.Format("2006-01-02"), Processed: d.Processed, Failed: d.Failed})
			}
		}
		out = append(out, q)
	}
	return out, nil
}

// isQueueNotFound: asynq reports missing queues and tasks with its own
// error type, whose code is NOT_FOUND, not with the exported sentinels.
func isQueueNotFound(err error) bool {
	return errors.Is(err, asynq.ErrQueueNotFound) || errors.Is(err, asynq.ErrTaskNotFound) ||
		strings.Contains(err.Error(), "NOT_FOUND")
}

func knownQueue(name string) bool {
	_, ok := queue.Weights[name]
	return ok
}

// Task is a failed or archived task, without its payload.
type Task struct {
	ID            string     `json:"id"`
	Queue         string     `json:"queue"`
	Type          string     `json:"type"`
	State         string     `json:"state"`
	LastError     string     `json:"last_error"`
	Retried       int        `json:"retried"`
	MaxRetry      int        `json:"max_retry"`
	LastFailedAt  *time.Time `json:"last_failed_at,omitempty"`
	NextProcessAt *time.Time `json:"next_process_at,omitempty"`
}

// Tasks lists a queue's tasks in state retry or archived (newest first, up to 100).
func (s *Service) Tasks(ctx context.Context, queueName, state string) ([]Task, error) {
	if !knownQueue(queueName) {
		return nil, ErrNotFound
	}
	var infos []*asynq.TaskInfo
	var err error
	switch state {
	case "retry":
		infos, err = s.insp.ListRetryTasks(queueName, asynq.PageSize(100))
	case "archived":
		infos, err = s.insp.ListArchivedTasks(queueName, asynq.PageSize(100))
	default:
		return nil, fmt.Errorf("ops: state %q: %w", state, ErrNotFound)
	}
	if err != nil && !isQueueNotFound(err) {
		return nil, fmt.Errorf("ops: list %s %s: %w", queueName, state, err)
	}
	out := make([]Task, 0, len(infos))
	for _, ti := range infos {
		t := Task{ID: ti.ID, Queue: ti.Queue, Type: ti.Type, State: state, LastError: ti.LastErr, Retried: ti.Retried, MaxRetry: ti.MaxRetry}
		if !ti.LastFailedAt.IsZero() {
			at := ti.LastFailedAt
			t.LastFailedAt = &at
		}
		if !ti.NextProcessAt.IsZero() {
			at := ti.NextProcessAt
			t.NextProcessAt = &at
		}
		out = append(out, t)
	}
	return out, nil
}

// RunTask moves a retry or archived task to pending now.
func (s *Service) RunTask(ctx context.Context, queueName, id string) error {
	if !knownQueue(queueName) {
		return ErrNotFound
	}
	if err := s.insp.RunTask(queueName, id); err != nil {
		if isQueueNotFound(err) {
			return ErrNotFound
		}
		return fmt.Errorf("ops: run task: %w", err)
	}
	return nil
}

// DeleteTask removes a task for good.
func (s *Service) DeleteTask(ctx context.Context, queueName, id string) error {
	if !knownQueue(queueName) {
		return ErrNotFound
	}
	if err := s.insp.DeleteTask(queueName, id); err != nil {
		if isQueueNotFound(err) {
			return ErrNotFound
		}
		return fmt.Errorf("ops: delete task: %w", err)
	}
	return nil
}

// SetPaused pauses or resumes a queue.
func (s *Service) SetPaused(ctx context.Context, queueName string, paused bool) error {
	if !knownQueue(queueName) {
		return ErrNotFound
	}
	var err error
	if paused {
		err = s.insp.PauseQueue(queueName)
	} else {
		err = s.insp.UnpauseQueue(queueName)
	}
	if err != nil && !isQueueNotFound(err) {
		return fmt.Errorf("ops: pause %s: %w", queueName, err)
	}
	return nil
}

// DeadUpdates counts Telegram updates given up on after repeated failures
// (internal/telegram moves them to this list so their chat can go on).
func (s *Service) DeadUpdates(ctx context.Context) (int64, error) {
	return s.rdb.LLen(ctx, "helpdesk:tg:dead").Result()
}

// BotHealth is one bot's webhook state.
type BotHealth struct {
	BotID            int64     `json:"bot_id"`
	TenantID         uuid.UUID `json:"tenant_id"`
	TenantName       string    `json:"tenant_name"`
	Username         string    `json:"username"`
	Status           string    `json:"status"`
	Healthy          bool      `json:"healthy"`
	PendingUpdates   int       `json:"pending_update_count"`
	LastErrorDate    int64     `json:"last_error_date,omitempty"`
	LastErrorMessage string    `json:"last_error_message,omitempty"`
	CheckError       string    `json:"check_error,omitempty"`
}

// unhealthyPending: more queued updates than this means Telegram cannot
// deliver fast enough (or at all).
const unhealthyPending = 100

// Bots checks every bot's webhook (8 at a time) and reports each; with
// onlyUnhealthy, only those with a recent error, a backlog or a failed check.
func (s *Service) Bots(ctx context.Context, onlyUnhealthy bool) ([]BotHealth, error) {
	var all []BotHealth
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT bot_id, tenant_id, tenant_name, username, status FROM ops_bots()")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b BotHealth
			if err := rows.Scan(&b.BotID, &b.TenantID, &b.TenantName, &b.Username, &b.Status); err != nil {
				return err
			}
			all = append(all, b)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("ops: bots: %w", err)
	}
	recent := s.clock.Now().Add(-time.Hour).Unix()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func(b *BotHealth) {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			info, err := s.webhook(cctx, b.TenantID, b.BotID)
			if err != nil {
				b.CheckError = "the webhook could not be checked"
				return
			}
			b.PendingUpdates, b.LastErrorDate, b.LastErrorMessage = info.PendingUpdateCount, info.LastErrorDate, info.LastErrorMessage
			b.Healthy = info.URL != "" && info.LastErrorDate < recent && info.PendingUpdateCount <= unhealthyPending
		}(&all[i])
	}
	wg.Wait()
	out := make([]BotHealth, 0, len(all))
	for _, b := range all {
		if onlyUnhealthy && b.Healthy {
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// Usage is one tenant's traffic since a time.
type Usage struct {
	TenantID       uuid.UUID `json:"tenant_id"`
	TenantName     string    `json:"tenant_name"`
	Updates        int64     `json:"updates"`
	MessagesSent   int64     `json:"messages_sent"`
	MessagesFailed int64     `json:"messages_failed"`
	Throttled      int64     `json:"throttled"`
}

// Usage reports every tenant's updates received, messages sent and failed,
// and 429 answers since a time.
func (s *Service) Usage(ctx context.Context, since time.Time) ([]Usage, error) {
	var out []Usage
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT tenant_id, tenant_name, updates, messages_sent, messages_failed, throttled FROM ops_usage($1)", since)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u Usage
			if err := rows.Scan(&u.TenantID, &u.TenantName, &u.Updates, &u.MessagesSent, &u.MessagesFailed, &u.Throttled); err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("ops: usage: %w", err)
	}
	return out, nil
}
