// Command eventdesk runs the eventdesk helpdesk and its operator tools:
// serve, replay, verify, export, import, token and version.
//
// This package is the one composition root: it alone reads flags and the
// environment (into a plain Config), opens the adapters and passes them, as
// values, to the constructors of the other packages. It may import every
// package of the module; nothing imports it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	// SIGINT/SIGTERM cancel ctx; the command then shuts down gracefully.
	// After the first signal stop() restores the default handling, so a
	// second Ctrl-C ends a stuck shutdown at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	if role, ok := lambdaRole(os.Getenv); ok {
		// Started by AWS Lambda as bootstrap: see lambda.go.
		os.Exit(runLambda(ctx, role, os.Getenv, os.Stderr))
	}
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}

// stdio are the streams a command talks to; tests replace them.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	// run parses args (everything after the subcommand's name) and does
	// the work.
	run func(ctx context.Context, args []string, io stdio, getenv func(string) string) error
}

// commands lists every subcommand; help prints them in this order.
var commands = []command{
	{"serve", "run the helpdesk: HTTP API, projections and side effects", runServe},
	{"replay", "rebuild the read models from the event store", runReplay},
	{"verify", "check hash chains and position continuity of the event store", runVerify},
	{"export", "write every event as JSON Lines, in position order", runExport},
	{"import", "load a JSON Lines export into an empty event store", runImport},
	{"token", "create, list or revoke API tokens", runToken},
	{"deadletters", "list or redrive the events side effects gave up on", runDeadLetters},
	{"migrate", "move a SQLite event store into PostgreSQL (to scale out)", runMigrate},
	{"load", "generate realistic tickets into a store or a running server", runLoad},
	{"version", "print the version of this binary", runVersion},
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

// usageError is a mistake on the command line: exit code 2, with usage.
type usageError struct {
	msg   string
	usage string // printed after the message, may be empty
}

func (e *usageError) Error() string { return e.msg }

// errHelp reports that help was asked for and printed: exit code 0.
var errHelp = errors.New("help requested")

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, io stdio, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(io.err, mainUsage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			// "eventdesk help serve" is "eventdesk serve -h".
			return run(ctx, []string{args[1], "-h"}, io, getenv)
		}
		fmt.Fprint(io.out, mainUsage())
		return exitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args[1:], io, getenv)
		return report(io.err, err)
	}
	fmt.Fprintf(io.err, "eventdesk: unknown command %q%s\n\n%s", name, suggest(name), mainUsage())
	return exitUsage
}

// report prints err the way every command does and returns the exit code.
func report(w io.Writer, err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(w, "eventdesk: %s\n", ue.msg)
		if ue.usage != "" {
			fmt.Fprintf(w, "\n%s", ue.usage)
		}
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "eventdesk: interrupted")
		return exitError
	}
	fmt.Fprintf(w, "eventdesk: %s\n", err)
	return exitError
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`eventdesk is an event-sourced helpdesk.

Usage:
  eventdesk <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "eventdesk <command> -h" for the flags of a command.
`)
	return b.String()
}

// suggest returns " (did you mean …?)" for a near miss of a command name.
func suggest(name string) string {
	var near []string
	for _, c := range commands {
		if strings.HasPrefix(c.name, name) || strings.HasPrefix(name, c.name) || editDistance(name, c.name) <= 2 {
			near = append(near, c.name)
		}
	}
	if len(near) == 0 {
		return ""
	}
	sort.Strings(near)
	return " (did you mean " + strings.Join(near, " or ") + "?)"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// flags is a subcommand's flag set whose errors and help this package
// prints itself, in one format for every command.
type flags struct {
	*flag.FlagSet
	name   string // the subcommand, e.g. "serve"
	header string // usage text before the list of flags
}

func newFlags(name, header string) *flags {
	fs := flag.NewFlagSet("eventdesk "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, name: name, header: header}
}

// usage renders the header and every flag with its default.
func (f *flags) usage() string {
	var b strings.Builder
	b.WriteString(f.header)
	b.WriteString("\nFlags:\n")
	f.SetOutput(&b)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	return b.String()
}

// parse parses args. -h prints the usage to stdout and returns errHelp; a
// bad flag or a stray argument is a usageError.
func (f *flags) parse(args []string, io stdio) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(io.out, f.usage())
			return errHelp
		}
		return &usageError{msg: f.name + ": " + err.Error(), usage: f.usage()}
	}
	if f.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", f.name, f.Arg(0)), usage: f.usage()}
	}
	return nil
}
