package loadgen

import (
	"strings"

	"github.com/eventdesk/eventdesk"
)

// StepsDone tells how far an interrupted load got with ticket t from the
// events of its stream, when ids cannot tell (over HTTP the server chooses
// them): it returns how many of t.Steps are done, so that the load resumes
// with t.Steps[StepsDone(…)].
//
// It matches the steps in order to the events written by actor (every
// actor when empty; policies, such as the escalation policy, write as
// "policy:…" and never count): a comment by its body, a status change,
// assignment or priority change by its new value. A step without a match
// is taken as not done, unless a later step matched: then it was done and
// recorded nothing (its change had already been made, e.g. by a policy).
func StepsDone(t Ticket, events []eventdesk.Event, actor string) int {
	done, cursor := 0, 0
	for k, s := range t.Steps {
		for j := cursor; j < len(events); j++ {
			e := events[j]
			if actor != "" && e.Metadata.Actor != actor || strings.HasPrefix(e.Metadata.Actor, "policy:") {
				continue
			}
			if matches(s, e) {
				done, cursor = k+1, j+1
				break
			}
		}
	}
	return done
}

// matches reports whether e is the event step s records first.
func matches(s Step, e eventdesk.Event) bool {
	p, err := eventdesk.Decode(e)
	if err != nil {
		return false
	}
	switch s.Kind {
	case Comment:
		c, ok := p.(eventdesk.TicketCommented)
		return ok && c.Internal == s.Internal && c.Body == strings.TrimSpace(s.Body)
	case Status:
		c, ok := p.(eventdesk.StatusChanged)
		return ok && c.To == s.Status
	case Assign:
		c, ok := p.(eventdesk.TicketAssigned)
		return ok && c.Assignee == s.Assignee
	case Escalate:
		c, ok := p.(eventdesk.PriorityChanged)
		return ok && c.To == s.Priority
	}
	return false
}
