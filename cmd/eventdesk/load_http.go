package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/progress"
	"github.com/eventdesk/eventdesk/loadgen"
)

// httpLoader loads over the REST API of a running eventdesk.
type httpLoader struct {
	base   string
	token  string
	client *http.Client
	gen    *loadgen.Generator
	seed   uint64
	stats  *loadStats
	pace   *pacer
	me     eventdesk.Actor
	// createsOnly leaves out every step after the create.
	createsOnly bool
}

// Retries of a request that failed without an answer or with 429/5xx.
const (
	httpAttempts    = 6
	httpRetryBase   = 100 * time.Millisecond
	httpTimeout     = 2 * time.Minute
	preconditionMax = 20 // re-reads of a ticket that others keep changing
)

func loadHTTP(ctx context.Context, o loadOptions, gen *loadgen.Generator, io stdio) error {
	u, err := url.Parse(o.target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &usageError{msg: fmt.Sprintf("load: --target %q: want the base URL of an eventdesk server, e.g. http://127.0.0.1:8080", o.target)}
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        o.concurrency,
		MaxIdleConnsPerHost: o.concurrency,
		MaxConnsPerHost:     o.concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	h := &httpLoader{
		base: strings.TrimRight(u.String(), "/"), token: o.token, client: &http.Client{Transport: tr, Timeout: httpTimeout},
		gen: gen, seed: o.seed, stats: newLoadStats(), createsOnly: o.createsOnly,
	}
	if o.rate > 0 {
		h.pace = &pacer{gap: time.Duration(float64(time.Second) / o.rate)}
	}
	if err := h.whoami(ctx); err != nil {
		return err
	}

	bar := progress.New(io.err, "load", o.tickets, progress.Options{Unit: "tickets"})
	elapsed, cpu, err := runTickets(ctx, o, o.concurrency, bar, func(ctx context.Context, k int, i int64) error { return h.run(ctx, i) })
	sum := h.stats.summary(o, gen, elapsed, cpu)
	sum.Mode, sum.Target, sum.Interrupted = "http", h.base, interrupted(ctx, err)
	return sum.finish(o, io, err)
}

// whoami learns the token's user, who must be staff: the load opens
// tickets for requesters and assigns them.
func (h *httpLoader) whoami(ctx context.Context) error {
	var me eventdesk.Actor
	resp, body, err := h.do(ctx, "", http.MethodGet, "/api/v1/me", nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("load: %s: %s", h.base, problem(resp, body))
	}
	if err := json.Unmarshal(body, &me); err != nil || me.Name == "" {
		return fmt.Errorf("load: %s/api/v1/me answered %q: is this an eventdesk server?", h.base, truncateBody(body))
	}
	if !me.Role.IsStaff() {
		return fmt.Errorf("load: the token is %s's, a %s: loading needs an agent's or admin's token (it opens tickets for requesters and assigns them)", me.Name, me.Role)
	}
	h.me = me
	return nil
}

// ticketAnswer is the part of a ticket (or comment) response the loader
// needs.
type ticketAnswer struct {
	ID            string `json:"id"`
	Version       int64  `json:"version"`
	TicketID      string `json:"ticketId"`
	TicketVersion int64  `json:"ticketVersion"`
}

// run loads ticket i, or what is missing of it.
func (h *httpLoader) run(ctx context.Context, i int64) error {
	t := h.gen.Ticket(i)
	steps := t.Steps
	if h.createsOnly {
		steps = nil
	}
	cmdCtx := context.WithoutCancel(ctx)
	create := map[string]any{
		"title": t.Title, "description": t.Description, "priority": t.Priority,
		"requester": t.Requester, "tags": t.Tags,
	}
	if t.Assignee != "" {
		create["assignee"] = t.Assignee
	}
	resp, body, err := h.do(cmdCtx, cmdCreate, http.MethodPost, "/api/v1/tickets", create,
		map[string]string{"Idempotency-Key": loadgen.IdempotencyKey(h.seed, i, 0)})
	if err != nil {
		return fmt.Errorf("load: ticket %d: open: %w", i, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("load: ticket %d: open: %s", i, problem(resp, body))
	}
	var tk ticketAnswer
	if err := json.Unmarshal(body, &tk); err != nil || !eventdesk.ValidID(tk.ID) {
		return fmt.Errorf("load: ticket %d: open: unexpected answer %q", i, truncateBody(body))
	}
	version := tk.Version
	from := 0 // the first step to run
	replayed := resp.Header.Get("Idempotent-Replayed") == "true"
	if replayed {
		h.stats.replayed.Add(1)
		if from, version, err = h.resume(cmdCtx, t, tk.ID, steps); err != nil {
			return err
		}
	} else {
		h.stats.ticketsCreated.Add(1)
		h.stats.commands.Add(1)
		h.stats.events.Add(version)
	}
	wrote := false
	for k := from; k < len(steps); k++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s := steps[k]
		var v int64
		if s.Kind == loadgen.Comment {
			v, err = h.comment(cmdCtx, i, k+1, tk.ID, s)
		} else {
			v, err = h.edit(cmdCtx, tk.ID, version, s)
		}
		if err != nil {
			return fmt.Errorf("load: ticket %d (%s) step %d (%s): %w", i, tk.ID, k+1, s.Kind, err)
		}
		if v > version {
			h.stats.events.Add(v - version)
			version, wrote = v, true
		}
	}
	switch {
	case !replayed:
	case wrote:
		h.stats.ticketsResumed.Add(1)
	default:
		// Complete already; what was left recorded nothing (steps that
		// changed nothing leave no trace to tell them done by).
		h.stats.ticketsSkipped.Add(1)
	}
	h.stats.ticketsDone.Add(1)
	return nil
}

// resume reads back a ticket that an earlier run opened: how many of its
// steps are done, and its version.
func (h *httpLoader) resume(ctx context.Context, t loadgen.Ticket, id string, steps []loadgen.Step) (done int, version int64, err error) {
	resp, body, err := h.do(ctx, cmdRead, http.MethodGet, "/api/v1/tickets/"+id+"/history", nil, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("load: ticket %d: history: %w", t.Index, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("load: ticket %d: history: %s", t.Index, problem(resp, body))
	}
	var hist struct {
		Items []struct {
			Version int64 `json:"version"`
			Event   struct {
				Type     string          `json:"type"`
				Schema   int             `json:"schema"`
				Data     json.RawMessage `json:"data"`
				Metadata struct {
					Actor string `json:"actor"`
				} `json:"metadata"`
			} `json:"event"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &hist); err != nil {
		return 0, 0, fmt.Errorf("load: ticket %d: history: %w", t.Index, err)
	}
	events := make([]eventdesk.Event, len(hist.Items))
	for k, it := range hist.Items {
		events[k] = eventdesk.Event{Type: it.Event.Type, Schema: it.Event.Schema, Data: it.Event.Data, Metadata: eventdesk.Metadata{Actor: it.Event.Metadata.Actor}}
		version = max(version, it.Version)
	}
	return loadgen.StepsDone(loadgen.Ticket{Steps: steps}, events, h.me.Name), version, nil
}

// comment adds step s (the ticket's step-th) as a comment and returns the
// ticket's version after it.
func (h *httpLoader) comment(ctx context.Context, i int64, step int, id string, s loadgen.Step) (int64, error) {
	resp, body, err := h.do(ctx, cmdComment, http.MethodPost, "/api/v1/tickets/"+id+"/comments",
		map[string]any{"body": s.Body, "internal": s.Internal},
		map[string]string{"Idempotency-Key": loadgen.IdempotencyKey(h.seed, i, step)})
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("%s", problem(resp, body))
	}
	var a ticketAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("unexpected answer %q", truncateBody(body))
	}
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		h.stats.replayed.Add(1)
		return 0, nil
	}
	h.stats.commands.Add(1)
	return a.TicketVersion, nil
}

// edit applies a status, assignment or priority step with If-Match: the
// version the loader last saw. When someone else (a policy) changed the
// ticket meanwhile, it reads the ticket again and retries.
func (h *httpLoader) edit(ctx context.Context, id string, version int64, s loadgen.Step) (int64, error) {
	patch := map[string]any{}
	switch s.Kind {
	case loadgen.Status:
		patch["status"] = s.Status
	case loadgen.Assign:
		patch["assignee"] = s.Assignee
	case loadgen.Escalate:
		patch["priority"] = s.Priority
	}
	for attempt := 0; ; attempt++ {
		resp, body, err := h.do(ctx, cmdUpdate, http.MethodPatch, "/api/v1/tickets/"+id, patch,
			map[string]string{"If-Match": strconv.Quote(strconv.FormatInt(version, 10)), "Content-Type": "application/merge-patch+json"})
		if err != nil {
			return 0, err
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			var a ticketAnswer
			if err := json.Unmarshal(body, &a); err != nil {
				return 0, fmt.Errorf("unexpected answer %q", truncateBody(body))
			}
			if a.Version > version {
				h.stats.commands.Add(1)
			}
			return a.Version, nil
		case resp.StatusCode == http.StatusPreconditionFailed && attempt < preconditionMax:
			h.stats.retries.Add(1)
			if version, err = h.version(ctx, id); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("%s", problem(resp, body))
		}
	}
}

// version reads a ticket's current version.
func (h *httpLoader) version(ctx context.Context, id string) (int64, error) {
	resp, body, err := h.do(ctx, cmdRead, http.MethodGet, "/api/v1/tickets/"+id, nil, nil)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read it back: %s", problem(resp, body))
	}
	var a ticketAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("read it back: unexpected answer %q", truncateBody(body))
	}
	return a.Version, nil
}

// do sends one request (as JSON when body is not nil) and reads the whole
// answer, retrying with backoff when there is none or it is 429 or 5xx:
// POSTs carry idempotency keys and PATCHes If-Match, so a retry never
// duplicates. kind names the latency histogram ("" for none).
func (h *httpLoader) do(ctx context.Context, kind, method, path string, body any, header map[string]string) (*http.Response, []byte, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		if err := h.pace.wait(ctx); err != nil {
			return nil, nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(raw))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+h.token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		start := time.Now()
		resp, err := h.client.Do(req)
		var answer []byte
		if err == nil {
			answer, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20))
			resp.Body.Close()
		}
		if err == nil && kind != "" {
			h.stats.latency[kind].Record(time.Since(start))
		}
		retry := err != nil || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if !retry {
			return resp, answer, nil
		}
		if attempt == httpAttempts || ctx.Err() != nil {
			if err != nil {
				return nil, nil, err
			}
			return resp, answer, nil
		}
		h.stats.retries.Add(1)
		backoff := httpRetryBase << (attempt - 1)
		backoff += time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// problem describes an unexpected answer, with the problem's detail when
// it is an RFC 9457 problem.
func problem(resp *http.Response, body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && (p.Title != "" || p.Detail != "") {
		return fmt.Sprintf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, strings.TrimSuffix(p.Title+": "+p.Detail, ": "))
	}
	return fmt.Sprintf("%s %s: %s: %q", resp.Request.Method, resp.Request.URL.Path, resp.Status, truncateBody(body))
}

func truncateBody(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// pacer spaces requests evenly to a rate; a nil pacer does not wait.
// Idle time is not saved up: after a pause requests resume at the rate,
// not in a burst.
type pacer struct {
	gap  time.Duration
	mu   sync.Mutex
	next time.Time
}

func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.gap)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
