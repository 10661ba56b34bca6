package app

import (
	"fmt"
	"strings"

	"github.com/eventdesk/eventdesk"
)

// Summarize tells in one sentence what an event did, e.g. "alice changed
// status from new to open". An event that cannot be decoded is told by its
// type.
func Summarize(e eventdesk.Event) string {
	who := e.Metadata.Actor
	if who == "" {
		who = "someone"
	}
	p, err := eventdesk.Decode(e)
	if err != nil {
		return fmt.Sprintf("%s recorded %s", who, e.Type)
	}
	switch v := p.(type) {
	case eventdesk.TicketCreated:
		// Titles are one line without control characters: quoted as
		// typed, not Go-escaped (a \" would show in the timeline).
		s := fmt.Sprintf("%s opened the ticket \"%s\"", who, v.Title)
		if v.Requester != who {
			s += " for " + v.Requester
		}
		if v.Assignee != "" {
			s += ", assigned to " + v.Assignee
		}
		return s
	case eventdesk.TitleChanged:
		return fmt.Sprintf("%s changed the title from \"%s\" to \"%s\"", who, v.From, v.To)
	case eventdesk.DescriptionChanged:
		return who + " edited the description"
	case eventdesk.PriorityChanged:
		s := fmt.Sprintf("%s changed priority from %s to %s", who, v.From, v.To)
		if v.Reason != "" {
			s += " (" + v.Reason + ")"
		}
		return s
	case eventdesk.TagsChanged:
		var parts []string
		if len(v.Added) > 0 {
			parts = append(parts, plural("added tag", len(v.Added))+" "+strings.Join(v.Added, ", "))
		}
		if len(v.Removed) > 0 {
			parts = append(parts, plural("removed tag", len(v.Removed))+" "+strings.Join(v.Removed, ", "))
		}
		return who + " " + strings.Join(parts, " and ")
	case eventdesk.TicketAssigned:
		if v.Previous != "" {
			return fmt.Sprintf("%s reassigned the ticket from %s to %s", who, v.Previous, v.Assignee)
		}
		return fmt.Sprintf("%s assigned the ticket to %s", who, v.Assignee)
	case eventdesk.TicketUnassigned:
		return fmt.Sprintf("%s unassigned %s", who, v.Previous)
	case eventdesk.StatusChanged:
		return fmt.Sprintf("%s changed status from %s to %s", who, v.From, v.To)
	case eventdesk.TicketCommented:
		if v.Internal {
			return who + " added an internal note"
		}
		return who + " commented"
	case eventdesk.SentimentScored:
		return fmt.Sprintf("%s scored the sentiment %s (%.2f)", who, v.Label, v.Score)
	}
	return fmt.Sprintf("%s recorded %s", who, e.Type)
}

func plural(s string, n int) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
