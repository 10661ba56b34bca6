// Package verify checks the integrity of an event log independently of the
// store that holds it: that every stream's versions run 1, 2, 3… and each
// event's hash chains to the previous one (eventdesk.ChainHash), and that
// store-wide positions run 1, 2, 3… without gaps.
//
// It is pure apart from reading through the eventdesk.AllReader port it is
// given, and imports only the root package, so every adapter (and the CLI's
// verify, export and import commands) share one definition of "intact".
// Adapters that can read in stream order feed a Chains checker directly
// and keep memory bounded; Log does everything in one pass over ReadAll and
// keeps one entry per stream.
package verify

import (
	"context"
	"fmt"

	"github.com/eventdesk/eventdesk"
)

// Kind classifies a break.
type Kind string

// Kinds of break.
const (
	// KindPosition: a store-wide position is missing, repeated or out of
	// order.
	KindPosition Kind = "position"
	// KindVersion: a stream's versions skip, repeat or do not start at 1.
	KindVersion Kind = "version"
	// KindHash: an event's stored hash is not ChainHash(previous hash,
	// event): the event or its predecessor was altered.
	KindHash Kind = "hash"
	// KindStorage: the storage engine itself reports damage.
	KindStorage Kind = "storage"
)

// MaxBreaks is how many breaks a Report lists; further ones are only
// counted, so that verifying a badly damaged store does not exhaust memory.
const MaxBreaks = 1000

// Break is one integrity problem, located as precisely as possible.
type Break struct {
	Kind     Kind
	Position int64
	Stream   string
	Version  int64
	EventID  string
	// Message says what was expected and what was found.
	Message string
}

// String renders the break on one line for a report.
func (b Break) String() string {
	s := string(b.Kind)
	if b.Position != 0 {
		s += fmt.Sprintf(" position=%d", b.Position)
	}
	if b.Stream != "" {
		s += fmt.Sprintf(" stream=%s version=%d", b.Stream, b.Version)
	}
	if b.EventID != "" {
		s += " id=" + b.EventID
	}
	return s + ": " + b.Message
}

// Report is the outcome of a verification.
type Report struct {
	// Events is how many events were checked (per pass: a store verified
	// in two passes counts each event once).
	Events int64
	// Streams is how many distinct streams were seen.
	Streams int64
	// LastPosition is the highest position seen (0 without global order).
	LastPosition int64
	// Breaks lists the first MaxBreaks problems in the order found.
	Breaks []Break
	// Omitted counts the breaks beyond MaxBreaks.
	Omitted int64
}

// OK reports whether no break was found.
func (r *Report) OK() bool { return len(r.Breaks) == 0 && r.Omitted == 0 }

// Add records a break.
func (r *Report) Add(b Break) {
	if len(r.Breaks) < MaxBreaks {
		r.Breaks = append(r.Breaks, b)
		return
	}
	r.Omitted++
}

// Positions checks that events fed in position order have the positions
// 1, 2, 3… The zero value is ready to use.
type Positions struct {
	last int64
}

// Check checks e's position against the previous event's.
func (p *Positions) Check(e eventdesk.Event) (Break, bool) {
	want := p.last + 1
	got := e.Position
	if got > p.last {
		p.last = got
	}
	if got == want {
		return Break{}, true
	}
	b := Break{Kind: KindPosition, Position: got, Stream: e.Stream, Version: e.Version, EventID: e.ID}
	switch {
	case got > want && got == want+1:
		b.Message = fmt.Sprintf("position %d is missing", want)
	case got > want:
		b.Message = fmt.Sprintf("positions %d to %d are missing", want, got-1)
	default:
		b.Message = fmt.Sprintf("position %d follows position %d (expected %d)", got, want-1, want)
	}
	return b, false
}

// Last returns the highest position checked so far.
func (p *Positions) Last() int64 { return p.last }

// head is what a chain check needs to know about a stream.
type head struct {
	version int64
	hash    string
}

// Chains checks every stream's versions and hash chain. Events of one
// stream must come in version order; streams may interleave. Its memory
// grows with the number of streams it remembers; callers that read stream
// by stream call Forget when a stream is done.
type Chains struct {
	heads   map[string]head
	streams int64
}

// NewChains returns an empty checker (the zero value is ready too).
func NewChains() *Chains { return &Chains{heads: make(map[string]head)} }

// Seed declares that stream is at version with the given last hash, for
// checking events appended to a stream whose earlier events were checked
// elsewhere (e.g. an import batch continuing a stream).
func (c *Chains) Seed(stream string, version int64, hash string) {
	if c.heads == nil {
		c.heads = make(map[string]head)
	}
	if _, seen := c.heads[stream]; !seen && version > 0 {
		c.streams++
	}
	c.heads[stream] = head{version: version, hash: hash}
}

// Check checks e against the previous event of its stream. It can report a
// version break and a hash break for the same event.
func (c *Chains) Check(e eventdesk.Event) []Break {
	if c.heads == nil {
		c.heads = make(map[string]head)
	}
	h, seen := c.heads[e.Stream]
	if !seen {
		c.streams++
	}
	c.heads[e.Stream] = head{version: e.Version, hash: e.Hash}
	var breaks []Break
	at := Break{Position: e.Position, Stream: e.Stream, Version: e.Version, EventID: e.ID}
	if e.Version != h.version+1 {
		b := at
		b.Kind = KindVersion
		if h.version == 0 {
			b.Message = fmt.Sprintf("stream starts at version %d, not 1", e.Version)
		} else {
			b.Message = fmt.Sprintf("version %d follows version %d", e.Version, h.version)
		}
		breaks = append(breaks, b)
	}
	// Chain to the stored hash of the predecessor, so that one altered
	// event yields one break rather than breaking the rest of its stream.
	if want := eventdesk.ChainHash(h.hash, e); want != e.Hash {
		b := at
		b.Kind = KindHash
		b.Message = fmt.Sprintf("stored hash %s, computed %s: the event or its predecessor was altered", short(e.Hash), short(want))
		breaks = append(breaks, b)
	}
	return breaks
}

// Forget drops what the checker remembers about stream; a later event of
// that stream is then expected to be its first.
func (c *Chains) Forget(stream string) { delete(c.heads, stream) }

// Streams returns how many distinct streams were checked.
func (c *Chains) Streams() int64 { return c.streams }

func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Log verifies a whole store with a global order in one pass over ReadAll:
// positions, versions and hash chains. total (e.g. the store's Head) is
// passed to progress, which is called after every page and may be nil.
// An error is returned only when reading fails; breaks go in the report.
func Log(ctx context.Context, r eventdesk.AllReader, total int64, progress func(done, total int64)) (Report, error) {
	const page = 2000
	var (
		rep    Report
		pos    Positions
		chains = NewChains()
		after  int64
	)
	for {
		events, err := r.ReadAll(ctx, after, page)
		if err != nil {
			return rep, fmt.Errorf("verify: read after position %d: %w", after, err)
		}
		for _, e := range events {
			if e.Position <= after {
				return rep, fmt.Errorf("verify: ReadAll after position %d returned position %d", after, e.Position)
			}
			rep.Events++
			if b, ok := pos.Check(e); !ok {
				rep.Add(b)
			}
			for _, b := range chains.Check(e) {
				rep.Add(b)
			}
			after = e.Position
		}
		if progress != nil {
			progress(rep.Events, max(total, rep.Events))
		}
		if len(events) < page {
			break
		}
	}
	rep.Streams = chains.Streams()
	rep.LastPosition = pos.Last()
	return rep, nil
}
