package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// Task types.
const (
	TaskDeliver = "broadcast:deliver" // one step of a campaign's leader
	TaskSweep   = "broadcast:sweep"   // starts due scheduled campaigns, restarts lost leaders
)

type deliverPayload struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	CampaignID uuid.UUID `json:"campaign_id"`
	// Link identifies this task: the campaign's due key names the one link
	// that is current, and any other task (a duplicate the sweeper started
	// while the chain was only late, a link re-run after a crash, a chain
	// superseded by Resume) ends, so leader chains never multiply.
	Link string `json:"link"`
}

// NewDeliverTask builds one step of a campaign's leader.
func NewDeliverTask(tenantID, campaignID uuid.UUID, link string) *asynq.Task {
	b, _ := json.Marshal(deliverPayload{TenantID: tenantID, CampaignID: campaignID, Link: link})
	return asynq.NewTask(TaskDeliver, b)
}

// NewSweepTask builds the periodic sweep.
func NewSweepTask() *asynq.Task { return asynq.NewTask(TaskSweep, nil) }

func leaseKey(id uuid.UUID) string { return "bc:lead:" + id.String() }
func dueKey(id uuid.UUID) string   { return "bc:due:" + id.String() }

// enqueueStep queues the next link of a campaign's leader chain: the due
// key names the new link (and says a step is coming), then the task is
// queued.
func (s *Service) enqueueStep(ctx context.Context, tenantID, id uuid.UUID, in time.Duration) error {
	link := ids.Token(8)
	if err := s.rdb.Set(ctx, dueKey(id), link, in+2*s.opts.LeaseTTL).Err(); err != nil {
		return fmt.Errorf("broadcast: due: %w", err)
	}
	opts := []asynq.Option{asynq.Queue(queue.Broadcast), asynq.MaxRetry(25), asynq.Timeout(2 * time.Minute)}
	if in > 0 {
		opts = append(opts, asynq.ProcessIn(in))
	}
	if err := s.q.Enqueue(ctx, NewDeliverTask(tenantID, id, link), opts...); err != nil {
		return fmt.Errorf("broadcast: enqueue step: %w", err)
	}
	return nil
}

// Register adds the task handlers to a worker server.
func (s *Service) Register(srv *queue.Server) {
	srv.Handle(TaskDeliver, s.handleDeliver)
	srv.Handle(TaskSweep, s.handleSweep)
}

// Sweeper is the periodic job (every 5 s) for the scheduler.
func (s *Service) Sweeper() queue.Periodic {
	return queue.Periodic{Name: "broadcast-sweep", Every: 5 * time.Second, Task: NewSweepTask}
}

func (s *Service) handleDeliver(ctx context.Context, t *asynq.Task) error {
	var p deliverPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID == uuid.Nil || p.CampaignID == uuid.Nil {
		return fmt.Errorf("broadcast: deliver: bad payload: %w", asynq.SkipRetry)
	}
	cur, err := s.rdb.Get(ctx, dueKey(p.CampaignID)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("broadcast: deliver: %w", err)
	}
	if cur != "" && cur != p.Link {
		return nil // another link is the current one
	}
	r, err := s.step(ctx, p.TenantID, p.CampaignID)
	next := s.opts.Step
	if r == stepFull {
		// A full window lasts WindowSpan at the bot's rate: refilling it
		// at half keeps the outbox busy with a quarter of the steps.
		next = max(s.opts.Step, s.opts.WindowSpan/2)
	}
	if err != nil {
		// Not an asynq retry (that would leave the chain to asynq's
		// back-off and its retry budget): the chain goes on, slower.
		next = stepErrorPause
		s.log.Warn("broadcast: step failed; retrying", "tenant_id", p.TenantID, "campaign_id", p.CampaignID, "retry_in", next, "error", err)
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch r {
	case stepBusy:
		// Another step of this campaign is running (of a link this one
		// superseded): try again a step later.
		return s.enqueueStep(bctx, p.TenantID, p.CampaignID, s.opts.Step)
	case stepStop:
		// Only the current link clears the marker.
		_ = s.rdb.Eval(bctx, `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
			[]string{dueKey(p.CampaignID)}, p.Link).Err()
		return nil
	}
	return s.enqueueStep(bctx, p.TenantID, p.CampaignID, next)
}

// stepErrorPause separates a failed step from the next.
const stepErrorPause = 5 * time.Second

// handleSweep starts scheduled campaigns that are due and gives a leader to
// sending campaigns that have none (a chain lost to a crash).
func (s *Service) handleSweep(ctx context.Context, _ *asynq.Task) error {
	type row struct {
		id, tenant uuid.UUID
		status     string
	}
	var rs []row
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, tenant_id, status FROM campaigns_active($1, 500)`, s.clock.Now())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.tenant, &r.status); err != nil {
				return err
			}
			rs = append(rs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("broadcast: sweep: %w", err)
	}
	var errs []error
	for _, r := range rs {
		if r.status == StatusScheduled {
			if err := s.StartDue(ctx, r.tenant, r.id); err != nil && !errors.Is(err, ErrState) {
				errs = append(errs, err)
			}
			continue
		}
		n, err := s.rdb.Exists(ctx, dueKey(r.id), leaseKey(r.id)).Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n == 0 {
			s.log.Info("broadcast: restarting a campaign's leader", "tenant_id", r.tenant, "campaign_id", r.id)
			if err := s.enqueueStep(ctx, r.tenant, r.id, 0); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// StartDue starts a scheduled campaign whose time has come (the sweeper
// calls it; tests call it with an injected clock).
func (s *Service) StartDue(ctx context.Context, tenantID, id uuid.UUID) error {
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE campaigns SET status = 'sending', started_at = $3, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 AND status = 'scheduled' AND scheduled_at <= $3`, tenantID, id, s.clock.Now())
		if err == nil && tag.RowsAffected() == 0 {
			return ErrState
		}
		return err
	})
	if err != nil {
		return wrap("start scheduled", err)
	}
	s.log.Info("broadcast: scheduled campaign started", "tenant_id", tenantID, "campaign_id", id)
	return s.enqueueStep(ctx, tenantID, id, 0)
}

// Sweep runs the sweep once (tests).
func (s *Service) Sweep(ctx context.Context) error { return s.handleSweep(ctx, nil) }
