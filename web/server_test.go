package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/eventdesk/eventdesk"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	id := c.openTicket("Printer jams", "Floor 3", url.Values{"tags": {"hardware, floor-3"}})
	r := c.follow("/tickets/" + id)
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "Printer jams", "Ticket created.")
	r = c.follow("/tickets")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "Printer jams")
	r = c.follow("/tickets/" + id + "/history")
	mustStatus(t, r, http.StatusOK)
	r = c.follow("/dashboard")
	mustStatus(t, r, http.StatusOK)
	t.Log(len(r.Body))
}
