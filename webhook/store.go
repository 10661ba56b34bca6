package webhook

import (
	"context"
	"time"
)

// Store keeps endpoints and deliveries durably. The sqlite and postgres
// packages implement it; webhooktest.Run is its conformance suite. Every
// method is safe for concurrent use.
type Store interface {
	// CreateEndpoint stores a new endpoint (with its secrets).
	CreateEndpoint(ctx context.Context, e Endpoint) error
	// Endpoint returns one endpoint with its secrets, or an ENotFound error.
	Endpoint(ctx context.Context, id string) (Endpoint, error)
	// Endpoints returns every endpoint with its secrets, oldest first.
	Endpoints(ctx context.Context) ([]Endpoint, error)
	// SetSecrets replaces an endpoint's secrets (ENotFound if unknown).
	SetSecrets(ctx context.Context, id string, secrets []Secret) error
	// SetDisabled disables an endpoint with a reason, or enables it again
	// (which also clears its run of failures). ENotFound if unknown.
	SetDisabled(ctx context.Context, id string, disabled bool, reason string, at time.Time) error
	// DeleteEndpoint removes an endpoint and its deliveries (ENotFound if
	// unknown).
	DeleteEndpoint(ctx context.Context, id string) error

	// Enqueue stores pending deliveries, ignoring any whose (EndpointID,
	// EventID) is already stored: enqueueing is idempotent.
	Enqueue(ctx context.Context, ds []Delivery) error
	// Due returns up to limit pending deliveries of enabled endpoints whose
	// NextAttemptAt is at or before now and that are first in line: no
	// pending delivery of the same endpoint and stream has a lower
	// position. Soonest first.
	Due(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// NextDue returns the earliest NextAttemptAt of the pending deliveries
	// of enabled endpoints; ok is false if there is none.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// RecordAttempt records the outcome of one attempt on the delivery
	// (its status, attempts, next attempt and last-attempt fields as in
	// a) and updates the endpoint's run of failures, atomically; it
	// returns the endpoint's FailingSince and ConsecutiveFailures after.
	RecordAttempt(ctx context.Context, a Attempt) (failingSince time.Time, failures int, err error)
	// Requeue makes a dead delivery of (endpoint, event) pending again,
	// due at, with no attempts. It returns the delivery's status before
	// ("" if there is no such delivery); only a dead one changes.
	Requeue(ctx context.Context, endpointID, eventID string, at time.Time) (before Status, err error)
	// Deliveries returns an endpoint's deliveries, newest first: up to
	// limit with Seq < before (before ≤ 0: from the newest).
	Deliveries(ctx context.Context, endpointID string, before int64, limit int) ([]Delivery, error)
	// Counts returns, per endpoint id, how many deliveries are in each
	// status.
	Counts(ctx context.Context) (map[string]map[Status]int64, error)
	// Prune deletes delivered deliveries delivered before cutoff and
	// returns how many.
	Prune(ctx context.Context, cutoff time.Time) (int64, error)
}

// Status is where a delivery is.
type Status string

// Delivery statuses.
const (
	StatusPending   Status = "pending"   // waiting for its (next) attempt
	StatusDelivered Status = "delivered" // a 2xx answer was received
	StatusDead      Status = "dead"      // the retry schedule is exhausted: a dead letter
)

// Delivery is one event for one endpoint: the outbox row and its log.
type Delivery struct {
	// Seq is the store's sequence number of the delivery.
	Seq        int64  `json:"seq"`
	EndpointID string `json:"endpointId"`
	// EventID is the webhook-id.
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	Stream    string `json:"stream"`
	// Position is the event's store position; Version its ticket version.
	Position int64 `json:"position"`
	Version  int64 `json:"version"`
	// Payload is the body sent, the same on every attempt.
	Payload       []byte    `json:"-"`
	Status        Status    `json:"status"`
	Attempts      int       `json:"attempts"`
	CreatedAt     time.Time `json:"createdAt"`
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	DeliveredAt   time.Time `json:"deliveredAt,omitzero"`
	// The last attempt: when, the answer's status code (0: none), how
	// long it took, and what went wrong.
	LastAttemptAt  time.Time     `json:"lastAttemptAt,omitzero"`
	LastStatusCode int           `json:"lastStatusCode"`
	LastLatency    time.Duration `json:"lastLatency"`
	LastError      string        `json:"lastError,omitempty"`
}

// Attempt is the outcome of one delivery attempt, for Store.RecordAttempt.
type Attempt struct {
	Seq        int64
	EndpointID string
	At         time.Time
	StatusCode int
	Latency    time.Duration
	Error      string
	// Status is the delivery's status after the attempt: delivered,
	// pending (retry at NextAttemptAt) or dead.
	Status        Status
	NextAttemptAt time.Time
}
