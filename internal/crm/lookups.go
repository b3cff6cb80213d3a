package crm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Connector builds the live connector of a stored one, for look-ups and
// for features that call the CRM synchronously.
func (s *Service) Connector(ctx context.Context, tenantID, id uuid.UUID) (Connector, error) {
	var r connectorRow
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		r, err = getConnector(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.build(tenantID, r)
}

func (s *Service) build(tenantID uuid.UUID, r connectorRow) (Connector, error) {
	f, lim, err := s.factory(r.Kind)
	if err != nil {
		return nil, err
	}
	creds, err := s.keys.Open(r.CredsSealed, credsAAD(r.ID))
	if err != nil {
		return nil, fmt.Errorf("crm: open credentials of %s: %w", r.ID, err)
	}
	// The vendor's limit is per CRM account, so the budget is the
	// account's, whichever connector (or tenant) calls it.
	key := "crm:rate:" + r.ID.String()
	if r.Account != "" {
		key = "crm:rate:" + string(r.Kind) + ":" + r.Account
	}
	deps := Deps{HTTPClient: s.opts.HTTPClient, Limiter: lim, LimitKey: key, Logger: s.log}
	if r.OAuthSealed != nil {
		deps.Tokens = &tokenSource{s: s, tenantID: tenantID, id: r.ID, kind: r.Kind, account: r.Account}
	}
	return f(creds, deps)
}

// Pipelines, Users and Fields describe the CRM for the rule editor.
func (s *Service) Pipelines(ctx context.Context, tenantID, id uuid.UUID) ([]Pipeline, error) {
	c, err := s.Connector(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	out, err := c.Pipelines(ctx)
	s.noteOutcome(ctx, tenantID, id, err)
	return out, err
}

func (s *Service) Users(ctx context.Context, tenantID, id uuid.UUID) ([]User, error) {
	c, err := s.Connector(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	out, err := c.Users(ctx)
	s.noteOutcome(ctx, tenantID, id, err)
	return out, err
}

func (s *Service) Fields(ctx context.Context, tenantID, id uuid.UUID) ([]Field, error) {
	c, err := s.Connector(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	out, err := c.Fields(ctx)
	s.noteOutcome(ctx, tenantID, id, err)
	return out, err
}

// noteOutcome records a CRM call's outcome as the connector's health: a
// success clears an auth error, a refused token sets one.
func (s *Service) noteOutcome(ctx context.Context, tenantID, id uuid.UUID, callErr error) {
	if callErr != nil && errors.Is(callErr, ErrNotFound) {
		callErr = nil // the CRM answered; the object is just not there
	}
	wctx := context.WithoutCancel(ctx)
	err := s.db.InTenant(wctx, tenantID, func(tx pgx.Tx) error {
		return recordOutcome(wctx, tx, id, callErr, s.clock.Now())
	})
	if err != nil {
		s.log.Warn("crm: record connector health", "tenant_id", tenantID, "connector_id", id, "error", err)
	}
}
