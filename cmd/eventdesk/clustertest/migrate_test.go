package clustertest

import (
	"bytes"
	"context"
	"database/sql"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/google/uuid"
	_ "modernc.org/sqlite" // only to tamper with a store file in TestMigrateRefusesTamperedSource
)

// sqliteStore makes a SQLite data directory with a few tickets, one of
// them appended with an idempotency key, and returns it with the ids.
func sqliteStore(tb testing.TB) (string, []string) {
	tb.Helper()
	dir := tb.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var ids []string
	for i := range 12 {
		id := uuid.Must(uuid.NewV7()).String()
		ids = append(ids, id)
		for k, p := range []eventdesk.Payload{
			eventdesk.TicketCreated{Title: "Migrated " + id[:8], Requester: "rita", Priority: eventdesk.PriorityHigh, Tags: []string{}},
			eventdesk.TicketCommented{CommentID: "c1", Author: "alice", Body: "hello"},
			eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen},
		} {
			typ, schema, data, err := eventdesk.Encode(p)
			if err != nil {
				tb.Fatal(err)
			}
			md := eventdesk.Metadata{Actor: "alice"}
			if i == 0 && k == 0 {
				md.IdempotencyKey, md.RequestHash = "key-1", "hash-1"
			}
			if _, err := db.Append(ctx, eventdesk.TicketStream(id), eventdesk.AnyVersion,
				eventdesk.EventData{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Schema: schema, Data: data, Metadata: md}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dir, ids
}

// TestMigrateFromSQLite moves a SQLite store into PostgreSQL with
// `eventdesk migrate`, then serves it: same events (same export), same
// tickets, and a second migrate into the now used database is refused.
func TestMigrateFromSQLite(t *testing.T) {
	dir, ids := sqliteStore(t)
	dsn := testenv.Postgres(t)
	out := run(t, "migrate", "--from", dir, "--to", dsn)
	if !strings.Contains(out, "migrated 36 events (12 streams)") || !strings.Contains(out, "verified") {
		t.Fatalf("migrate said: %s", out)
	}
	if a, b := run(t, "export", "--data", dir), run(t, "export", "--store", dsn); a != b {
		t.Fatalf("exports differ after migrate:\n%s\n---\n%s", a, b)
	}
	cmd := exec.Command(eventdeskBinary(t), "migrate", "--from", dir, "--to", dsn)
	cmd.Env = testenv.CleanEnv()
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "needs an empty database") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}

	n := startNode(t, "node1", dsn, "")
	token := strings.TrimSpace(run(t, "token", "create", "--store", dsn, "--user", "ops", "--role", "agent"))
	// The 36 events, and the sentiment scores the node adds for their
	// texts (a backfill).
	if head := waitConverged(t, []*node{n}); head < 36 {
		t.Fatalf("read models at %d, want at least the 36 migrated events", head)
	}
	for _, id := range ids {
		var got ticket
		if _, _, err := call("GET", n.url+"/api/v1/tickets/"+id, token, "", nil, &got); err != nil {
			t.Fatal(err)
		}
		if got.Version < 3 || got.Status != "open" || len(got.Comments) != 1 {
			t.Fatalf("ticket %s after migrate: %+v", id, got)
		}
	}
}

// TestImportIntoPostgres loads a SQLite export into PostgreSQL with
// `eventdesk import --store`, all or nothing.
func TestImportIntoPostgres(t *testing.T) {
	dir, _ := sqliteStore(t)
	export := run(t, "export", "--data", dir)
	dsn := testenv.Postgres(t)
	cmd := exec.Command(eventdeskBinary(t), "import", "--store", dsn)
	cmd.Env = testenv.CleanEnv()
	cmd.Stdin = strings.NewReader(export)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if got := run(t, "export", "--store", dsn); got != export {
		t.Fatal("export of the import differs from the original")
	}
	// A broken line stops an import into another database, which stays
	// empty.
	dsn2 := testenv.Postgres(t)
	lines := strings.SplitAfter(export, "\n")
	lines[20] = strings.Replace(lines[20], `"version":`, `"version":9`, 1)
	cmd = exec.Command(eventdeskBinary(t), "import", "--store", dsn2)
	cmd.Env = testenv.CleanEnv()
	cmd.Stdin = strings.NewReader(strings.Join(lines, ""))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("import of a broken export succeeded")
	}
	if got := run(t, "export", "--store", dsn2); got != "" {
		t.Fatalf("a failed import left events behind:\n%s", got)
	}
}

// TestMigrateRefusesTamperedSource edits one event of the SQLite store
// behind its back: migrate must find the broken hash chain, fail, and
// leave the PostgreSQL database without events.
func TestMigrateRefusesTamperedSource(t *testing.T) {
	dir, _ := sqliteStore(t)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE events SET data = CAST('{"commentId":"c1","author":"mallory","body":"forged","internal":false}' AS BLOB) WHERE position = 17`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	dsn := testenv.Postgres(t)
	code, out, stderr := runEnv(t, nil, "migrate", "--from", dir, "--to", dsn)
	if code == 0 || !strings.Contains(stderr, "hash") {
		t.Fatalf("migrate of a tampered store: exit %d\n%s\n%s", code, out, stderr)
	}
	t.Logf("migrate refused: %s", strings.TrimSpace(stderr))
	if got := run(t, "export", "--store", dsn); got != "" {
		t.Fatalf("a refused migrate left events behind:\n%s", got)
	}
}
