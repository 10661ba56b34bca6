package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
)

// DeadLetterPrefix starts the subscriber name under which an endpoint's
// exhausted deliveries are parked: "webhook:<endpoint id>".
const DeadLetterPrefix = "webhook:"

// DeadLetterSubscriber returns the dead-letter subscriber name of an
// endpoint.
func DeadLetterSubscriber(endpointID string) string { return DeadLetterPrefix + endpointID }

// DefaultRotationOverlap is how long a rotated-out secret keeps signing
// next to the new one.
const DefaultRotationOverlap = 24 * time.Hour

// RegistryConfig holds the dependencies of a Registry. Store, Head and
// NewID are required.
type RegistryConfig struct {
	Store Store
	// Head returns the event store's head; a new endpoint receives the
	// events after it.
	Head func(ctx context.Context) (int64, error)
	// DeadLetters holds parked deliveries; deleting an endpoint drops
	// its dead letters. May be nil.
	DeadLetters eventdesk.SubscriberStore
	// NewID returns a new unique id.
	NewID func() string
	// AllowPrivate lets endpoints point at internal addresses.
	AllowPrivate bool
	// RotationOverlap (0: DefaultRotationOverlap).
	RotationOverlap time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Changed is called after an endpoint was enabled (nil: nothing), to
	// wake the dispatcher.
	Changed func()
}

// Registry manages endpoints: what the admin API and UI call (through
// package app, which authorizes).
type Registry struct {
	cfg RegistryConfig
}

// NewRegistry returns a registry.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if cfg.Store == nil || cfg.Head == nil || cfg.NewID == nil {
		return nil, errors.New("webhook: a registry needs a store, the event store's head and an id generator")
	}
	if cfg.RotationOverlap <= 0 {
		cfg.RotationOverlap = DefaultRotationOverlap
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Changed == nil {
		cfg.Changed = func() {}
	}
	return &Registry{cfg: cfg}, nil
}

// NewEndpoint is a registration request.
type NewEndpoint struct {
	URL string
	// EventTypes (empty: all of EventTypes).
	EventTypes []string
	// Secret is "whsec_" + base64 of 24 to 64 bytes; empty: one is
	// generated.
	Secret      string
	Description string
}

// Create registers an endpoint and returns it with its secret, which is
// never shown again.
func (r *Registry) Create(ctx context.Context, createdBy string, n NewEndpoint) (Endpoint, string, error) {
	invalid := &eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid webhook", Fields: map[string]string{}}
	u, err := ValidateURL(n.URL, r.cfg.AllowPrivate)
	merge(invalid, err)
	types, err := ValidateEventTypes(n.EventTypes)
	merge(invalid, err)
	secret := n.Secret
	if secret != "" {
		_, err := secretKey(secret)
		merge(invalid, err)
	}
	desc := strings.TrimSpace(n.Description)
	if !utf8.ValidString(desc) || len(desc) > MaxDescriptionLen || strings.ContainsFunc(desc, isControl) {
		invalid.Fields["description"] = "must be at most 500 bytes of text on one line"
	}
	if len(invalid.Fields) > 0 {
		return Endpoint{}, "", invalid
	}
	if secret == "" {
		if secret, err = NewSecret(); err != nil {
			return Endpoint{}, "", err
		}
	}
	head, err := r.cfg.Head(ctx)
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("webhook: register: %w", err)
	}
	now := r.now()
	e := Endpoint{
		ID: r.cfg.NewID(), URL: u, EventTypes: types, Description: desc,
		Secrets:   []Secret{{Key: secret, CreatedAt: now}},
		CreatedAt: now, CreatedBy: createdBy, StartPosition: head,
	}
	if err := r.cfg.Store.CreateEndpoint(ctx, e); err != nil {
		return Endpoint{}, "", fmt.Errorf("webhook: register: %w", err)
	}
	return e, secret, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' }

func merge(into *eventdesk.Error, err error) {
	if err == nil {
		return
	}
	for k, v := range eventdesk.ErrorFields(err) {
		into.Fields[k] = v
	}
	if len(eventdesk.ErrorFields(err)) == 0 {
		into.Fields["_"] = eventdesk.ErrorMessage(err)
	}
}

func (r *Registry) now() time.Time { return r.cfg.Now().UTC().Truncate(time.Microsecond) }

// Get returns one endpoint.
func (r *Registry) Get(ctx context.Context, id string) (Endpoint, error) {
	if !eventdesk.ValidID(id) {
		return Endpoint{}, errNotFound()
	}
	return r.cfg.Store.Endpoint(ctx, id)
}

func errNotFound() error { return eventdesk.Errorf(eventdesk.ENotFound, "webhook not found") }

// List returns every endpoint, oldest first.
func (r *Registry) List(ctx context.Context) ([]Endpoint, error) { return r.cfg.Store.Endpoints(ctx) }

// Delete removes an endpoint, its deliveries and its dead letters.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if !eventdesk.ValidID(id) {
		return errNotFound()
	}
	if err := r.cfg.Store.DeleteEndpoint(ctx, id); err != nil {
		return err
	}
	if r.cfg.DeadLetters == nil {
		return nil
	}
	name := DeadLetterSubscriber(id)
	letters, err := r.cfg.DeadLetters.DeadLetters(ctx, name)
	if err != nil {
		return fmt.Errorf("webhook: delete %s: dead letters: %w", id, err)
	}
	for _, l := range letters {
		// Handled, in the inbox's words: nothing will ever deliver it.
		if err := r.cfg.DeadLetters.MarkHandled(ctx, name, l.Event); err != nil {
			return fmt.Errorf("webhook: delete %s: drop dead letter %d: %w", id, l.ID, err)
		}
	}
	return nil
}

// Rotate gives an endpoint a new secret, returned once. The previous one
// keeps signing, next to it, for the overlap (RegistryConfig.
// RotationOverlap), so that the receiver can switch without losing
// messages; older rotated-out secrets are dropped.
func (r *Registry) Rotate(ctx context.Context, id string) (Endpoint, string, error) {
	e, err := r.Get(ctx, id)
	if err != nil {
		return Endpoint{}, "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return Endpoint{}, "", err
	}
	now := r.now()
	secrets := []Secret{{Key: secret, CreatedAt: now}}
	if len(e.Secrets) > 0 {
		prev := e.Secrets[0]
		prev.ExpiresAt = now.Add(r.cfg.RotationOverlap)
		secrets = append(secrets, prev)
	}
	if err := r.cfg.Store.SetSecrets(ctx, id, secrets); err != nil {
		return Endpoint{}, "", err
	}
	e.Secrets = secrets
	return e, secret, nil
}

// Enable enables a disabled endpoint again: its waiting deliveries go out.
func (r *Registry) Enable(ctx context.Context, id string) (Endpoint, error) {
	if _, err := r.Get(ctx, id); err != nil {
		return Endpoint{}, err
	}
	if err := r.cfg.Store.SetDisabled(ctx, id, false, "", r.now()); err != nil {
		return Endpoint{}, err
	}
	r.cfg.Changed()
	return r.Get(ctx, id)
}

// Limits of Deliveries.
const (
	DefaultDeliveriesLimit = 50
	MaxDeliveriesLimit     = 200
)

// Deliveries returns the delivery log of an endpoint, newest first.
func (r *Registry) Deliveries(ctx context.Context, id string, before int64, limit int) ([]Delivery, error) {
	if _, err := r.Get(ctx, id); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultDeliveriesLimit
	}
	if limit > MaxDeliveriesLimit {
		return nil, eventdesk.FieldError("limit", "must be at most 200")
	}
	return r.cfg.Store.Deliveries(ctx, id, before, limit)
}
