package httpapi_test

import (
	"strconv"
	"testing"
)

// TestListCommentCountHidesInternalNotes (issue 4): in the ticket list a
// requester's commentCount counts only public comments, so that they never
// learn that internal notes exist; staff and auditors count every comment.
// The single ticket agrees with the list for each role.
func TestListCommentCountHidesInternalNotes(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.createTicket(t, rita, `{"title":"VPN drops every hour"}`)
	comment := func(u user, body string) {
		t.Helper()
		mustStatus(t, e.do(t, u, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: body}), 201)
	}
	comment(agnes, `{"body":"same as the router ticket","internal":true}`)
	comment(agnes, `{"body":"Can you send the logs?"}`)
	comment(rita, `{"body":"Attached."}`)
	comment(adam, `{"body":"escalate if it happens again","internal":true}`)
	minPos := "minPosition=" + strconv.FormatInt(e.head(t), 10)

	for _, c := range []struct {
		u    user
		want int
	}{{rita, 2}, {agnes, 4}, {adam, 4}, {audrey, 4}} {
		r := e.do(t, c.u, req{method: "GET", path: "/api/v1/tickets?" + minPos})
		mustStatus(t, r, 200)
		var page struct {
			Items []ticketJSON `json:"items"`
		}
		r.json(t, &page)
		if len(page.Items) != 1 || page.Items[0].ID != tk.ID {
			t.Fatalf("%s: list: %s", c.u, r.body)
		}
		if got := page.Items[0].CommentCount; got != c.want {
			t.Errorf("%s: list item commentCount = %d, want %d", c.u, got, c.want)
		}
		r = e.do(t, c.u, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?" + minPos})
		mustStatus(t, r, 200)
		var one ticketJSON
		r.json(t, &one)
		if one.CommentCount != c.want || len(one.Comments) != c.want {
			t.Errorf("%s: ticket commentCount = %d with %d comments, want %d", c.u, one.CommentCount, len(one.Comments), c.want)
		}
	}
}
