package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/webhook"
)

// The pages around the notification subscribers: webhook endpoints and
// their delivery logs, dead letters (admins; app.Notifications refuses
// everyone else), and each user's notification preferences.

// webhookRow is an endpoint as the pages show it.
type webhookRow struct {
	ID, URL, Description, CreatedBy string
	Events                          string
	Created                         when
	Disabled                        bool
	DisabledReason                  string
	Failures                        int
	RotatingUntil                   string
}

func (s *Server) webhookRow(e webhook.Endpoint) webhookRow {
	row := webhookRow{ID: e.ID, URL: e.URL, Description: e.Description, CreatedBy: e.CreatedBy, Created: s.when(e.CreatedAt),
		Disabled: e.Disabled, DisabledReason: e.DisabledReason, Failures: e.ConsecutiveFailures, Events: strings.Join(e.EventTypes, ", ")}
	if row.Events == "" {
		row.Events = "all"
	}
	for _, sec := range e.Secrets[min(1, len(e.Secrets)):] {
		if s.now().Before(sec.ExpiresAt) {
			row.RotatingUntil = fullTime(sec.ExpiresAt)
		}
	}
	return row
}

// webhooksView is the list of endpoints with the registration form.
type webhooksView struct {
	Page
	Webhooks []webhookRow
	Types    []eventTypeChoice
	Form     webhookForm
	Errors   map[string]string
	// Created and Secret are shown once, right after a registration.
	Created *webhookRow
	Secret  string
}

type eventTypeChoice struct {
	Type    string
	Checked bool
}

type webhookForm struct {
	URL, Description string
}

func (s *Server) webhooksPage(r *http.Request) (webhooksView, error) {
	v := webhooksView{Page: s.basePage(r, "Webhooks", "webhooks")}
	list, err := s.notifications.Webhooks(r.Context())
	if err != nil {
		return v, err
	}
	for _, e := range list {
		v.Webhooks = append(v.Webhooks, s.webhookRow(e))
	}
	for _, t := range webhook.EventTypes {
		v.Types = append(v.Types, eventTypeChoice{Type: t})
	}
	return v, nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	v, err := s.webhooksPage(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "webhooks", v)
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	v, err := s.webhooksPage(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	types := r.PostForm["eventTypes"]
	e, secret, err := s.notifications.CreateWebhook(r.Context(), webhook.NewEndpoint{
		URL: r.PostForm.Get("url"), EventTypes: types, Description: r.PostForm.Get("description"), Secret: r.PostForm.Get("secret"),
	})
	if err != nil {
		if eventdesk.ErrorCode(err) != eventdesk.EInvalid {
			s.renderError(w, r, err)
			return
		}
		v.Form = webhookForm{URL: r.PostForm.Get("url"), Description: r.PostForm.Get("description")}
		v.Errors = eventdesk.ErrorFields(err)
		for i := range v.Types {
			for _, t := range types {
				v.Types[i].Checked = v.Types[i].Checked || v.Types[i].Type == t
			}
		}
		s.render(w, r, http.StatusUnprocessableEntity, "webhooks", v)
		return
	}
	row := s.webhookRow(e)
	v.Webhooks = append(v.Webhooks, row)
	v.Created, v.Secret = &row, secret
	s.render(w, r, http.StatusCreated, "webhooks", v)
}

// webhookView is one endpoint with its delivery log.
type webhookView struct {
	Page
	Webhook    webhookRow
	Deliveries []deliveryRow
	// Secret is the new secret, shown once after a rotation.
	Secret string
	// Older links the next page of the log ("" on the last).
	Older string
}

type deliveryRow struct {
	EventID, EventType, TicketID, Status, Error string
	Attempts                                    int
	Code                                        string
	Latency                                     string
	Last                                        when
	HasLast                                     bool
}

func (s *Server) webhookPage(r *http.Request) (webhookView, error) {
	id := r.PathValue("id")
	e, err := s.notifications.Webhook(r.Context(), id)
	if err != nil {
		return webhookView{}, err
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	const limit = 50
	ds, err := s.notifications.WebhookDeliveries(r.Context(), id, before, limit)
	if err != nil {
		return webhookView{}, err
	}
	v := webhookView{Page: s.basePage(r, "Webhook", "webhooks"), Webhook: s.webhookRow(e)}
	for _, d := range ds {
		tid, _ := eventdesk.TicketIDFromStream(d.Stream)
		row := deliveryRow{EventID: d.EventID, EventType: d.EventType, TicketID: tid, Status: string(d.Status), Error: d.LastError,
			Attempts: d.Attempts, HasLast: !d.LastAttemptAt.IsZero(), Latency: d.LastLatency.Round(time.Millisecond).String()}
		if d.LastStatusCode != 0 {
			row.Code = strconv.Itoa(d.LastStatusCode)
		}
		if row.HasLast {
			row.Last = s.when(d.LastAttemptAt)
		}
		v.Deliveries = append(v.Deliveries, row)
	}
	if len(ds) == limit {
		v.Older = "/admin/webhooks/" + id + "?before=" + strconv.FormatInt(ds[len(ds)-1].Seq, 10)
	}
	return v, nil
}

func (s *Server) showWebhook(w http.ResponseWriter, r *http.Request) {
	v, err := s.webhookPage(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "webhook", v)
}

func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	_, secret, err := s.notifications.RotateWebhookSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v, err := s.webhookPage(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Secret = secret
	s.render(w, r, http.StatusOK, "webhook", v)
}

func (s *Server) enableWebhook(w http.ResponseWriter, r *http.Request) {
	if _, err := s.notifications.EnableWebhook(r.Context(), r.PathValue("id")); err != nil {
		s.renderError(w, r, err)
		return
	}
	redirect(w, r, "/admin/webhooks/"+r.PathValue("id"))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.notifications.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		s.renderError(w, r, err)
		return
	}
	redirect(w, r, "/admin/webhooks")
}

// deadLettersView lists dead letters.
type deadLettersView struct {
	Page
	Letters []deadLetterRow
}

type deadLetterRow struct {
	ID                             int64
	Subscriber, EventID, EventType string
	TicketID, Error, WebhookID     string
	Attempts                       int
	Failed                         when
	Redriven                       bool
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	list, err := s.notifications.DeadLetters(r.Context(), "")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := deadLettersView{Page: s.basePage(r, "Dead letters", "deadletters")}
	if id := r.URL.Query().Get("redriven"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			v.Flash = "Dead letter " + strconv.FormatInt(n, 10) + " is queued for another try."
		}
	}
	for _, d := range list {
		tid, _ := eventdesk.TicketIDFromStream(d.Event.Stream)
		hook, _ := strings.CutPrefix(d.Subscriber, webhook.DeadLetterPrefix)
		if hook == d.Subscriber {
			hook = ""
		}
		v.Letters = append(v.Letters, deadLetterRow{ID: d.ID, Subscriber: d.Subscriber, EventID: d.Event.ID, EventType: d.Event.Type,
			TicketID: tid, Error: d.Error, WebhookID: hook, Attempts: d.Attempts, Failed: s.when(d.FailedAt), Redriven: d.Redriven})
	}
	s.render(w, r, http.StatusOK, "deadletters", v)
}

func (s *Server) redriveDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(w, r, eventdesk.Errorf(eventdesk.ENotFound, "dead letter not found"))
		return
	}
	if err := s.notifications.RedriveDeadLetter(r.Context(), id); err != nil {
		s.renderError(w, r, err)
		return
	}
	redirect(w, r, "/admin/deadletters?redriven="+strconv.FormatInt(id, 10))
}

// preferencesView is the user's notification settings.
type preferencesView struct {
	Page
	Email bool
	Saved bool
}

func (s *Server) showPreferences(w http.ResponseWriter, r *http.Request) {
	p, err := s.notifications.Preferences(r.Context())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "preferences", preferencesView{Page: s.basePage(r, "Notifications", "preferences"), Email: p.Email})
}

func (s *Server) savePreferences(w http.ResponseWriter, r *http.Request) {
	p, err := s.notifications.SetPreferences(r.Context(), app.NotificationPreferences{Email: r.PostForm.Get("email") == "on"})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "preferences", preferencesView{Page: s.basePage(r, "Notifications", "preferences"), Email: p.Email, Saved: true})
}
