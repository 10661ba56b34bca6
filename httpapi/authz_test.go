package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAuthorization checks every role against every endpoint: anonymous,
// the requester who owns the ticket (rita), another requester (otto), an
// agent, an admin and an auditor.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	// Answers by role, in the order of allUser.
	type row struct {
		name string
		// rq builds the request; id is a fresh ticket of rita's (with an
		// internal note), tok a fresh token id.
		rq   func(id, tok string) req
		want [6]int
	}
	const (
		ok  = 200
		cr  = 201
		nc  = 204
		un  = 401
		fb  = 403
		nf  = 404
		any = `*`
	)
	patch := func(body string) func(id, tok string) req {
		return func(id, _ string) req {
			return req{method: "PATCH", path: "/api/v1/tickets/" + id, body: body, header: map[string]string{"If-Match": any}}
		}
	}
	get := func(path string) func(id, tok string) req {
		return func(id, _ string) req { return req{method: "GET", path: strings.ReplaceAll(path, "{id}", id)} }
	}
	rows := []row{
		{"create ticket", func(string, string) req {
			return req{method: "POST", path: "/api/v1/tickets", body: `{"title":"t"}`}
		}, [6]int{un, cr, cr, cr, cr, fb}},
		{"create ticket for someone else", func(string, string) req {
			return req{method: "POST", path: "/api/v1/tickets", body: `{"title":"t","requester":"zed"}`}
		}, [6]int{un, fb, fb, cr, cr, fb}},
		{"create ticket with assignee", func(string, string) req {
			return req{method: "POST", path: "/api/v1/tickets", body: `{"title":"t","assignee":"agnes"}`}
		}, [6]int{un, fb, fb, cr, cr, fb}},
		{"list tickets", get("/api/v1/tickets"), [6]int{un, ok, ok, ok, ok, ok}},
		{"list another requester's tickets", get("/api/v1/tickets?requester=zed"), [6]int{un, fb, fb, ok, ok, ok}},
		{"get ticket", get("/api/v1/tickets/{id}?minPosition=1"), [6]int{un, ok, nf, ok, ok, ok}},
		{"get ticket as of a version", get("/api/v1/tickets/{id}?version=1"), [6]int{un, ok, nf, ok, ok, ok}},
		{"get ticket as of a time", get("/api/v1/tickets/{id}?asOf=" + q(time.Now().Add(time.Hour).Format(time.RFC3339))), [6]int{un, ok, nf, ok, ok, ok}},
		{"history", get("/api/v1/tickets/{id}/history"), [6]int{un, ok, nf, ok, ok, ok}},
		{"patch title", patch(`{"title":"new title"}`), [6]int{un, ok, nf, ok, ok, fb}},
		{"patch description", patch(`{"description":"more"}`), [6]int{un, ok, nf, ok, ok, fb}},
		{"patch priority", patch(`{"priority":"urgent"}`), [6]int{un, fb, nf, ok, ok, fb}},
		{"patch tags", patch(`{"tags":["x"]}`), [6]int{un, fb, nf, ok, ok, fb}},
		{"patch assignee", patch(`{"assignee":"agnes"}`), [6]int{un, fb, nf, ok, ok, fb}},
		{"patch status pending", patch(`{"status":"pending"}`), [6]int{un, fb, nf, ok, ok, fb}},
		{"patch status closed", patch(`{"status":"closed"}`), [6]int{un, ok, nf, ok, ok, fb}},
		{"put", func(id, _ string) req {
			return req{method: "PUT", path: "/api/v1/tickets/" + id, body: `{"title":"replaced","priority":"normal","status":"new"}`, header: map[string]string{"If-Match": any}}
		}, [6]int{un, ok, nf, ok, ok, fb}},
		{"comment", func(id, _ string) req {
			return req{method: "POST", path: "/api/v1/tickets/" + id + "/comments", body: `{"body":"hello"}`}
		}, [6]int{un, cr, nf, cr, cr, fb}},
		{"internal note", func(id, _ string) req {
			return req{method: "POST", path: "/api/v1/tickets/" + id + "/comments", body: `{"body":"psst","internal":true}`}
		}, [6]int{un, fb, fb, cr, cr, fb}},
		{"stats", get("/api/v1/stats"), [6]int{un, fb, fb, ok, ok, ok}},
		{"changefeed", get("/api/v1/events"), [6]int{un, ok, ok, ok, ok, ok}},
		{"me", get("/api/v1/me"), [6]int{un, ok, ok, ok, ok, ok}},
		{"list tokens", get("/api/v1/tokens"), [6]int{un, fb, fb, fb, ok, fb}},
		{"create token", func(string, string) req {
			return req{method: "POST", path: "/api/v1/tokens", body: `{"user":"bot","role":"agent"}`}
		}, [6]int{un, fb, fb, fb, cr, fb}},
		{"revoke token", func(_, tok string) req {
			return req{method: "DELETE", path: "/api/v1/tokens/" + tok}
		}, [6]int{un, fb, fb, fb, nc, fb}},
		{"openapi", get("/api/openapi.json"), [6]int{ok, ok, ok, ok, ok, ok}},
		{"healthz", get("/healthz"), [6]int{ok, ok, ok, ok, ok, ok}},
		{"readyz", get("/readyz"), [6]int{ok, ok, ok, ok, ok, ok}},
		{"metrics", get("/metrics"), [6]int{ok, ok, ok, ok, ok, ok}},
	}
	for _, rw := range rows {
		for i, u := range allUser {
			t.Run(rw.name+"/"+u.String(), func(t *testing.T) {
				tk, _ := e.createTicket(t, rita, `{"title":"rita's"}`)
				r := e.do(t, agnes, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: `{"body":"internal","internal":true}`})
				mustStatus(t, r, 201)
				tr := e.do(t, adam, req{method: "POST", path: "/api/v1/tokens", body: `{"user":"x","role":"requester"}`})
				mustStatus(t, tr, 201)
				var tok struct {
					ID string `json:"id"`
				}
				tr.json(t, &tok)
				// Reads of the read model see the setup.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := e.rm.WaitFor(ctx, e.head(t)); err != nil {
					t.Fatal(err)
				}
				rq := rw.rq(tk.ID, tok.ID)
				got := e.do(t, u, rq)
				if got.status != rw.want[i] {
					t.Fatalf("%s %s as %s: %s, want %d", rq.method, rq.path, u, got, rw.want[i])
				}
				// Whatever a requester may read, internal notes stay hidden.
				if u.role == "requester" && strings.Contains(string(got.body), "internal\"") && strings.Contains(string(got.body), `"internal":true`) {
					t.Fatalf("requester sees an internal note: %s", got.body)
				}
			})
		}
	}

	t.Run("event stream", func(t *testing.T) {
		for i, u := range allUser {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/events/stream", nil)
			if u.name != "" {
				r.AddCookie(&http.Cookie{Name: "eventdesk_session", Value: e.sessions.Encode(actor(u))})
			}
			resp, err := e.client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			want := []int{un, ok, ok, ok, ok, ok}[i]
			if resp.StatusCode != want {
				t.Errorf("stream as %s: %d, want %d", u, resp.StatusCode, want)
			}
			resp.Body.Close()
			cancel()
		}
	})
}
