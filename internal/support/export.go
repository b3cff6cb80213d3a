package support

import (
	"fmt"
	"strings"
	"time"
)

// ExportText renders a ticket and its history as plain text: who wrote
// what and when (UTC), notes marked, files named by kind.
func ExportText(t Ticket, msgs []Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Request #%d — %s\n", t.No, t.ContactName)
	fmt.Fprintf(&b, "Status: %s\n", t.Status)
	if t.AssigneeName != "" {
		fmt.Fprintf(&b, "Assignee: %s\n", t.AssigneeName)
	}
	if len(t.Tags) > 0 {
		fmt.Fprintf(&b, "Tags: %s\n", strings.Join(t.Tags, ", "))
	}
	fmt.Fprintf(&b, "Opened: %s\n", stamp(t.OpenedAt))
	if t.FirstResponseAt != nil {
		fmt.Fprintf(&b, "First response: %s\n", stamp(*t.FirstResponseAt))
	}
	if t.ResolvedAt != nil {
		fmt.Fprintf(&b, "Resolved: %s\n", stamp(*t.ResolvedAt))
	}
	b.WriteString("\n")
	for _, m := range msgs {
		who := m.AuthorName
		switch m.Direction {
		case "in":
			who += " (person)"
		case "out":
			who += " (agent)"
		case "note":
			who += " (internal note)"
		}
		fmt.Fprintf(&b, "[%s] %s:\n", stamp(m.CreatedAt), strings.TrimSpace(who))
		if m.Kind != "text" {
			fmt.Fprintf(&b, "  <%s>\n", m.Kind)
		}
		if m.Text != "" {
			for _, line := range strings.Split(m.Text, "\n") {
				b.WriteString("  " + line + "\n")
			}
		}
	}
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
