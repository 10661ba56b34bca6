package clustertest

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

// runEnv runs an eventdesk subcommand with extra environment variables and
// returns its exit code, stdout and stderr.
func runEnv(tb testing.TB, env []string, args ...string) (int, string, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, eventdeskBinary(tb), args...)
	cmd.Env = append(testenv.CleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	}
	tb.Fatalf("eventdesk %s: %v", args[0], err)
	return 0, "", ""
}

// TestScaleOutConfiguration: EVENTDESK_STORE works like --store (and a
// flag wins over it), and mistakes in --store / --bus are refused with a
// clear message before anything starts, without showing a password.
func TestScaleOutConfiguration(t *testing.T) {
	dsn := testenv.Postgres(t)
	code, token, stderr := runEnv(t, []string{"EVENTDESK_STORE=" + dsn}, "token", "create", "--user", "envuser", "--role", "agent")
	if code != 0 || strings.TrimSpace(token) == "" {
		t.Fatalf("token create with EVENTDESK_STORE: exit %d\n%s", code, stderr)
	}
	if list := run(t, "token", "list", "--store", dsn); !strings.Contains(list, "envuser") {
		t.Fatalf("the token made with EVENTDESK_STORE is not in the PostgreSQL store:\n%s", list)
	}
	// The flag wins over the environment.
	code, _, stderr = runEnv(t, []string{"EVENTDESK_STORE=postgres://nobody@127.0.0.1:1/nope?connect_timeout=1"},
		"token", "create", "--store", dsn, "--user", "flaguser", "--role", "agent")
	if code != 0 {
		t.Fatalf("token create --store with another EVENTDESK_STORE: exit %d\n%s", code, stderr)
	}
	if list := run(t, "token", "list", "--store", dsn); !strings.Contains(list, "flaguser") {
		t.Fatalf("--store did not win over EVENTDESK_STORE:\n%s", list)
	}

	// serve names its PostgreSQL connections after the node, so that
	// pg_stat_activity tells who holds which lease.
	startNodeWith(t, "edk-7", dsn, "", nodeOptions{defaultAppName: true})
	var holder string
	for deadline := time.Now().Add(20 * time.Second); holder == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		holder = leases(t, dsn)["tickets"]
	}
	if holder != "eventdesk edk-7" {
		t.Errorf("the tickets lease is held by %q, want the node's name \"eventdesk edk-7\"", holder)
	}

	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bus without a shared store", nil, []string{"serve", "--bus", "nats://127.0.0.1:4222"}, "--bus needs a shared PostgreSQL store"},
		{"bus from the environment without a store", []string{"EVENTDESK_BUS=nats://127.0.0.1:4222"}, []string{"serve"}, "--bus needs a shared PostgreSQL store"},
		{"store that is not a URL", nil, []string{"serve", "--store", "/var/lib/eventdesk"}, "want a postgres:// URL"},
		{"bus that is not NATS", nil, []string{"serve", "--store", dsn, "--bus", "http://127.0.0.1:4222"}, "want a nats:// URL"},
		{"store of verify", nil, []string{"verify", "--store", "mysql://x"}, "want a postgres:// URL"},
	} {
		code, out, stderr := runEnv(t, c.env, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want failure saying %q (stdout %q)", c.name, code, stderr, c.want, out)
		}
	}

	// An unreachable database: a clear failure that does not echo the
	// password of the URL.
	code, _, stderr = runEnv(t, nil, "verify", "--store", "postgres://ops:s3cr3t-pw@127.0.0.1:1/eventdesk?connect_timeout=2")
	if code == 0 || stderr == "" {
		t.Fatalf("verify of an unreachable store: exit %d, %q", code, stderr)
	}
	if strings.Contains(stderr, "s3cr3t-pw") {
		t.Fatalf("the password shows in the error: %s", stderr)
	}
}
