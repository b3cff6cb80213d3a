package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// Task types.
const (
	TypeEvent     = "crm:event"      // one deduplicated CRM event → contact sync and the rules
	TypeCall      = "crm:call"       // one outgoing call (crm_calls row)
	TypeLinkPhone = "crm:link_phone" // a shared phone → FindContactByPhone on every connector
	TypeSweep     = "crm:sweep"      // re-queue calls whose task was lost
)

type eventPayload struct {
	TenantID    uuid.UUID `json:"tenant_id"`
	ConnectorID uuid.UUID `json:"connector_id"` // uuid.Nil: pushed without a connector
	Event       Event     `json:"event"`
	Pushed      bool      `json:"pushed,omitempty"` // pushed by the tenant's system (complete by contract)
}

type callPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	CallID   uuid.UUID `json:"call_id"`
}

type linkPhonePayload struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	ContactID uuid.UUID `json:"contact_id"`
	Phone     string    `json:"phone"`
}

func task(typ string, v any) *asynq.Task {
	raw, _ := json.Marshal(v)
	return asynq.NewTask(typ, raw)
}

// newEventTask hands an event to a worker; the TaskID makes a repeated
// enqueue of the same event a no-op while the first is queued.
func newEventTask(p eventPayload) (*asynq.Task, []asynq.Option) {
	return task(TypeEvent, p), []asynq.Option{asynq.Queue(queue.Default), asynq.MaxRetry(20),
		asynq.TaskID("crm:event:" + p.TenantID.String() + ":" + p.ConnectorID.String() + ":" + p.Event.Key)}
}

// NewCallTask runs one recorded call.
func NewCallTask(tenantID, callID uuid.UUID) (*asynq.Task, []asynq.Option) {
	return task(TypeCall, callPayload{TenantID: tenantID, CallID: callID}),
		[]asynq.Option{asynq.Queue(queue.Default), asynq.MaxRetry(25), asynq.TaskID("crm:call:" + callID.String())}
}

// NewLinkPhoneTask looks a shared phone up in the tenant's CRMs.
func NewLinkPhoneTask(tenantID, contactID uuid.UUID, phone string, ref string) (*asynq.Task, []asynq.Option) {
	return task(TypeLinkPhone, linkPhonePayload{TenantID: tenantID, ContactID: contactID, Phone: phone}),
		[]asynq.Option{asynq.Queue(queue.Default), asynq.MaxRetry(10), asynq.TaskID("crm:link_phone:" + ref)}
}

// NewSweepTask is the periodic call sweep.
func NewSweepTask() *asynq.Task { return asynq.NewTask(TypeSweep, nil) }

// RegisterTasks installs the task handlers.
func (s *Service) RegisterTasks(srv *queue.Server) {
	srv.Handle(TypeEvent, s.handleEvent)
	srv.Handle(TypeCall, s.handleCall)
	srv.Handle(TypeLinkPhone, s.handleLinkPhone)
	srv.Handle(TypeSweep, func(ctx context.Context, _ *asynq.Task) error { return s.Sweep(ctx) })
}

// Sweeper is the periodic job that re-queues stale pending calls.
func (s *Service) Sweeper() queue.Periodic {
	return queue.Periodic{Name: "crm-sweep", Every: time.Minute, Task: NewSweepTask, Queue: queue.Default}
}

func decode(t *asynq.Task, v any) error {
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("crm: %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}
