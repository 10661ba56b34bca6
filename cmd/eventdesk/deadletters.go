package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
)

const deadLettersUsage = `Usage: eventdesk deadletters <list|redrive> [flags]

  eventdesk deadletters list [--subscriber NAME] [--json] [--data DIR]
  eventdesk deadletters redrive [--data DIR] ID...

Dead letters are events a side-effect subscriber gave up on after its
retries: sentiment, escalation, email, slack, webhooks (which fills the
webhook outbox) and, per webhook endpoint, webhook:<endpoint id> for a
delivery whose retry schedule ran out. list shows them, oldest first;
redrive queues them for another try by their subscriber (a running server
picks them up within seconds). A letter stays until its event was handled.

These commands work while "eventdesk serve" runs on the same directory.
`

func runDeadLetters(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	if len(args) == 0 {
		return &usageError{msg: "deadletters: missing subcommand (list or redrive)", usage: deadLettersUsage}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(io.out, deadLettersUsage)
		return errHelp
	case "list":
		return runDeadLettersList(ctx, args[1:], io, getenv)
	case "redrive":
		return runDeadLettersRedrive(ctx, args[1:], io, getenv)
	}
	return &usageError{msg: fmt.Sprintf("deadletters: unknown subcommand %q (want list or redrive)", args[0]), usage: deadLettersUsage}
}

// deadLetterStore is what the commands need of the subscribers' state.
type deadLetterStore interface {
	DeadLetters(ctx context.Context, subscriber string) ([]eventdesk.DeadLetter, error)
	Redrive(ctx context.Context, id int64) error
	Close() error
}

type pgDeadLetters struct {
	eventdesk.SubscriberStore
	close func() error
}

func (p pgDeadLetters) Close() error { return p.close() }

// openDeadLetters opens the subscribers' state of a store without its
// lock (the file is shared safely with a running server).
func openDeadLetters(ctx context.Context, location string) (deadLetterStore, error) {
	if isPostgresURL(location) {
		s, err := openPostgresStore(ctx, location, quietLogger())
		if err != nil {
			return nil, err
		}
		return pgDeadLetters{SubscriberStore: s.pg.Subscribers(), close: s.Close}, nil
	}
	if !storeExists(location) {
		return nil, fmt.Errorf("%s holds no event store (no %s): set --data or %s to the data directory of \"eventdesk serve\"", location, sqlite.EventsFile, envData)
	}
	return sqlite.OpenSubscriberState(location, sqlite.SubscriberStateOptions{Logger: quietLogger()})
}

func runDeadLettersList(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("deadletters list", `Usage: eventdesk deadletters list [--subscriber NAME] [--json] [--data DIR]

Lists dead letters, oldest first: id, subscriber, event, attempts, when and
why the last attempt failed, and whether it waits for a redrive.
`)
	cfg.dataFlag(f)
	subscriber := f.String("subscriber", "", "only this subscriber's letters; a prefix ending in ':' (webhook:) selects a kind")
	asJSON := f.Bool("json", false, "print JSON Lines instead of a table")
	if err := f.parse(args, io); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "deadletters list: " + err.Error(), usage: f.usage()}
	}
	st, err := openDeadLetters(ctx, cfg.storeLocation())
	if err != nil {
		return err
	}
	defer st.Close()
	name := *subscriber
	if strings.HasSuffix(name, ":") {
		name = ""
	}
	letters, err := st.DeadLetters(ctx, name)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		for _, d := range letters {
			if !strings.HasPrefix(d.Subscriber, *subscriber) {
				continue
			}
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBSCRIBER\tEVENT\tTYPE\tATTEMPTS\tFAILED AT\tREDRIVEN\tERROR")
	n := 0
	for _, d := range letters {
		if !strings.HasPrefix(d.Subscriber, *subscriber) {
			continue
		}
		n++
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%v\t%s\n", d.ID, d.Subscriber, d.Event.ID, d.Event.Type, d.Attempts,
			d.FailedAt.UTC().Format(time.RFC3339), d.Redriven, oneLine(d.Error, 120))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(io.err, "no dead letters")
	}
	return nil
}

// oneLine shortens s to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func runDeadLettersRedrive(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("deadletters redrive", `Usage: eventdesk deadletters redrive [--data DIR] ID...

Queues the dead letters ID... for another try by their subscribers.
`)
	cfg.dataFlag(f)
	// IDs are positional: parse the flags up to the first of them.
	var ids []string
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			ids = append(ids, args[i])
			args = append(args[:i:i], args[i+1:]...)
			i--
		} else if !strings.Contains(args[i], "=") && (args[i] == "--data" || args[i] == "-data" || args[i] == "--store" || args[i] == "-store") {
			i++ // the flag's value
		}
	}
	if err := f.parse(args, io); err != nil {
		return err
	}
	if len(ids) == 0 {
		return &usageError{msg: "deadletters redrive: give the id of at least one dead letter (see eventdesk deadletters list)", usage: f.usage()}
	}
	var nums []int64
	for _, s := range ids {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return &usageError{msg: fmt.Sprintf("deadletters redrive: %q is not a dead letter id (a positive integer)", s), usage: f.usage()}
		}
		nums = append(nums, n)
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "deadletters redrive: " + err.Error(), usage: f.usage()}
	}
	st, err := openDeadLetters(ctx, cfg.storeLocation())
	if err != nil {
		return err
	}
	defer st.Close()
	var failed []string
	for _, n := range nums {
		if err := st.Redrive(ctx, n); err != nil {
			if eventdesk.ErrorCode(err) == eventdesk.ENotFound {
				failed = append(failed, strconv.FormatInt(n, 10))
				fmt.Fprintf(io.err, "dead letter %d not found\n", n)
				continue
			}
			return err
		}
		fmt.Fprintf(io.out, "redriving dead letter %d\n", n)
	}
	if len(failed) > 0 {
		return fmt.Errorf("deadletters redrive: not found: %s", strings.Join(failed, ", "))
	}
	return nil
}
