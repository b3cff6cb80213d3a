package amocrm

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// amoCRM posts webhooks as application/x-www-form-urlencoded with PHP-style
// bracket keys, several entities and actions per POST
// (https://www.amocrm.ru/developers/content/crm_platform/webhooks-format):
//
//	leads[status][0][id]=25399013&leads[status][0][status_id]=142&
//	leads[status][0][old_status_id]=7039099&leads[status][0][pipeline_id]=3104455&
//	account[id]=29085955&account[subdomain]=example
//
// Webhooks are not signed; the URL carries a secret the service checks.

// Limits keep a hostile body from costing much: amoCRM sends at most a
// few hundred entities per POST.
const (
	maxItems = 500
	maxDepth = 8
)

// node is one level of the bracket tree.
type node struct {
	val  string
	kids map[string]*node
}

func (n *node) child(k string) *node {
	if n == nil || n.kids == nil {
		return nil
	}
	return n.kids[k]
}

func (n *node) str(k string) string {
	if c := n.child(k); c != nil {
		return c.val
	}
	return ""
}

// items are the children of n keyed by index, in index order.
func (n *node) items() ([]*node, error) {
	if n == nil {
		return nil, nil
	}
	if len(n.kids) > maxItems {
		return nil, fmt.Errorf("%w: too many items", crm.ErrMalformed)
	}
	idx := make([]int, 0, len(n.kids))
	byIdx := make(map[int]*node, len(n.kids))
	for k, c := range n.kids {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 {
			return nil, fmt.Errorf("%w: item index %q", crm.ErrMalformed, k)
		}
		idx = append(idx, i)
		byIdx[i] = c
	}
	sort.Ints(idx)
	out := make([]*node, len(idx))
	for j, i := range idx {
		out[j] = byIdx[i]
	}
	return out, nil
}

// splitKey turns "leads[status][0][id]" into [leads status 0 id].
func splitKey(k string) ([]string, error) {
	open := strings.IndexByte(k, '[')
	if open < 0 {
		if k == "" || strings.ContainsRune(k, ']') {
			return nil, fmt.Errorf("%w: key %q", crm.ErrMalformed, k)
		}
		return []string{k}, nil
	}
	parts := []string{k[:open]}
	rest := k[open:]
	for rest != "" {
		if rest[0] != '[' {
			return nil, fmt.Errorf("%w: key %q", crm.ErrMalformed, k)
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("%w: key %q", crm.ErrMalformed, k)
		}
		seg := rest[1:end]
		if strings.IndexByte(seg, '[') >= 0 {
			return nil, fmt.Errorf("%w: key %q", crm.ErrMalformed, k)
		}
		parts = append(parts, seg)
		rest = rest[end+1:]
		if len(parts) > maxDepth {
			return nil, fmt.Errorf("%w: key %q nests too deep", crm.ErrMalformed, k)
		}
	}
	if parts[0] == "" {
		return nil, fmt.Errorf("%w: key %q", crm.ErrMalformed, k)
	}
	return parts, nil
}

func parseTree(body []byte) (*node, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", crm.ErrMalformed, err)
	}
	root := &node{kids: map[string]*node{}}
	for k, vs := range vals {
		path, err := splitKey(k)
		if err != nil {
			return nil, err
		}
		n := root
		for _, seg := range path {
			if n.kids == nil {
				n.kids = map[string]*node{}
			}
			c := n.kids[seg]
			if c == nil {
				c = &node{}
				n.kids[seg] = c
			}
			n = c
		}
		if len(vs) > 0 {
			n.val = vs[len(vs)-1]
		}
	}
	return root, nil
}

// ParseWebhook decodes one POST. account is the connector's account domain
// (example.amocrm.ru): a webhook from another account is ErrForged.
func ParseWebhook(account string, body []byte) ([]crm.Event, error) {
	root, err := parseTree(body)
	if err != nil {
		return nil, err
	}
	acc := root.child("account")
	sub := acc.str("subdomain")
	if sub == "" {
		return nil, fmt.Errorf("%w: no account[subdomain]", crm.ErrMalformed)
	}
	if want, _, _ := strings.Cut(account, "."); !strings.EqualFold(sub, want) {
		return nil, fmt.Errorf("%w: webhook of account %q", crm.ErrForged, sub)
	}
	accountID := acc.str("id")
	var out []crm.Event
	leads := root.child("leads")
	for _, action := range []string{"add", "status", "update", "responsible", "delete"} {
		items, err := leads.child(action).items()
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			e, err := leadEvent(action, it)
			if err != nil {
				return nil, err
			}
			e.AccountID = accountID
			out = append(out, e)
		}
	}
	contacts := root.child("contacts")
	for _, action := range []string{"add", "update"} {
		items, err := contacts.child(action).items()
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if t := it.str("type"); t != "" && t != "contact" {
				continue // companies arrive under contacts with type=company
			}
			id, err := entityID(it)
			if err != nil {
				return nil, err
			}
			at := unixOf(it, "last_modified", "updated_at", "date_create", "created_at")
			fields, err := customFields(it)
			if err != nil {
				return nil, err
			}
			if name := it.str("name"); name != "" {
				fields["name"] = name
			}
			out = append(out, crm.Event{Type: crm.ContactChanged, AccountID: accountID, ContactID: id,
				Key: fmt.Sprintf("contact:%s:%s:%d", id, action, at.Unix()), Fields: fields, OccurredAt: at})
		}
	}
	return out, nil
}

func entityID(it *node) (string, error) {
	id := it.str("id")
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
		return "", fmt.Errorf("%w: entity id %q", crm.ErrMalformed, id)
	}
	return id, nil
}

// optionalID checks an id that may be absent.
func optionalID(it *node, k string) (string, error) {
	v := it.str(k)
	if v == "" {
		return "", nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
		return "", fmt.Errorf("%w: %s %q", crm.ErrMalformed, k, v)
	}
	return v, nil
}

func unixOf(it *node, keys ...string) time.Time {
	for _, k := range keys {
		if n, err := strconv.ParseInt(it.str(k), 10, 64); err == nil && n > 0 && n < 1<<40 {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Time{}
}

func leadEvent(action string, it *node) (crm.Event, error) {
	id, err := entityID(it)
	if err != nil {
		return crm.Event{}, err
	}
	e := crm.Event{DealID: id, OccurredAt: unixOf(it, "last_modified", "updated_at", "date_create", "created_at")}
	if e.PipelineID, err = optionalID(it, "pipeline_id"); err != nil {
		return crm.Event{}, err
	}
	if e.StageID, err = optionalID(it, "status_id"); err != nil {
		return crm.Event{}, err
	}
	if e.PrevStageID, err = optionalID(it, "old_status_id"); err != nil {
		return crm.Event{}, err
	}
	at := e.OccurredAt.Unix()
	switch action {
	case "add":
		e.Type, e.Key = crm.DealAdded, "lead:"+id+":add"
	case "status":
		e.Type, e.Key = crm.DealStageEntered, fmt.Sprintf("lead:%s:status:%s:%d", id, e.StageID, at)
	case "update", "responsible":
		e.Type, e.Key = crm.DealFieldChanged, fmt.Sprintf("lead:%s:%s:%d", id, action, at)
	case "delete":
		e.Type, e.Key = crm.DealDeleted, "lead:"+id+":delete"
	}
	if action == "delete" {
		return e, nil
	}
	if e.Fields, err = customFields(it); err != nil {
		return crm.Event{}, err
	}
	for _, k := range []string{"name", "price", "responsible_user_id"} {
		if v := it.str(k); v != "" {
			e.Fields[k] = v
		}
	}
	return e, nil
}

// customFields reads [custom_fields][i][id] and [values][j][value] into
// field id -> value (one value) or []string (several).
func customFields(it *node) (map[string]any, error) {
	out := map[string]any{}
	cfs, err := it.child("custom_fields").items()
	if err != nil {
		return nil, err
	}
	for _, cf := range cfs {
		id, err := optionalID(cf, "id")
		if err != nil || id == "" {
			return nil, fmt.Errorf("%w: custom field without an id", crm.ErrMalformed)
		}
		vals, err := cf.child("values").items()
		if err != nil {
			return nil, err
		}
		var vs []string
		for _, v := range vals {
			s := v.str("value")
			if s == "" {
				s = v.val // values[0]=x (older accounts)
			}
			vs = append(vs, s)
		}
		switch len(vs) {
		case 0:
			out[id] = nil
		case 1:
			out[id] = vs[0]
		default:
			out[id] = vs
		}
	}
	return out, nil
}
