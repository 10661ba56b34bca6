package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// TestListCommentCountHidesInternalNotes (issue 4): a requester's ticket
// list counts only the comments they can see; an agent's counts internal
// notes too.
func TestListCommentCountHidesInternalNotes(t *testing.T) {
	e := newEnv(t)
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	agent := e.client(t).signin("bob", eventdesk.RoleAgent)
	id := rita.openTicket("Rita's laptop", "", nil)
	e.settle(t)
	note := func(body, visibility string) {
		t.Helper()
		r := agent.follow("/tickets/" + id)
		mustStatus(t, agent.submit("/tickets/"+id, "/tickets/"+id+"/comments",
			url.Values{"version": {formVersion(t, r.Body)}, "body": {body}, "visibility": {visibility}}), http.StatusSeeOther)
		e.settle(t)
	}
	note("Internal: warranty ends soon", "internal")
	r := rita.get("/tickets")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "Rita&#39;s laptop")
	mustNotContain(t, r.Body, "1 comment")
	r = agent.get("/tickets")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "1 comment")

	note("We ordered a new battery.", "public")
	mustContain(t, rita.get("/tickets").Body, "1 comment")
	mustNotContain(t, rita.get("/tickets").Body, "2 comments")
	mustContain(t, agent.get("/tickets").Body, "2 comments")
}
