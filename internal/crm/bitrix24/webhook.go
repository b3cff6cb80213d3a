package bitrix24

import (
	"context"
	"crypto/subtle"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// MaxEventBody caps an outgoing-event body: a real one is under 1 KB.
const MaxEventBody = 64 << 10

// Event names Bitrix24 posts (the docs spell them both ONCRMDEALUPDATE and
// onCrmDealUpdate; they are compared without case).
const (
	EventDealAdd       = "ONCRMDEALADD"
	EventDealUpdate    = "ONCRMDEALUPDATE"
	EventDealDelete    = "ONCRMDEALDELETE"
	EventContactAdd    = "ONCRMCONTACTADD"
	EventContactUpdate = "ONCRMCONTACTUPDATE"
)

// ParseWebhook decodes one outgoing event
// (https://apidocs.bitrix24.com/api-reference/crm/deals/events/on-crm-deal-update.html):
// a form body with event, data[FIELDS][ID], ts and auth[application_token],
// auth[domain], auth[member_id], ... It is refused with crm.ErrForged unless
// auth[application_token] equals the configured token (compared in constant
// time; a connector without a token accepts no events), and with
// crm.ErrMalformed when the body is not a form or lacks the event, a numeric
// id or ts.
//
// An event carries only the id. Deal updates come back as DealFieldChanged
// with DealID set and nothing else: the caller completes them with Resolve,
// which fetches the deal and tells a stage change from a field change given
// the stage it last knew. Events we do not use (other entities) give no
// events and no error, so the portal is not told to retry.
func (c *Client) ParseWebhook(_ context.Context, r crm.WebhookRequest) ([]crm.Event, error) {
	form, err := parseForm(r)
	if err != nil {
		return nil, err
	}
	got := form.Get("auth[application_token]")
	if c.appToken == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.appToken)) != 1 {
		return nil, fmt.Errorf("bitrix24: event: %w: application token does not match", crm.ErrForged)
	}
	return eventsOf(form, c.portal)
}

// parseForm reads the body as application/x-www-form-urlencoded.
func parseForm(r crm.WebhookRequest) (url.Values, error) {
	if len(r.Body) > MaxEventBody {
		return nil, fmt.Errorf("bitrix24: event: %w: body of %d bytes", crm.ErrMalformed, len(r.Body))
	}
	if r.ContentType != "" {
		mt, _, err := mime.ParseMediaType(r.ContentType)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("bitrix24: event: %w: content type %q", crm.ErrMalformed, r.ContentType)
		}
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return nil, fmt.Errorf("bitrix24: event: %w: %v", crm.ErrMalformed, err)
	}
	return form, nil
}

// eventsOf turns an authenticated form into typed events.
func eventsOf(form url.Values, portal string) ([]crm.Event, error) {
	name := strings.ToUpper(strings.TrimSpace(form.Get("event")))
	if name == "" {
		return nil, fmt.Errorf("bitrix24: event: %w: no event name", crm.ErrMalformed)
	}
	id := form.Get("data[FIELDS][ID]")
	if !validID(id) {
		return nil, fmt.Errorf("bitrix24: event %s: %w: data[FIELDS][ID] %q", name, crm.ErrMalformed, id)
	}
	ts, err := strconv.ParseInt(form.Get("ts"), 10, 64)
	if err != nil || ts <= 0 {
		return nil, fmt.Errorf("bitrix24: event %s: %w: ts %q", name, crm.ErrMalformed, form.Get("ts"))
	}
	account := form.Get("auth[member_id]")
	if account == "" {
		account = form.Get("auth[domain]")
	}
	if account == "" {
		account = portal
	}
	// The same delivery repeated has the same ts; two changes of one deal
	// in the same second share a key and are handled once, which loses
	// nothing because Resolve fetches the deal as it is now.
	e := crm.Event{
		Key:        strings.ToLower(name) + ":" + id + ":" + strconv.FormatInt(ts, 10),
		AccountID:  account,
		OccurredAt: time.Unix(ts, 0).UTC(),
	}
	switch name {
	case EventDealAdd:
		e.Type, e.DealID = crm.DealAdded, id
	case EventDealUpdate:
		e.Type, e.DealID = crm.DealFieldChanged, id
	case EventDealDelete:
		e.Type, e.DealID = crm.DealDeleted, id
	case EventContactAdd, EventContactUpdate:
		e.Type, e.ContactID = crm.ContactChanged, id
	default:
		return nil, nil
	}
	return []crm.Event{e}, nil
}

// Resolve completes a deal event by fetching the deal (crm.deal.get): it
// fills PipelineID, StageID and Fields (the deal's custom fields plus TITLE,
// OPPORTUNITY and ASSIGNED_BY_ID). A DealFieldChanged whose deal now sits in
// another stage than lastStage (the stage the service last recorded for
// this deal) becomes DealStageEntered with PrevStageID = lastStage. With
// lastStage empty (a deal never seen) the change stays DealFieldChanged: the
// service records the stage it now knows, so the next move is recognised
// (DealAdded events, resolved, give every new deal its first stage).
//
// The deal is fetched as it is at call time, so a deal moved twice before
// Resolve runs is reported at its latest stage only. DealDeleted and
// ContactChanged are returned unchanged (a deleted deal cannot be fetched).
// A deal that no longer exists answers crm.ErrNotFound.
func (c *Client) Resolve(ctx context.Context, e crm.Event, lastStage string) (crm.Event, error) {
	if e.Type != crm.DealFieldChanged && e.Type != crm.DealAdded {
		return e, nil
	}
	d, err := c.GetDeal(ctx, e.DealID)
	if err != nil {
		return e, err
	}
	e.PipelineID, e.StageID = d.PipelineID, d.StageID
	e.Fields = map[string]any{"TITLE": d.Name, "OPPORTUNITY": d.Price, "ASSIGNED_BY_ID": d.ResponsibleUserID}
	for k, v := range d.Fields {
		e.Fields[k] = v
	}
	if e.Type == crm.DealFieldChanged && lastStage != "" && lastStage != d.StageID {
		e.Type, e.PrevStageID = crm.DealStageEntered, lastStage
	}
	return e, nil
}
