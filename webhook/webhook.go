// Package webhook delivers ticket events to HTTP endpoints that admins
// register, following the Standard Webhooks specification
// (https://www.standardwebhooks.com): every request carries the headers
// webhook-id (the event id, the same on every retry), webhook-timestamp and
// webhook-signature ("v1," + base64 HMAC-SHA256 of "id.timestamp.body"
// with the endpoint's secret; during a secret rotation one signature per
// secret, separated by spaces).
//
// Delivery is an outbox: the side-effect subscriber Enqueuer (declared in
// the subscription runtime) turns each public ticket event into one
// durable delivery per matching endpoint, and the Dispatcher sends them,
// at least once, in order per ticket and endpoint (a ticket's next event
// waits while an earlier one is retried), with a timeout per attempt and
// exponential backoff with jitter over a schedule of hours. A delivery
// that exhausts the schedule is parked as a dead letter in the
// subscribers' dead-letter table (subscriber "webhook:<endpoint id>"),
// where the API and CLI list and redrive it with every other dead letter.
// An endpoint that keeps failing is disabled with a notice; its
// deliveries wait, nothing is dropped, until an admin enables it again.
//
// Only public data leaves: the payload is a versioned, CloudEvents-like
// DTO built per event type (PayloadVersion), never an internal struct
// marshalled as is; internal notes and sentiment scores are never sent.
//
// Requests are made through a dialer that refuses loopback, link-local,
// private, unspecified and multicast addresses at connect time, after DNS
// resolution, so that neither a URL nor a DNS answer can point deliveries
// at the server's own network (server-side request forgery), unless
// AllowPrivate is set.
//
// The package imports the root package and the standard library; the
// stores (Store, eventdesk.SubscriberStore) are passed in.
package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
)

// Endpoint is a registered receiver of webhooks.
type Endpoint struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// EventTypes filters the events sent; empty means every public type.
	EventTypes []string `json:"eventTypes"`
	// Description is a note for admins.
	Description string `json:"description,omitempty"`
	// Secrets sign deliveries: the current one first, then those being
	// rotated out, until they expire.
	Secrets   []Secret  `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// StartPosition is the store head when the endpoint was registered:
	// it receives the events after it.
	StartPosition int64 `json:"startPosition"`
	// Disabled endpoints receive nothing; their deliveries wait.
	Disabled       bool      `json:"disabled"`
	DisabledAt     time.Time `json:"disabledAt,omitzero"`
	DisabledReason string    `json:"disabledReason,omitempty"`
	// FailingSince is when the current run of failed attempts began (zero
	// while the last attempt succeeded); ConsecutiveFailures counts it.
	FailingSince        time.Time `json:"failingSince,omitzero"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
}

// Secret is one signing secret of an endpoint.
type Secret struct {
	// Key is "whsec_" + base64 of the key bytes.
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiresAt is set on a secret that was rotated out: it signs until
	// then, next to the new one.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// LogValue keeps secrets out of logs: an endpoint logs as its id and the
// scheme and host of its URL (paths and queries may carry tokens too).
func (e Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", e.ID), slog.String("host", RedactURL(e.URL)))
}

// LogValue implements slog.LogValuer: a secret never reaches a log.
func (s Secret) LogValue() slog.Value { return slog.StringValue("whsec_…") }

// String implements fmt.Stringer, for the same reason.
func (s Secret) String() string { return "whsec_…" }

// RedactURL returns the scheme and host of a URL, for logs and notices.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// activeSecrets returns the keys that sign at time now.
func (e Endpoint) activeSecrets(now time.Time) []string {
	var out []string
	for _, s := range e.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s.Key)
		}
	}
	return out
}

// Wants reports whether the endpoint subscribes to events of type typ.
func (e Endpoint) Wants(typ string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, typ)
}

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// Secret sizes in bytes: the Standard Webhooks spec asks for 24 to 64.
const (
	MinSecretBytes      = 24
	MaxSecretBytes      = 64
	generatedSecretSize = 32
)

// NewSecret returns a random secret: "whsec_" + base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, generatedSecretSize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: generate secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey returns the key bytes of a secret, or an EInvalid error.
func secretKey(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, eventdesk.FieldError("secret", `must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, eventdesk.FieldError("secret", `must be "whsec_" followed by standard base64`)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, eventdesk.FieldError("secret", fmt.Sprintf("must encode %d to %d bytes", MinSecretBytes, MaxSecretBytes))
	}
	return key, nil
}

// MaxURLLen bounds an endpoint URL.
const MaxURLLen = 2048

// MaxDescriptionLen bounds an endpoint description, in bytes.
const MaxDescriptionLen = 500

// ValidateURL checks an endpoint URL: absolute http or https, a host, no
// credentials or fragment, and, unless allowPrivate, no loopback, private
// or otherwise internal address or "localhost" as its host. (Host names
// are checked again, resolved, when a delivery connects.)
func ValidateURL(raw string, allowPrivate bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", eventdesk.FieldError("url", "is required")
	}
	if len(raw) > MaxURLLen {
		return "", eventdesk.FieldError("url", "must be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", eventdesk.FieldError("url", "is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", eventdesk.FieldError("url", "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		return "", eventdesk.FieldError("url", "must have a host")
	case u.User != nil:
		return "", eventdesk.FieldError("url", "must not contain credentials; the signature authenticates deliveries")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", eventdesk.FieldError("url", "must not contain a fragment")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return "", eventdesk.FieldError("url", "has an invalid port")
		}
	}
	if !allowPrivate {
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return "", eventdesk.FieldError("url", "must not point at this machine (localhost)")
		}
		if ip, err := netip.ParseAddr(host); err == nil && !PublicAddr(ip) {
			return "", eventdesk.FieldError("url", "must not point at a loopback, private, link-local or otherwise internal address")
		}
	}
	// An address must survive being stored and parsed again when a delivery
	// is made: url.String re-escapes some inputs (an IPv6 zone holding
	// invalid UTF-8, say) into a form url.Parse refuses.
	out := u.String()
	if again, err := url.Parse(out); err != nil || again.Hostname() != u.Hostname() {
		return "", eventdesk.FieldError("url", "is not a valid URL")
	}
	if strings.Contains(u.Host, "%") {
		// An IPv6 zone (fe80::1%eth0) names an interface of this machine:
		// never a public endpoint.
		return "", eventdesk.FieldError("url", "must not contain an IPv6 zone")
	}
	return out, nil
}

// ValidateEventTypes checks and normalizes an endpoint's event types: each
// must be a public type (EventTypes); duplicates are merged.
func ValidateEventTypes(types []string) ([]string, error) {
	out := make([]string, 0, len(types))
	for _, t := range types {
		if !slices.Contains(EventTypes, t) {
			return nil, eventdesk.FieldError("eventTypes", fmt.Sprintf("%q is not an event type sent to webhooks (one of %s)", t, strings.Join(EventTypes, ", ")))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}
