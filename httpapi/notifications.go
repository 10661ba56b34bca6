package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/webhook"
)

// The notification endpoints (routes in routes()): webhooks and dead
// letters (admins), the caller's notification preferences (anyone signed
// in).

// webhookJSON is an endpoint as the API shows it: never its secrets.
type webhookJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	EventTypes  []string  `json:"eventTypes"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	CreatedBy   string    `json:"createdBy"`
	Disabled    bool      `json:"disabled"`
	// DisabledAt and DisabledReason are the notice of an endpoint that
	// was disabled for failing.
	DisabledAt          *time.Time `json:"disabledAt"`
	DisabledReason      *string    `json:"disabledReason"`
	FailingSince        *time.Time `json:"failingSince"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	// PreviousSecretExpiresAt is set during a rotation: until then the
	// previous secret signs too.
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
}

// webhookSecretJSON is an endpoint with its new secret (create, rotate).
type webhookSecretJSON struct {
	webhookJSON
	Secret string `json:"secret"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toWebhookJSON(e webhook.Endpoint) webhookJSON {
	out := webhookJSON{
		ID: e.ID, URL: e.URL, EventTypes: e.EventTypes, Description: e.Description, CreatedAt: e.CreatedAt.UTC(),
		CreatedBy: e.CreatedBy, Disabled: e.Disabled, DisabledAt: optTime(e.DisabledAt), FailingSince: optTime(e.FailingSince),
		ConsecutiveFailures: e.ConsecutiveFailures,
	}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if e.DisabledReason != "" {
		r := e.DisabledReason
		out.DisabledReason = &r
	}
	now := time.Now()
	for _, sec := range e.Secrets[min(1, len(e.Secrets)):] {
		if now.Before(sec.ExpiresAt) {
			out.PreviousSecretExpiresAt = optTime(sec.ExpiresAt)
		}
	}
	return out
}

type createWebhookRequest struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"eventTypes"`
	Secret      string   `json:"secret"`
	Description string   `json:"description"`
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, "application/json")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req createWebhookRequest
	if err := decodeStrict(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, secret, err := s.notifications.CreateWebhook(r.Context(), webhook.NewEndpoint{
		URL: req.URL, EventTypes: req.EventTypes, Secret: req.Secret, Description: req.Description,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+e.ID)
	s.writeJSON(w, http.StatusCreated, webhookSecretJSON{webhookJSON: toWebhookJSON(e), Secret: secret})
}

type webhookListJSON struct {
	Items []webhookJSON `json:"items"`
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, nil); err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.notifications.Webhooks(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := webhookListJSON{Items: make([]webhookJSON, len(list))}
	for i, e := range list {
		out.Items[i] = toWebhookJSON(e)
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	e, err := s.notifications.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, toWebhookJSON(e))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.notifications.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	e, secret, err := s.notifications.RotateWebhookSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, webhookSecretJSON{webhookJSON: toWebhookJSON(e), Secret: secret})
}

func (s *Server) enableWebhook(w http.ResponseWriter, r *http.Request) {
	e, err := s.notifications.EnableWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, toWebhookJSON(e))
}

// deliveryJSON is one entry of an endpoint's delivery log.
type deliveryJSON struct {
	Seq           int64          `json:"seq"`
	EventID       string         `json:"eventId"`
	EventType     string         `json:"eventType"`
	TicketID      string         `json:"ticketId"`
	Status        webhook.Status `json:"status"`
	Attempts      int            `json:"attempts"`
	CreatedAt     time.Time      `json:"createdAt"`
	NextAttemptAt *time.Time     `json:"nextAttemptAt"`
	DeliveredAt   *time.Time     `json:"deliveredAt"`
	LastAttemptAt *time.Time     `json:"lastAttemptAt"`
	// LastStatusCode is the last answer's HTTP status, null without one.
	LastStatusCode *int    `json:"lastStatusCode"`
	LastLatencyMs  float64 `json:"lastLatencyMs"`
	LastError      *string `json:"lastError"`
}

type deliveryListJSON struct {
	Items []deliveryJSON `json:"items"`
	// Next is the cursor (a seq) of the following page, null on the last.
	Next *string `json:"next"`
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{"limit": false, "cursor": false}); err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := parseInt(r, "limit", webhook.DefaultDeliveriesLimit, 1, webhook.MaxDeliveriesLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	before, err := parseInt(r, "cursor", 0, 1, 1<<62)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ds, err := s.notifications.WebhookDeliveries(r.Context(), r.PathValue("id"), before, int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := deliveryListJSON{Items: make([]deliveryJSON, len(ds))}
	for i, d := range ds {
		tid, _ := eventdesk.TicketIDFromStream(d.Stream)
		j := deliveryJSON{
			Seq: d.Seq, EventID: d.EventID, EventType: d.EventType, TicketID: tid, Status: d.Status, Attempts: d.Attempts,
			CreatedAt: d.CreatedAt.UTC(), NextAttemptAt: optTime(d.NextAttemptAt), DeliveredAt: optTime(d.DeliveredAt),
			LastAttemptAt: optTime(d.LastAttemptAt), LastLatencyMs: float64(d.LastLatency.Microseconds()) / 1000,
		}
		if d.Status != webhook.StatusPending {
			j.NextAttemptAt = nil
		}
		if d.LastStatusCode != 0 {
			c := d.LastStatusCode
			j.LastStatusCode = &c
		}
		if d.LastError != "" {
			e := d.LastError
			j.LastError = &e
		}
		out.Items[i] = j
	}
	if len(ds) == int(limit) {
		n := strconv.FormatInt(ds[len(ds)-1].Seq, 10)
		out.Next = &n
	}
	s.writeJSON(w, http.StatusOK, out)
}

// deadLetterJSON is a dead letter without the event's data (which may hold
// anything; it is in the event store for those who may read it).
type deadLetterJSON struct {
	ID         int64     `json:"id"`
	Subscriber string    `json:"subscriber"`
	EventID    string    `json:"eventId"`
	EventType  string    `json:"eventType"`
	Stream     string    `json:"stream"`
	Position   int64     `json:"position"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	FailedAt   time.Time `json:"failedAt"`
	Redriven   bool      `json:"redriven"`
}

type deadLetterListJSON struct {
	Items []deadLetterJSON `json:"items"`
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{"subscriber": false}); err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.notifications.DeadLetters(r.Context(), r.URL.Query().Get("subscriber"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := deadLetterListJSON{Items: make([]deadLetterJSON, len(list))}
	for i, d := range list {
		out.Items[i] = deadLetterJSON{
			ID: d.ID, Subscriber: d.Subscriber, EventID: d.Event.ID, EventType: d.Event.Type, Stream: d.Event.Stream,
			Position: d.Event.Position, Attempts: d.Attempts, Error: d.Error, FailedAt: d.FailedAt.UTC(), Redriven: d.Redriven,
		}
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) redriveDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, eventdesk.Errorf(eventdesk.ENotFound, "dead letter not found"))
		return
	}
	if err := s.notifications.RedriveDeadLetter(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "redriven": true})
}

type preferencesJSON struct {
	// Email is false when the user turned e-mail notifications off.
	Email bool `json:"email"`
}

func (s *Server) getPreferences(w http.ResponseWriter, r *http.Request) {
	p, err := s.notifications.Preferences(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, preferencesJSON{Email: p.Email})
}

func (s *Server) putPreferences(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, "application/json")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req struct {
		Email *bool `json:"email"`
	}
	if err := decodeStrict(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Email == nil {
		s.writeError(w, r, eventdesk.FieldError("email", "is required (true or false)"))
		return
	}
	p, err := s.notifications.SetPreferences(r.Context(), app.NotificationPreferences{Email: *req.Email})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, preferencesJSON{Email: p.Email})
}
