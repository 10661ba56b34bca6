package app

import (
	"context"
	"strings"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/webhook"
)

// DeadLetterQueue lists and redrives the dead letters of side-effect
// subscribers (subscription.Runner is one).
type DeadLetterQueue interface {
	DeadLetters(ctx context.Context, subscriber string) ([]eventdesk.DeadLetter, error)
	Redrive(ctx context.Context, id int64) error
}

// PreferenceStore keeps users' notification preferences.
type PreferenceStore interface {
	EmailOptOut(ctx context.Context, user string) (bool, error)
	SetEmailOptOut(ctx context.Context, user string, optOut bool) error
}

// NotificationsConfig holds the dependencies of Notifications; a nil one
// makes its handlers answer EUnavailable.
type NotificationsConfig struct {
	Webhooks    *webhook.Registry
	DeadLetters DeadLetterQueue
	Preferences PreferenceStore
}

// Notifications are the handlers around the notification subscribers:
// webhook endpoints and dead letters (admins), and each user's own
// notification preferences (anyone signed in).
type Notifications struct {
	c NotificationsConfig
}

// NewNotifications returns the handlers.
func NewNotifications(c NotificationsConfig) *Notifications { return &Notifications{c: c} }

// mayAdminister allows admins only: webhook URLs and dead letters are
// configuration and may carry any data (a dead letter holds the whole
// event, internal notes included).
func mayAdminister(ctx context.Context) (eventdesk.Actor, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, err
	}
	if a.Role != eventdesk.RoleAdmin {
		return a, eventdesk.Errorf(eventdesk.EForbidden, "only admins may manage webhooks and dead letters")
	}
	return a, nil
}

func (n *Notifications) webhooks(ctx context.Context) (*webhook.Registry, eventdesk.Actor, error) {
	a, err := mayAdminister(ctx)
	if err != nil {
		return nil, a, err
	}
	if n == nil || n.c.Webhooks == nil {
		return nil, a, eventdesk.Errorf(eventdesk.EUnavailable, "webhooks are not available on this server")
	}
	return n.c.Webhooks, a, nil
}

// CreateWebhook registers an endpoint; the secret is returned only here.
func (n *Notifications) CreateWebhook(ctx context.Context, req webhook.NewEndpoint) (webhook.Endpoint, string, error) {
	r, a, err := n.webhooks(ctx)
	if err != nil {
		return webhook.Endpoint{}, "", err
	}
	return r.Create(ctx, a.Name, req)
}

// Webhooks lists the endpoints.
func (n *Notifications) Webhooks(ctx context.Context) ([]webhook.Endpoint, error) {
	r, _, err := n.webhooks(ctx)
	if err != nil {
		return nil, err
	}
	return r.List(ctx)
}

// Webhook returns one endpoint.
func (n *Notifications) Webhook(ctx context.Context, id string) (webhook.Endpoint, error) {
	r, _, err := n.webhooks(ctx)
	if err != nil {
		return webhook.Endpoint{}, err
	}
	return r.Get(ctx, id)
}

// DeleteWebhook removes an endpoint with its deliveries and dead letters.
func (n *Notifications) DeleteWebhook(ctx context.Context, id string) error {
	r, _, err := n.webhooks(ctx)
	if err != nil {
		return err
	}
	return r.Delete(ctx, id)
}

// RotateWebhookSecret gives an endpoint a new secret, returned only here.
func (n *Notifications) RotateWebhookSecret(ctx context.Context, id string) (webhook.Endpoint, string, error) {
	r, _, err := n.webhooks(ctx)
	if err != nil {
		return webhook.Endpoint{}, "", err
	}
	return r.Rotate(ctx, id)
}

// EnableWebhook enables an endpoint that was disabled for failing.
func (n *Notifications) EnableWebhook(ctx context.Context, id string) (webhook.Endpoint, error) {
	r, _, err := n.webhooks(ctx)
	if err != nil {
		return webhook.Endpoint{}, err
	}
	return r.Enable(ctx, id)
}

// WebhookDeliveries returns an endpoint's delivery log, newest first.
func (n *Notifications) WebhookDeliveries(ctx context.Context, id string, before int64, limit int) ([]webhook.Delivery, error) {
	r, _, err := n.webhooks(ctx)
	if err != nil {
		return nil, err
	}
	return r.Deliveries(ctx, id, before, limit)
}

func (n *Notifications) deadLetters(ctx context.Context) (DeadLetterQueue, error) {
	if _, err := mayAdminister(ctx); err != nil {
		return nil, err
	}
	if n == nil || n.c.DeadLetters == nil {
		return nil, eventdesk.Errorf(eventdesk.EUnavailable, "dead letters are not available on this server")
	}
	return n.c.DeadLetters, nil
}

// DeadLetters lists dead letters, of one subscriber or ("") all, oldest
// first. Webhook endpoints' letters are under "webhook:<id>"; a prefix
// ending in ":" (e.g. "webhook:") selects all of its kind.
func (n *Notifications) DeadLetters(ctx context.Context, subscriber string) ([]eventdesk.DeadLetter, error) {
	q, err := n.deadLetters(ctx)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(subscriber, ":") {
		all, err := q.DeadLetters(ctx, "")
		if err != nil {
			return nil, err
		}
		var out []eventdesk.DeadLetter
		for _, d := range all {
			if strings.HasPrefix(d.Subscriber, subscriber) {
				out = append(out, d)
			}
		}
		return out, nil
	}
	if strings.HasPrefix(subscriber, webhook.DeadLetterPrefix) {
		// Not a subscriber the runner knows: read the store directly.
		all, err := q.DeadLetters(ctx, "")
		if err != nil {
			return nil, err
		}
		var out []eventdesk.DeadLetter
		for _, d := range all {
			if d.Subscriber == subscriber {
				out = append(out, d)
			}
		}
		return out, nil
	}
	return q.DeadLetters(ctx, subscriber)
}

// RedriveDeadLetter queues a dead letter for another try.
func (n *Notifications) RedriveDeadLetter(ctx context.Context, id int64) error {
	q, err := n.deadLetters(ctx)
	if err != nil {
		return err
	}
	return q.Redrive(ctx, id)
}

// NotificationPreferences are a user's choices.
type NotificationPreferences struct {
	// Email is false when the user opted out of e-mail notifications.
	Email bool
}

func (n *Notifications) preferences(ctx context.Context) (PreferenceStore, eventdesk.Actor, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, a, err
	}
	if strings.HasPrefix(a.Name, "policy:") {
		return nil, a, eventdesk.Errorf(eventdesk.EForbidden, "policies have no preferences")
	}
	if n == nil || n.c.Preferences == nil {
		return nil, a, eventdesk.Errorf(eventdesk.EUnavailable, "notification preferences are not available on this server")
	}
	return n.c.Preferences, a, nil
}

// Preferences returns the caller's notification preferences.
func (n *Notifications) Preferences(ctx context.Context) (NotificationPreferences, error) {
	p, a, err := n.preferences(ctx)
	if err != nil {
		return NotificationPreferences{}, err
	}
	off, err := p.EmailOptOut(ctx, a.Name)
	if err != nil {
		return NotificationPreferences{}, err
	}
	return NotificationPreferences{Email: !off}, nil
}

// SetPreferences changes the caller's notification preferences. Auditors
// may too: it is their own setting, not a change to tickets.
func (n *Notifications) SetPreferences(ctx context.Context, prefs NotificationPreferences) (NotificationPreferences, error) {
	p, a, err := n.preferences(ctx)
	if err != nil {
		return NotificationPreferences{}, err
	}
	if err := p.SetEmailOptOut(ctx, a.Name, !prefs.Email); err != nil {
		return NotificationPreferences{}, err
	}
	return prefs, nil
}
