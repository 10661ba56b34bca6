// Package slack posts to a Slack incoming webhook when a new ticket is
// urgent and when a ticket is escalated (its priority raised by a policy,
// or to urgent by anyone). Notifier is a side-effect subscriber; a post
// that fails is retried by the subscription runtime and, after its
// attempts, parked as a dead letter.
//
// The webhook URL is the operator's configuration (it carries Slack's
// token in its path): it is never logged. Messages carry no internal data:
// the ticket's title, priority, requester and, for an escalation, the
// policy's reason.
//
// The package imports the root package and the standard library.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
)

// Name is the subscriber name of the Notifier.
const Name = "slack"

// Types are the event types the Notifier reads.
var Types = []string{eventdesk.TypeTicketCreated, eventdesk.TypePriorityChanged}

// StreamReader reads a ticket's events; eventdesk.EventStore is one.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error)
}

// Config configures a Notifier. WebhookURL and Events are required.
type Config struct {
	// WebhookURL is the incoming webhook (https://hooks.slack.com/…).
	WebhookURL string
	// BaseURL, if set, links messages to the ticket.
	BaseURL string
	Events  StreamReader
	// Timeout bounds one post (default 10s).
	Timeout time.Duration
	// Client overrides the HTTP client (nil: one with Timeout).
	Client *http.Client
	Logger *slog.Logger
}

// Notifier is the Slack subscriber.
type Notifier struct {
	cfg    Config
	client *http.Client
}

// New returns a notifier.
func New(cfg Config) (*Notifier, error) {
	u, err := url.Parse(cfg.WebhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("slack: the webhook URL must be an http(s) URL")
	}
	if cfg.Events == nil {
		return nil, errors.New("slack: a notifier needs the event store")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Notifier{cfg: cfg, client: client}, nil
}

// Message is the body posted to the incoming webhook.
type Message struct {
	Text string `json:"text"`
}

// Handle posts about e if it is a new urgent ticket or an escalation.
func (n *Notifier) Handle(ctx context.Context, e eventdesk.Event) error {
	id, ok := eventdesk.TicketIDFromStream(e.Stream)
	if !ok {
		return nil
	}
	p, err := eventdesk.Decode(e)
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	var text string
	switch v := p.(type) {
	case eventdesk.TicketCreated:
		if v.Priority != eventdesk.PriorityUrgent {
			return nil
		}
		text = fmt.Sprintf(":rotating_light: New urgent ticket from %s: %s", escape(v.Requester), n.link(id, v.Title))
	case eventdesk.PriorityChanged:
		byPolicy := strings.HasPrefix(e.Metadata.Actor, "policy:")
		if v.To.Rank() <= v.From.Rank() || !byPolicy && v.To != eventdesk.PriorityUrgent {
			return nil
		}
		events, err := n.cfg.Events.ReadStream(ctx, e.Stream, 1, int(e.Version))
		if err != nil {
			return fmt.Errorf("slack: read %s: %w", e.Stream, err)
		}
		t, err := eventdesk.Fold(events)
		if err != nil {
			return fmt.Errorf("slack: fold %s: %w", e.Stream, err)
		}
		text = fmt.Sprintf(":arrow_double_up: Ticket escalated from %s to %s: %s", v.From, v.To, n.link(id, t.Title))
		if v.Reason != "" {
			text += " (" + escape(v.Reason) + ")"
		}
	default:
		return nil
	}
	return n.post(ctx, Message{Text: text})
}

// link is the ticket's title, linked to it when BaseURL is set.
func (n *Notifier) link(id, title string) string {
	if n.cfg.BaseURL == "" {
		return "*" + escape(title) + "*"
	}
	// In Slack's link syntax the title may not contain "|" or ">".
	t := strings.NewReplacer("|", "¦", ">", "›").Replace(escape(title))
	return "<" + n.cfg.BaseURL + "/tickets/" + id + "|" + t + ">"
}

// escape applies Slack's escaping of &, < and >, so that ticket text
// cannot inject links or mentions.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (n *Notifier) post(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("slack: bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		// The error names the URL, whose path is Slack's token.
		return fmt.Errorf("slack: post failed (%s)", errorKind(err))
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("slack: post answered %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// errorKind describes a client error without its URL.
func errorKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timeout"
		}
		return ue.Err.Error()
	}
	return "request failed"
}
