package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestHostileRequests sends malformed and hostile requests: each must get
// the right 4xx problem, and none may change anything.
func TestHostileRequests(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.createTicket(t, rita, `{"title":"rita's ticket"}`)
	closed, _ := e.createTicket(t, agnes, `{"title":"closed one"}`)
	mustStatus(t, e.do(t, agnes, req{method: "PATCH", path: "/api/v1/tickets/" + closed.ID, body: `{"status":"closed"}`, header: map[string]string{"If-Match": `"1"`}}), 200)
	mustStatus(t, e.do(t, rita, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"keyed"}`, header: map[string]string{"Idempotency-Key": "k1"}}), 201)
	tr := e.do(t, adam, req{method: "POST", path: "/api/v1/tokens", body: `{"user":"bot","role":"agent"}`})
	mustStatus(t, tr, 201)
	tokensBefore := string(e.do(t, adam, req{method: "GET", path: "/api/v1/tokens"}).body)
	head := e.head(t)

	id := tk.ID
	tp := "/api/v1/tickets/" + id
	ifm := map[string]string{"If-Match": `"1"`}
	json := func(m map[string]string) map[string]string {
		out := map[string]string{"Content-Type": "application/json"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	post := func(body string) req { return req{method: "POST", path: "/api/v1/tickets", body: body} }
	patch := func(body string) req { return req{method: "PATCH", path: tp, body: body, header: ifm} }
	comment := func(body string) req { return req{method: "POST", path: tp + "/comments", body: body} }
	get := func(path string) req { return req{method: "GET", path: path} }
	long := func(n int) string { return strings.Repeat("x", n) }
	tags := func(n int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf(`"t%d"`, i))
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	bearer := func(v string) user { return user{header: http.Header{"Authorization": {v}}} }
	cookie := func(v string) user { return user{header: http.Header{"Cookie": {"eventdesk_session=" + v}}} }

	type tc struct {
		name string
		as   user
		rq   req
		code int
		typ  string // problem code
	}
	cases := []tc{
		// Malformed JSON and wrong shapes.
		{"truncated JSON", agnes, post(`{"title":`), 400, "invalid"},
		{"open brace", agnes, post(`{`), 400, "invalid"},
		{"array body", agnes, post(`[]`), 400, "invalid"},
		{"string body", agnes, post(`"title"`), 400, "invalid"},
		{"number body", agnes, post(`42`), 400, "invalid"},
		{"null body", agnes, post(`null`), 400, "invalid"},
		{"trailing garbage", agnes, post(`{"title":"a"} x`), 400, "invalid"},
		{"two objects", agnes, post(`{"title":"a"}{"title":"b"}`), 400, "invalid"},
		{"empty body", agnes, req{method: "POST", path: "/api/v1/tickets", header: map[string]string{"Content-Type": "application/json"}}, 400, "invalid"},
		{"whitespace body", agnes, post("   \n "), 400, "invalid"},
		{"single quotes", agnes, post(`{'title':'a'}`), 400, "invalid"},
		{"comment in JSON", agnes, post(`{"title":"a" /* hi */}`), 400, "invalid"},
		{"NaN", agnes, post(`{"title":NaN}`), 400, "invalid"},
		{"invalid UTF-8", agnes, post("{\"title\":\"\xff\xfe\"}"), 400, "invalid"},
		{"deep nesting", agnes, post(`{"title":"a","tags":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), 400, "invalid"},
		{"title is a number", agnes, post(`{"title":1}`), 400, "invalid"},
		{"title is an object", agnes, post(`{"title":{}}`), 400, "invalid"},
		{"title is null-ish array", agnes, post(`{"title":[]}`), 400, "invalid"},
		{"tags is a string", agnes, post(`{"title":"a","tags":"x"}`), 400, "invalid"},
		{"tags of numbers", agnes, post(`{"title":"a","tags":[1,2]}`), 400, "invalid"},
		{"priority is a number", agnes, post(`{"title":"a","priority":5}`), 400, "invalid"},
		{"description is a bool", agnes, post(`{"title":"a","description":true}`), 400, "invalid"},
		{"unknown field", agnes, post(`{"title":"a","foo":1}`), 400, "invalid"},
		{"read-only id", agnes, post(`{"title":"a","id":"` + id + `"}`), 400, "invalid"},
		{"read-only status", agnes, post(`{"title":"a","status":"open"}`), 400, "invalid"},
		{"read-only version", agnes, post(`{"title":"a","version":7}`), 400, "invalid"},
		{"field case", agnes, post(`{"Title":"a","TITLE":"b","foo":1}`), 400, "invalid"},
		// Invalid values.
		{"missing title", agnes, post(`{}`), 400, "invalid"},
		{"empty title", agnes, post(`{"title":""}`), 400, "invalid"},
		{"blank title", agnes, post(`{"title":"   "}`), 400, "invalid"},
		{"zero-width title", agnes, post(`{"title":"\u200b\u200b"}`), 400, "invalid"},
		{"long title", agnes, post(`{"title":"` + long(201) + `"}`), 400, "invalid"},
		{"title with newline", agnes, post(`{"title":"a\nb"}`), 400, "invalid"},
		{"title with NUL", agnes, post(`{"title":"a\u0000b"}`), 400, "invalid"},
		{"title with line separator", agnes, post(`{"title":"a\u2028b"}`), 400, "invalid"},
		{"bad priority", agnes, post(`{"title":"a","priority":"critical"}`), 400, "invalid"},
		{"priority case", agnes, post(`{"title":"a","priority":"HIGH"}`), 400, "invalid"},
		{"too many tags", agnes, post(`{"title":"a","tags":` + tags(21) + `}`), 400, "invalid"},
		{"tag with space", agnes, post(`{"title":"a","tags":["a b"]}`), 400, "invalid"},
		{"empty tag", agnes, post(`{"title":"a","tags":[""]}`), 400, "invalid"},
		{"long tag", agnes, post(`{"title":"a","tags":["` + long(41) + `"]}`), 400, "invalid"},
		{"tag with markup", agnes, post(`{"title":"a","tags":["<script>"]}`), 400, "invalid"},
		{"bad requester name", agnes, post(`{"title":"a","requester":"bob smith"}`), 400, "invalid"},
		{"long requester", agnes, post(`{"title":"a","requester":"` + long(65) + `"}`), 400, "invalid"},
		{"bad assignee", agnes, post(`{"title":"a","assignee":"<b>"}`), 400, "invalid"},
		{"description too long", agnes, post(`{"title":"a","description":"` + long(65<<10) + `"}`), 400, "invalid"},
		{"description with control chars", agnes, post(`{"title":"a","description":"\u0007"}`), 400, "invalid"},
		// Size and media type.
		{"body over 1 MiB", agnes, post(`{"title":"a","description":"` + long(1<<20) + `"}`), 413, "too_large"},
		{"no content type", agnes, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Content-Type": ""}}, 415, "unsupported_media_type"},
		{"text/plain", agnes, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"xml", agnes, req{method: "POST", path: "/api/v1/tickets", body: `<t/>`, header: map[string]string{"Content-Type": "application/xml"}}, 415, "unsupported_media_type"},
		{"form", agnes, req{method: "POST", path: "/api/v1/tickets", body: `title=a`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"latin-1 charset", agnes, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Content-Type": "application/json; charset=latin1"}}, 415, "unsupported_media_type"},
		{"malformed content type", agnes, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Content-Type": "application/"}}, 415, "unsupported_media_type"},
		{"merge patch on create", agnes, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Content-Type": "application/merge-patch+json"}}, 415, "unsupported_media_type"},
		{"merge patch on put", agnes, req{method: "PUT", path: tp, body: `{"title":"a","priority":"low","status":"new"}`, header: map[string]string{"Content-Type": "application/merge-patch+json", "If-Match": `"1"`}}, 415, "unsupported_media_type"},
		// Authentication.
		{"anonymous create", anon, post(`{"title":"a"}`), 401, "unauthorized"},
		{"anonymous list", anon, get("/api/v1/tickets"), 401, "unauthorized"},
		{"unknown token", bearer("Bearer edk_" + long(43)), get("/api/v1/tickets"), 401, "unauthorized"},
		{"token without prefix", bearer("Bearer abc"), get("/api/v1/tickets"), 401, "unauthorized"},
		{"basic auth", bearer("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), get("/api/v1/tickets"), 401, "unauthorized"},
		{"empty bearer", bearer("Bearer "), get("/api/v1/tickets"), 401, "unauthorized"},
		{"huge token", bearer("Bearer edk_" + long(5000)), get("/api/v1/tickets"), 401, "unauthorized"},
		{"forged cookie", cookie("eyJ1IjoiYWRhbSIsInIiOiJhZG1pbiIsImUiOjk5OTk5OTk5OTl9.AAAA"), get("/api/v1/tickets"), 401, "unauthorized"},
		{"cookie without signature", cookie("eyJ1IjoiYWRhbSIsInIiOiJhZG1pbiIsImUiOjk5OTk5OTk5OTl9"), post(`{"title":"a"}`), 401, "unauthorized"},
		{"garbage cookie", cookie("%%%"), get("/api/v1/me"), 401, "unauthorized"},
		// Forbidden.
		{"auditor creates", audrey, post(`{"title":"a"}`), 403, "forbidden"},
		{"requester assigns on create", rita, post(`{"title":"a","assignee":"agnes"}`), 403, "forbidden"},
		{"requester opens for another", rita, post(`{"title":"a","requester":"otto"}`), 403, "forbidden"},
		{"requester internal note", rita, comment(`{"body":"x","internal":true}`), 403, "forbidden"},
		{"requester sets priority", rita, patch(`{"priority":"urgent"}`), 403, "forbidden"},
		{"requester sets tags", rita, patch(`{"tags":["x"]}`), 403, "forbidden"},
		{"requester assigns", rita, patch(`{"assignee":"rita"}`), 403, "forbidden"},
		{"requester sets pending", rita, patch(`{"status":"pending"}`), 403, "forbidden"},
		{"requester stats", rita, get("/api/v1/stats"), 403, "forbidden"},
		{"requester lists others", rita, get("/api/v1/tickets?requester=otto"), 403, "forbidden"},
		{"agent lists tokens", agnes, get("/api/v1/tokens"), 403, "forbidden"},
		{"agent creates token", agnes, req{method: "POST", path: "/api/v1/tokens", body: `{"user":"x","role":"admin"}`}, 403, "forbidden"},
		{"auditor patches", audrey, patch(`{"title":"x"}`), 403, "forbidden"},
		{"auditor comments", audrey, comment(`{"body":"x"}`), 403, "forbidden"},
		// Not found, including what a requester may not know exists.
		{"other's ticket", otto, get(tp), 404, "not_found"},
		{"other's history", otto, get(tp + "/history"), 404, "not_found"},
		{"other's ticket patch", otto, patch(`{"title":"mine now"}`), 404, "not_found"},
		{"other's ticket comment", otto, comment(`{"body":"hi"}`), 404, "not_found"},
		{"bad id", agnes, get("/api/v1/tickets/not-a-uuid"), 404, "not_found"},
		{"upper-case id", agnes, get("/api/v1/tickets/" + strings.ToUpper(id)), 404, "not_found"},
		{"unknown id", agnes, get("/api/v1/tickets/00000000-0000-7000-8000-000000000000"), 404, "not_found"},
		{"sql in id", agnes, get("/api/v1/tickets/" + q("' OR 1=1 --")), 404, "not_found"},
		{"traversal in id", agnes, get("/api/v1/tickets/..%2F..%2Fetc%2Fpasswd"), 404, "not_found"},
		{"unknown history", agnes, get("/api/v1/tickets/00000000-0000-7000-8000-000000000000/history"), 404, "not_found"},
		{"comment unknown ticket", agnes, req{method: "POST", path: "/api/v1/tickets/00000000-0000-7000-8000-000000000000/comments", body: `{"body":"x"}`}, 404, "not_found"},
		{"patch unknown ticket", agnes, req{method: "PATCH", path: "/api/v1/tickets/00000000-0000-7000-8000-000000000000", body: `{"title":"x"}`, header: ifm}, 404, "not_found"},
		{"revoke unknown token", adam, req{method: "DELETE", path: "/api/v1/tokens/00000000-0000-7000-8000-000000000000"}, 404, "not_found"},
		{"revoke bad token id", adam, req{method: "DELETE", path: "/api/v1/tokens/x"}, 404, "not_found"},
		{"unknown route", agnes, get("/api/v1/ticket"), 404, "route_not_found"},
		{"unknown version", agnes, get("/api/v2/tickets"), 404, "route_not_found"},
		{"unknown sub-resource", agnes, get(tp + "/attachments"), 404, "route_not_found"},
		{"root", anon, get("/nothing-here"), 404, "route_not_found"},
		{"version past the end", agnes, get(tp + "?version=99"), 404, "not_found"},
		{"asOf before creation", agnes, get(tp + "?asOf=2000-01-01T00:00:00Z"), 404, "not_found"},
		// Methods.
		{"delete collection", agnes, req{method: "DELETE", path: "/api/v1/tickets"}, 405, "method_not_allowed"},
		{"put collection", agnes, req{method: "PUT", path: "/api/v1/tickets", body: `{}`}, 405, "method_not_allowed"},
		{"delete ticket", agnes, req{method: "DELETE", path: tp}, 405, "method_not_allowed"},
		{"post stats", agnes, req{method: "POST", path: "/api/v1/stats", body: `{}`}, 405, "method_not_allowed"},
		{"patch events", agnes, req{method: "PATCH", path: "/api/v1/events", body: `{}`}, 405, "method_not_allowed"},
		{"post history", agnes, req{method: "POST", path: tp + "/history", body: `{}`}, 405, "method_not_allowed"},
		{"get comments", agnes, get(tp + "/comments"), 405, "method_not_allowed"},
		// Preconditions.
		{"patch without If-Match", agnes, req{method: "PATCH", path: tp, body: `{"title":"x"}`}, 428, "precondition_required"},
		{"put without If-Match", agnes, req{method: "PUT", path: tp, body: `{"title":"x","priority":"low","status":"new"}`}, 428, "precondition_required"},
		{"stale If-Match", agnes, req{method: "PATCH", path: tp, body: `{"title":"x"}`, header: map[string]string{"If-Match": `"7"`}}, 412, "precondition"},
		{"stale If-Match on put", agnes, req{method: "PUT", path: tp, body: `{"title":"x","priority":"low","status":"new"}`, header: map[string]string{"If-Match": `"2"`}}, 412, "precondition"},
		{"stale If-Match on comment", agnes, req{method: "POST", path: tp + "/comments", body: `{"body":"x"}`, header: json(map[string]string{"If-Match": `"5"`})}, 412, "precondition"},
		{"unquoted If-Match", agnes, req{method: "PATCH", path: tp, body: `{"title":"x"}`, header: map[string]string{"If-Match": `1`}}, 400, "invalid"},
		{"weak If-Match", agnes, req{method: "PATCH", path: tp, body: `{"title":"x"}`, header: map[string]string{"If-Match": `W/"1"`}}, 400, "invalid"},
		{"two If-Match", agnes, req{method: "PATCH", path: tp, body: `{"title":"x"}`, header: map[string]string{"If-Match": `"1", "2"`}}, 400, "invalid"},
		{"zero If-Match", agnes, req{method: "PATCH", path: tp, body: `{"title":"x"}`, header: map[string]string{"If-Match": `"0"`}}, 400, "invalid"},
		{"text If-Match", agnes, req{method: "PATCH", path: tp, body: `{"title":"x"}`, header: map[string]string{"If-Match": `"abc"`}}, 400, "invalid"},
		// Merge patches and replacements.
		{"patch null title", agnes, patch(`{"title":null}`), 400, "invalid"},
		{"patch read-only id", agnes, patch(`{"id":"x"}`), 400, "invalid"},
		{"patch read-only version", agnes, patch(`{"version":9}`), 400, "invalid"},
		{"patch read-only requester", agnes, patch(`{"requester":"otto"}`), 400, "invalid"},
		{"patch read-only comments", agnes, patch(`{"comments":[]}`), 400, "invalid"},
		{"patch unknown field", agnes, patch(`{"colour":"red"}`), 400, "invalid"},
		{"patch tags string", agnes, patch(`{"tags":"a"}`), 400, "invalid"},
		{"patch bad priority", agnes, patch(`{"priority":"meh"}`), 400, "invalid"},
		{"patch bad status", agnes, patch(`{"status":"done"}`), 400, "invalid"},
		{"patch array", agnes, patch(`[{"op":"replace","path":"/title","value":"x"}]`), 400, "invalid"},
		{"patch null", agnes, patch(`null`), 400, "invalid"},
		{"patch assignee number", agnes, patch(`{"assignee":5}`), 400, "invalid"},
		{"patch empty title", agnes, patch(`{"title":""}`), 400, "invalid"},
		{"put missing fields", agnes, req{method: "PUT", path: tp, body: `{"title":"x"}`, header: ifm}, 400, "invalid"},
		{"put unknown field", agnes, req{method: "PUT", path: tp, body: `{"title":"x","priority":"low","status":"new","x":1}`, header: ifm}, 400, "invalid"},
		{"status transition", agnes, req{method: "PATCH", path: "/api/v1/tickets/" + closed.ID, body: `{"status":"pending"}`, header: map[string]string{"If-Match": `"2"`}}, 409, "conflict"},
		{"edit a closed ticket", agnes, req{method: "PATCH", path: "/api/v1/tickets/" + closed.ID, body: `{"title":"new"}`, header: map[string]string{"If-Match": `"2"`}}, 409, "conflict"},
		// Comments.
		{"empty comment", agnes, comment(`{"body":""}`), 400, "invalid"},
		{"blank comment", agnes, comment(`{"body":" \n\t "}`), 400, "invalid"},
		{"missing comment body", agnes, comment(`{}`), 400, "invalid"},
		{"comment body number", agnes, comment(`{"body":5}`), 400, "invalid"},
		{"internal as string", agnes, comment(`{"body":"x","internal":"yes"}`), 400, "invalid"},
		{"comment unknown field", agnes, comment(`{"body":"x","author":"adam"}`), 400, "invalid"},
		{"comment on closed ticket", agnes, req{method: "POST", path: "/api/v1/tickets/" + closed.ID + "/comments", body: `{"body":"x"}`}, 409, "conflict"},
		// Idempotency keys.
		{"key reused with another body", rita, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"different"}`, header: map[string]string{"Idempotency-Key": "k1"}}, 422, "idempotency_key_reused"},
		{"key reused on another endpoint", rita, req{method: "POST", path: tp + "/comments", body: `{"body":"x"}`, header: map[string]string{"Idempotency-Key": "k1"}}, 422, "idempotency_key_reused"},
		{"key too long", agnes, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Idempotency-Key": long(201)}}, 400, "invalid"},
		{"key with spaces", agnes, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Idempotency-Key": "a b"}}, 400, "invalid"},
		// Query parameters.
		{"limit 0", agnes, get("/api/v1/tickets?limit=0"), 400, "invalid"},
		{"limit 201", agnes, get("/api/v1/tickets?limit=201"), 400, "invalid"},
		{"negative limit", agnes, get("/api/v1/tickets?limit=-1"), 400, "invalid"},
		{"limit text", agnes, get("/api/v1/tickets?limit=ten"), 400, "invalid"},
		{"limit overflow", agnes, get("/api/v1/tickets?limit=99999999999999999999999"), 400, "invalid"},
		{"two limits", agnes, get("/api/v1/tickets?limit=1&limit=2"), 400, "invalid"},
		{"bad sort", agnes, get("/api/v1/tickets?sort=title"), 400, "invalid"},
		{"bad status filter", agnes, get("/api/v1/tickets?status=new,done"), 400, "invalid"},
		{"bad priority filter", agnes, get("/api/v1/tickets?priority=p1"), 400, "invalid"},
		{"bad tag filter", agnes, get("/api/v1/tickets?tag=" + q("a b")), 400, "invalid"},
		{"bad assignee filter", agnes, get("/api/v1/tickets?assignee=" + q("<x>")), 400, "invalid"},
		{"assignee and unassigned", agnes, get("/api/v1/tickets?assignee=agnes&unassigned=true"), 400, "invalid"},
		{"unassigned maybe", agnes, get("/api/v1/tickets?unassigned=maybe"), 400, "invalid"},
		{"unknown parameter", agnes, get("/api/v1/tickets?colour=red"), 400, "invalid"},
		{"garbage cursor", agnes, get("/api/v1/tickets?cursor=%21%21%21"), 400, "invalid"},
		{"forged cursor", agnes, get("/api/v1/tickets?cursor=eyJ4IjoxfQ"), 400, "invalid"},
		{"malformed query", agnes, get("/api/v1/tickets?limit=%zz"), 400, "invalid"},
		{"long search", agnes, get("/api/v1/tickets?q=" + long(201)), 400, "invalid"},
		{"bad asOf", agnes, get(tp + "?asOf=yesterday"), 400, "invalid"},
		{"asOf without zone", agnes, get(tp + "?asOf=2026-01-01T00:00:00"), 400, "invalid"},
		{"version 0", agnes, get(tp + "?version=0"), 400, "invalid"},
		{"negative version", agnes, get(tp + "?version=-1"), 400, "invalid"},
		{"version text", agnes, get(tp + "?version=v1"), 400, "invalid"},
		{"unknown ticket parameter", agnes, get(tp + "?expand=all"), 400, "invalid"},
		{"negative minPosition", agnes, get(tp + "?minPosition=-1"), 400, "invalid"},
		{"bad X-Min-Position", agnes, req{method: "GET", path: tp, header: map[string]string{"X-Min-Position": "soon"}}, 400, "invalid"},
		{"stats minPosition text", agnes, get("/api/v1/stats?minPosition=x"), 400, "invalid"},
		{"negative after", agnes, get("/api/v1/events?after=-1"), 400, "invalid"},
		{"after text", agnes, get("/api/v1/events?after=start"), 400, "invalid"},
		{"feed limit 1001", agnes, get("/api/v1/events?limit=1001"), 400, "invalid"},
		{"feed limit 0", agnes, get("/api/v1/events?limit=0"), 400, "invalid"},
		{"stream bad Last-Event-ID", agnes, req{method: "GET", path: "/api/v1/events/stream", header: map[string]string{"Last-Event-ID": "abc"}}, 400, "invalid"},
		{"stream bad after", agnes, get("/api/v1/events/stream?after=-5"), 400, "invalid"},
		{"history parameter", agnes, get(tp + "/history?all=1"), 400, "invalid"},
		// Tokens and login.
		{"token bad role", adam, req{method: "POST", path: "/api/v1/tokens", body: `{"user":"x","role":"root"}`}, 400, "invalid"},
		{"token bad user", adam, req{method: "POST", path: "/api/v1/tokens", body: `{"user":"a b","role":"agent"}`}, 400, "invalid"},
		{"token unknown field", adam, req{method: "POST", path: "/api/v1/tokens", body: `{"user":"x","role":"agent","admin":true}`}, 400, "invalid"},
		{"token missing fields", adam, req{method: "POST", path: "/api/v1/tokens", body: `{}`}, 400, "invalid"},
		{"login bad name", anon, get("/login?user=" + q("<script>")), 400, "invalid"},
		{"login no name", anon, get("/login"), 400, "invalid"},
		{"login bad role", anon, get("/login?user=eve&role=root"), 400, "invalid"},
		{"login unknown parameter", anon, get("/login?user=eve&admin=1"), 400, "invalid"},
		{"login form as JSON", anon, req{method: "POST", path: "/login", body: `{"user":"eve"}`}, 415, "unsupported_media_type"},
	}
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, c.as, c.rq)
			if r.status != c.code {
				t.Fatalf("%s %s: %s, want %d", c.rq.method, c.rq.path, r, c.code)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var p problemJSON
			r.json(t, &p)
			if p.Type != "https://eventdesk.dev/problems/"+c.typ || p.Status != c.code || p.Title == "" || p.Detail == "" {
				t.Fatalf("problem %+v, want type %s", p, c.typ)
			}
			if c.code == 412 && p.CurrentVersion == nil {
				t.Fatal("412 without currentVersion")
			}
			if c.code == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
			if c.code == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if h := e.head(t); h != head {
				t.Fatalf("the store moved from %d to %d", head, h)
			}
		})
	}
	if h := e.head(t); h != head {
		t.Fatalf("the store moved from %d to %d", head, h)
	}
	if after := string(e.do(t, adam, req{method: "GET", path: "/api/v1/tokens"}).body); after != tokensBefore {
		t.Fatalf("tokens changed:\n%s\n%s", tokensBefore, after)
	}
	t.Logf("%d hostile requests, none changed anything", len(cases))
}
