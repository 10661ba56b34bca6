package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

const tokenUsage = `Usage: eventdesk token <create|revoke|list> [flags]

  eventdesk token create --user NAME --role ROLE [--data DIR]
  eventdesk token revoke --id ID [--data DIR]
  eventdesk token list [--data DIR]

Manages the bearer tokens of the REST API ("Authorization: Bearer <token>").
create prints a new token once: it is stored only as a hash. Roles:
requester, agent, admin, auditor. revoke makes a token invalid at once.

These commands work while "eventdesk serve" runs on the same directory: the
token file is shared safely (the API's /api/v1/tokens does the same for
admins).
`

func runToken(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	if len(args) == 0 {
		return &usageError{msg: "token: missing subcommand (create, revoke or list)", usage: tokenUsage}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(io.out, tokenUsage)
		return errHelp
	case "create":
		return runTokenCreate(ctx, args[1:], io, getenv)
	case "revoke":
		return runTokenRevoke(ctx, args[1:], io, getenv)
	case "list":
		return runTokenList(ctx, args[1:], io, getenv)
	}
	return &usageError{msg: fmt.Sprintf("token: unknown subcommand %q (want create, revoke or list)", args[0]), usage: tokenUsage}
}

func runTokenCreate(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("token create", `Usage: eventdesk token create --user NAME --role ROLE [--data DIR]

Creates an API token for user NAME with role ROLE (requester, agent, admin
or auditor) and prints it on standard output. The token is shown only now:
the store keeps its hash.
`)
	cfg.dataFlag(f)
	user := f.String("user", "", "the `NAME` the token authenticates as (required)")
	role := f.String("role", "", "the `ROLE`: requester, agent, admin or auditor (required)")
	if err := f.parse(args, io); err != nil {
		return err
	}
	var missing []string
	if *user == "" {
		missing = append(missing, "--user")
	}
	if *role == "" {
		missing = append(missing, "--role")
	}
	if len(missing) > 0 {
		return &usageError{msg: "token create: missing " + strings.Join(missing, " and "), usage: f.usage()}
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "token create: " + err.Error(), usage: f.usage()}
	}
	if !eventdesk.Role(*role).Valid() {
		return &usageError{msg: fmt.Sprintf("token create: unknown role %q (want requester, agent, admin or auditor)", *role), usage: f.usage()}
	}
	tokens, err := openTokens(cfg.storeLocation(), true)
	if err != nil {
		return err
	}
	defer tokens.Close()
	t, secret, err := app.IssueToken(ctx, tokens, time.Now(), *user, eventdesk.Role(*role), "cli")
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintln(io.out, secret)
	fmt.Fprintf(io.err, "created token %s for %s (%s); it is shown only once\n", t.ID, t.User, t.Role)
	return nil
}

func runTokenRevoke(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("token revoke", `Usage: eventdesk token revoke --id ID [--data DIR]

Revokes the API token ID (see "eventdesk token list"); requests with it
are refused from now on.
`)
	cfg.dataFlag(f)
	id := f.String("id", "", "the `ID` of the token (required)")
	if err := f.parse(args, io); err != nil {
		return err
	}
	if *id == "" {
		return &usageError{msg: "token revoke: missing --id", usage: f.usage()}
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "token revoke: " + err.Error(), usage: f.usage()}
	}
	tokens, err := openTokens(cfg.storeLocation(), false)
	if err != nil {
		return err
	}
	defer tokens.Close()
	if err := tokens.RevokeToken(ctx, *id, time.Now()); err != nil {
		return fmt.Errorf("token revoke: %w", err)
	}
	fmt.Fprintf(io.err, "revoked token %s\n", *id)
	return nil
}

func runTokenList(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("token list", `Usage: eventdesk token list [--data DIR]

Lists the API tokens (never their secrets): id, user, role, creation and
revocation.
`)
	cfg.dataFlag(f)
	if err := f.parse(args, io); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "token list: " + err.Error(), usage: f.usage()}
	}
	tokens, err := openTokens(cfg.storeLocation(), false)
	if err != nil {
		return err
	}
	defer tokens.Close()
	list, err := tokens.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("token list: %w", err)
	}
	for _, t := range list {
		state := "valid"
		if !t.RevokedAt.IsZero() {
			state = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(io.out, "%s\t%s\t%s\tcreated %s by %s\t%s\n", t.ID, t.User, t.Role, t.CreatedAt.UTC().Format(time.RFC3339), t.CreatedBy, state)
	}
	return nil
}
