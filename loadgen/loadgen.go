// Package loadgen generates realistic helpdesk traffic from a seed: tickets
// with titles and descriptions in calm, frustrated or angry wording,
// priorities, tags, requesters and agents, and the life of each ticket over
// simulated weeks (triage, assignment, public replies and internal notes,
// waiting for the customer, escalation, resolution, closing, the odd
// reopening).
//
// Everything is a pure function of (Config, ticket index): ticket i is the
// same on every run and every machine, whatever the order or concurrency
// in which tickets are generated, so that a load can be stopped and resumed
// and two loads compared. The random numbers come from PCG (whose output
// is fixed by its specification) through this package's own helpers, not
// through math/rand's convenience methods, whose algorithms may change
// between Go releases.
//
// The package imports the root package (for its types and limits) and the
// standard library; it performs no I/O.
package loadgen

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/eventdesk/eventdesk"
)

// Defaults of Config.
var (
	// DefaultStart is a Monday; with DefaultPeriod the simulated weeks end
	// on Monday 2026-11-23.
	DefaultStart = time.Date(2026, 8, 31, 0, 0, 0, 0, time.UTC)
	// DefaultPeriod is how long tickets keep arriving: twelve weeks.
	DefaultPeriod = 12 * 7 * 24 * time.Hour
)

// Default population sizes.
const (
	DefaultAgents     = 40
	DefaultRequesters = 20_000
)

// Config fixes a generated helpdesk. Two generators with equal Configs
// generate equal tickets.
type Config struct {
	// Seed selects the helpdesk.
	Seed uint64
	// Tickets is how many tickets arrive over Period: ticket i arrives at
	// about Start + Period·i/Tickets, so the arrival rate, and every
	// ticket's time, depends on it.
	Tickets int64
	// Start is when the first ticket may arrive (zero: DefaultStart).
	Start time.Time
	// Period is how long tickets keep arriving (zero: DefaultPeriod). The
	// simulation stops at Start+Period ("now"): later steps are dropped,
	// so the most recent tickets are still being worked on.
	Period time.Duration
	// Agents and Requesters size the populations (zero: the defaults).
	Agents     int
	Requesters int
}

// Generator generates the tickets of one Config. It is safe for
// concurrent use.
type Generator struct {
	cfg    Config
	agents []string
	// cum is the cumulative arrival intensity per simulated hour, for
	// inverting: ticket arrivals follow office hours and weekdays.
	cum []float64
}

// New checks c, fills in its defaults and returns its generator.
func New(c Config) (*Generator, error) {
	if c.Tickets < 1 {
		return nil, errors.New("loadgen: at least one ticket")
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC()
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.Period < time.Hour {
		return nil, fmt.Errorf("loadgen: the simulated period (%s) must be at least an hour", c.Period)
	}
	if c.Agents == 0 {
		c.Agents = DefaultAgents
	}
	if c.Requesters == 0 {
		c.Requesters = DefaultRequesters
	}
	if c.Agents < 2 || c.Requesters < 1 {
		return nil, errors.New("loadgen: need at least two agents and one requester")
	}
	g := &Generator{cfg: c}
	g.agents = make([]string, c.Agents)
	for i := range g.agents {
		g.agents[i] = personName(uint64(i), true)
	}
	hours := int(c.Period / time.Hour)
	g.cum = make([]float64, hours+1)
	for h := range hours {
		g.cum[h+1] = g.cum[h] + intensity(c.Start.Add(time.Duration(h)*time.Hour))
	}
	return g, nil
}

// Config returns the generator's configuration with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// End returns the simulated "now": Start + Period.
func (g *Generator) End() time.Time { return g.cfg.Start.Add(g.cfg.Period) }

// Agents returns the agents' names.
func (g *Generator) Agents() []string { return append([]string(nil), g.agents...) }

// intensity is the relative arrival rate in the hour starting at t:
// weekdays in office hours are busiest.
func intensity(t time.Time) float64 {
	weekend := t.Weekday() == time.Saturday || t.Weekday() == time.Sunday
	switch h := t.Hour(); {
	case weekend:
		return 0.12
	case h >= 9 && h < 17:
		return 1
	case h >= 7 && h < 20:
		return 0.45
	default:
		return 0.08
	}
}

// arrival maps x in [0, 1) to a time in the period, following intensity.
func (g *Generator) arrival(x float64) time.Time {
	total := g.cum[len(g.cum)-1]
	target := x * total
	h := sort.SearchFloat64s(g.cum, target)
	if h > 0 {
		h--
	}
	frac := 0.0
	if w := g.cum[h+1] - g.cum[h]; w > 0 {
		frac = (target - g.cum[h]) / w
	}
	return eventdesk.NormalizeTime(g.cfg.Start.Add(time.Duration(h)*time.Hour + time.Duration(frac*float64(time.Hour))))
}

// Persona is whoever issues a command: a requester or an agent.
type Persona struct {
	Name string
	Role eventdesk.Role
}

// Actor returns the persona as the domain's actor.
func (p Persona) Actor() eventdesk.Actor { return eventdesk.Actor{Name: p.Name, Role: p.Role} }

// Mood is the requester's tone on a ticket.
type Mood int

// Moods.
const (
	Calm Mood = iota
	Frustrated
	Angry
)

// String implements fmt.Stringer.
func (m Mood) String() string { return [...]string{"calm", "frustrated", "angry"}[m] }

// Kind is what a follow-up step does.
type Kind int

// Kinds of steps. Each step, applied in order to the ticket as generated,
// records Step.Events events.
const (
	// Comment adds a public comment or an internal note.
	Comment Kind = iota + 1
	// Status changes the status.
	Status
	// Assign sets the assignee.
	Assign
	// Escalate changes the priority.
	Escalate
)

// String implements fmt.Stringer.
func (k Kind) String() string {
	switch k {
	case Comment:
		return "comment"
	case Status:
		return "status"
	case Assign:
		return "assign"
	case Escalate:
		return "priority"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Step is one thing that happens to a ticket after it is opened.
type Step struct {
	Kind  Kind
	At    time.Time
	Actor Persona
	// Body and Internal describe a Comment.
	Body     string
	Internal bool
	// Status is the new status of a Status step.
	Status eventdesk.Status
	// Assignee is the new assignee of an Assign step.
	Assignee string
	// Priority is the new priority of an Escalate step.
	Priority eventdesk.Priority
	// Events is how many events the step records: 1, or 2 for a comment
	// that also changes the status by a rule of the domain (the team's
	// first public reply opens a new ticket; the requester's answer
	// reopens a pending or resolved one).
	Events int
}

// Edit returns the ticket edit of a Status, Assign or Escalate step.
func (s Step) Edit() eventdesk.EditTicket {
	switch s.Kind {
	case Status:
		st := s.Status
		return eventdesk.EditTicket{Status: &st}
	case Assign:
		a := s.Assignee
		return eventdesk.EditTicket{Assignee: &a}
	case Escalate:
		p := s.Priority
		return eventdesk.EditTicket{Priority: &p}
	}
	return eventdesk.EditTicket{}
}

// Ticket is one generated ticket: how it is opened and what happens next.
type Ticket struct {
	// Index is the ticket's number in the load, from 0.
	Index int64
	// ID is the ticket's id when the loader chooses ids (a UUIDv7 of the
	// simulated creation time); over HTTP the server chooses.
	ID string
	// At is when it is opened; Actor who opens it: the requester (from
	// the portal) or, for about one in five, an agent (on the phone).
	At          time.Time
	Actor       Persona
	Title       string
	Description string
	Priority    eventdesk.Priority
	Requester   string
	// Assignee is set when an agent opens the ticket for themselves.
	Assignee string
	Tags     []string
	Mood     Mood
	// Steps follow in time order, all before the simulated "now". Times
	// are in UTC with microseconds, as stores keep them.
	Steps []Step
}

// Create returns the command that opens t, as the handler of
// app.CreateTicket takes it apart.
func (t Ticket) Create() eventdesk.OpenTicket {
	return eventdesk.OpenTicket{
		Title: t.Title, Description: t.Description, Priority: t.Priority,
		Requester: t.Requester, Assignee: t.Assignee, Tags: append([]string(nil), t.Tags...),
	}
}

// Events returns how many events the ticket records.
func (t Ticket) Events() int {
	n := 1
	for _, s := range t.Steps {
		n += s.Events
	}
	return n
}

// rng is a PCG stream with helpers whose results depend only on PCG's
// output.
type rng struct{ src *rand.PCG }

func newRNG(seed uint64, stream uint64) rng {
	return rng{src: rand.NewPCG(seed, mix(stream))}
}

func (r rng) u64() uint64 { return r.src.Uint64() }

// intn returns a number in [0, n) (Lemire's multiply-shift, without the
// rejection step: the bias is below 2^-40 for our small n).
func (r rng) intn(n int) int {
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int(hi)
}

// float returns a number in [0, 1).
func (r rng) float() float64 { return float64(r.u64()>>11) / (1 << 53) }

// chance returns true with probability p.
func (r rng) chance(p float64) bool { return r.float() < p }

// between returns a duration uniformly in [lo, hi).
func (r rng) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.float()*float64(hi-lo))
}

// exp returns an exponentially distributed duration of the given mean,
// capped at 8 means.
func (r rng) exp(mean time.Duration) time.Duration {
	x := -math.Log(1 - r.float())
	return time.Duration(min(x, 8) * float64(mean))
}

func pick[T any](r rng, xs []T) T { return xs[r.intn(len(xs))] }

// weighted returns an index drawn with the given relative weights.
func (r rng) weighted(w ...float64) int {
	total := 0.0
	for _, v := range w {
		total += v
	}
	x := r.float() * total
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}

// mix is splitmix64's finalizer: a bijective scramble of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// EventID returns the id of the n-th id the application asks for while
// ticket i's step runs (step 0 opens the ticket: its first id is the
// ticket's), as a UUIDv7 of the step's simulated time. Loading the same
// ticket again asks for the same ids, so a resumed load can tell which
// steps are already in the store and the store's unique event ids refuse
// a duplicate.
func (g *Generator) EventID(i int64, step, n int, at time.Time) string {
	r := mix(g.cfg.Seed ^ mix(uint64(i)^mix(uint64(step)<<20|uint64(n))))
	r2 := mix(r)
	ms := uint64(max(at.UnixMilli(), 0)) & (1<<48 - 1)
	var b [16]byte
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(r>>60)
	b[7] = byte(r >> 52)
	b[8] = 0x80 | byte(r2>>58)&0x3f
	for k := 9; k < 16; k++ {
		b[k] = byte(r2 >> (8 * (k - 9)))
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// IdempotencyKey returns the Idempotency-Key of ticket i's step (0: the
// create), unique per seed, so that a resumed load replays instead of
// duplicating.
func IdempotencyKey(seed uint64, i int64, step int) string {
	return fmt.Sprintf("load-%d-%d-%d", seed, i, step)
}

// Requester returns the name of requester k (an e-mail address).
func (g *Generator) requester(k int) string {
	return personName(uint64(k)+1<<32, false)
}

// personName returns a deterministic, plausible user name: agents get
// first.last, requesters first.last plus a number at an e-mail domain.
func personName(k uint64, agent bool) string {
	f := firstNames[k%uint64(len(firstNames))]
	l := lastNames[(k/uint64(len(firstNames)))%uint64(len(lastNames))]
	if agent {
		return f + "." + l
	}
	k &= 1<<32 - 1
	n := k / uint64(len(firstNames)*len(lastNames))
	d := domains[mix(k)%uint64(len(domains))]
	if n == 0 {
		return f + "." + l + "@" + d
	}
	return fmt.Sprintf("%s.%s%d@%s", f, l, n, d)
}

// Ticket returns ticket i (0 ≤ i < Tickets).
func (g *Generator) Ticket(i int64) Ticket {
	r := newRNG(g.cfg.Seed, uint64(i))
	c := g.cfg
	at := g.arrival((float64(i) + r.float()) / float64(c.Tickets))
	end := g.End()

	// Some requesters write far more often than others.
	req := g.requester(int(math.Pow(r.float(), 2.2) * float64(c.Requesters)))
	requester := Persona{Name: req, Role: eventdesk.RoleRequester}
	cat := pick(r, categories)
	mood := Mood(r.weighted(60, 25, 15))
	first := firstOf(req)

	t := Ticket{Index: i, At: at, Requester: req, Mood: mood, Actor: requester}
	t.Title = fill(r, pick(r, cat.titles))
	t.Description = describe(r, cat, mood, first)
	t.Tags = []string{cat.tag}
	for range r.weighted(50, 35, 15) {
		if tag := pick(r, extraTags); tag != cat.tag {
			t.Tags = append(t.Tags, tag)
		}
	}
	t.Tags, _ = eventdesk.NormalizeTags(t.Tags)
	base := cat.priority
	switch mood {
	case Frustrated:
		base++
	case Angry:
		base += 1 + r.intn(2)
	}
	base += r.weighted(20, 60, 20) - 1
	t.Priority = eventdesk.Priorities[min(max(base, 0), 3)]

	agent := Persona{Name: pick(r, g.agents), Role: eventdesk.RoleAgent}
	if r.chance(0.2) {
		// Opened by an agent on the phone, assigned to themselves.
		t.Actor = agent
		t.Assignee = agent.Name
	}
	t.ID = g.EventID(i, 0, 0, at)

	// The ticket's life, step by step, as long as it is before "now".
	p := &plan{t: &t, now: at, end: end, r: r}
	if t.Assignee == "" {
		p.add(Step{Kind: Assign, Actor: agent, Assignee: agent.Name}, p.business(r.exp(3*time.Hour)+5*time.Minute))
	}
	// The team's first public reply opens the ticket (a rule of the domain).
	p.add(Step{Kind: Comment, Actor: agent, Body: reply(r, agentReplies, first, agent.Name), Events: 2}, r.exp(40*time.Minute)+2*time.Minute)
	if r.chance(0.3) {
		p.add(Step{Kind: Comment, Actor: agent, Internal: true, Body: fill(r, pick(r, internalNotes))}, r.exp(2*time.Hour))
	}
	if mood != Calm || r.chance(0.15) {
		p.add(Step{Kind: Comment, Actor: requester, Body: followUp(r, mood)}, p.business(r.exp(10*time.Hour)))
		if mood == Angry && t.Priority != eventdesk.PriorityUrgent && r.chance(0.5) {
			t2 := eventdesk.Priorities[min(t.Priority.Rank(), 3)]
			p.add(Step{Kind: Escalate, Actor: agent, Priority: t2}, r.between(5*time.Minute, 2*time.Hour))
		}
	}
	if r.chance(0.1) {
		other := pick(r, g.agents)
		if other != agent.Name {
			p.add(Step{Kind: Assign, Actor: agent, Assignee: other}, r.exp(5*time.Hour))
			agent = Persona{Name: other, Role: eventdesk.RoleAgent}
		}
	}
	if r.chance(0.3) {
		// Waiting for the customer, whose answer reopens the ticket.
		p.add(Step{Kind: Status, Actor: agent, Status: eventdesk.StatusPending}, r.between(time.Minute, 10*time.Minute))
		p.add(Step{Kind: Comment, Actor: requester, Body: pick(r, customerAnswers), Events: 2}, p.business(r.exp(20*time.Hour)))
	}
	if r.chance(0.88) {
		p.add(Step{Kind: Comment, Actor: agent, Body: reply(r, resolutions, first, agent.Name)}, p.business(r.exp(30*time.Hour)))
		p.add(Step{Kind: Status, Actor: agent, Status: eventdesk.StatusResolved}, r.between(time.Minute, 5*time.Minute))
		switch r.weighted(55, 37, 8) {
		case 0:
			p.add(Step{Kind: Status, Actor: agent, Status: eventdesk.StatusClosed}, r.between(3*24*time.Hour, 7*24*time.Hour))
		case 2:
			// Not fixed after all: the requester's complaint reopens it.
			p.add(Step{Kind: Comment, Actor: requester, Body: pick(r, reopenComplaints), Events: 2}, r.exp(2*24*time.Hour))
			p.add(Step{Kind: Status, Actor: agent, Status: eventdesk.StatusResolved}, p.business(r.exp(12*time.Hour)))
		}
	}
	return t
}

// plan appends steps in time order until the simulated "now".
type plan struct {
	t    *Ticket
	now  time.Time
	end  time.Time
	r    rng
	done bool
}

// add schedules s after the previous step by delay; once a step falls
// after the end of the period, it and every later step are dropped.
func (p *plan) add(s Step, delay time.Duration) {
	if p.done {
		return
	}
	at := p.now.Add(max(delay, time.Second))
	if !at.Before(p.end) {
		p.done = true
		return
	}
	p.now = at
	s.At = eventdesk.NormalizeTime(at)
	if s.Events == 0 {
		s.Events = 1
	}
	p.t.Steps = append(p.t.Steps, s)
}

// business stretches a delay d measured in working time over nights and
// weekends, starting from the plan's current time.
func (p *plan) business(d time.Duration) time.Duration {
	t := p.now
	left := d
	for left > 0 {
		next := t.Truncate(time.Hour).Add(time.Hour)
		span := next.Sub(t)
		w := intensity(t)
		if w >= 0.45 {
			w = 1
		}
		if work := time.Duration(float64(span) * w); work >= left {
			t = t.Add(time.Duration(float64(left) / w))
			left = 0
		} else {
			left -= work
			t = next
		}
	}
	return t.Sub(p.now)
}
