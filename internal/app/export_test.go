package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// CRMWriter is the adapter dispatch and automation write to the CRM through.
type CRMWriter interface {
	UpdateDeal(ctx context.Context, tenantID, connectorID uuid.UUID, key string, u crm.DealUpdate) error
	AddNote(ctx context.Context, tenantID, connectorID uuid.UUID, key string, n crm.Note) error
}

// NewCRMWriter exposes the adapter to the tests.
func NewCRMWriter(s *crm.Service) CRMWriter { return crmWriter{s} }
