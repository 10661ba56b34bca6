package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func testSchema(files map[string]string) schema {
	fsys := fstest.MapFS{}
	for name, sql := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return schema{name: "test", appID: 0x74657374, files: fsys}
}

func TestMigrationsNumbering(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"gap":     {"0001_a.sql": "SELECT 1", "0003_c.sql": "SELECT 1"},
		"badname": {"first.sql": "SELECT 1"},
		"zero":    {"0000_a.sql": "SELECT 1"},
	} {
		if _, err := testSchema(files).migrations(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	ms, err := testSchema(map[string]string{"0002_b.sql": "B", "0001_a.sql": "A", "README": "x"}).migrations()
	if err != nil || len(ms) != 2 || ms[0].sql != "A" || ms[1].sql != "B" {
		t.Fatalf("migrations = %+v, %v", ms, err)
	}
}

func openTest(t *testing.T, file string, sc schema) error {
	t.Helper()
	w, r, err := openFile(context.Background(), file, sc, options{logger: slog.New(slog.DiscardHandler), readers: 1})
	if err == nil {
		_ = r.Close()
		_ = w.Close()
	}
	return err
}

func TestMigrate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.db")
	v1 := map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"}
	if err := openTest(t, file, testSchema(v1)); err != nil {
		t.Fatal(err)
	}

	// A failing migration leaves the file at the version before it, with
	// none of its statements applied.
	broken := map[string]string{
		"0001_a.sql": v1["0001_a.sql"],
		"0002_b.sql": "CREATE TABLE b (y INTEGER);",
		"0003_c.sql": "CREATE TABLE c (z INTEGER); THIS IS NOT SQL;",
	}
	if err := openTest(t, file, testSchema(broken)); err == nil || !strings.Contains(err.Error(), "0003_c.sql") {
		t.Fatalf("broken migration: %v, want an error naming 0003_c.sql", err)
	}
	w, r, err := openFile(context.Background(), file, testSchema(v1), options{logger: slog.New(slog.DiscardHandler), readers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var version, tables int
	if err := r.QueryRow("SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema WHERE name IN ('b', 'c'))").Scan(&version, &tables); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	_ = w.Close()
	if version != 1 || tables != 0 {
		t.Fatalf("after a failed migration: user_version %d, %d of its tables; want 1 and 0", version, tables)
	}

	// The fixed migrations apply on top and keep the data.
	v3 := map[string]string{"0001_a.sql": v1["0001_a.sql"], "0002_b.sql": broken["0002_b.sql"], "0003_c.sql": "CREATE TABLE c (z INTEGER);"}
	if err := openTest(t, file, testSchema(v3)); err != nil {
		t.Fatal(err)
	}
	w, r, err = openFile(context.Background(), file, testSchema(v3), options{logger: slog.New(slog.DiscardHandler), readers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	var x int
	if err := r.QueryRow("SELECT (SELECT user_version FROM pragma_user_version), (SELECT x FROM a)").Scan(&version, &x); err != nil || version != 3 || x != 1 {
		t.Fatalf("after upgrade: user_version %d, a.x %d, %v; want 3, 1", version, x, err)
	}
	// The older program now refuses the file.
	if err := openTest(t, file, testSchema(v1)); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("older schema opening a newer file: %v, want ErrNewerSchema", err)
	}
	// And another schema (another application id) refuses it too.
	other := testSchema(v1)
	other.appID = 0x6f746872
	if err := openTest(t, file, other); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("other application id: %v, want ErrCorrupt", err)
	}
}

// openAtFirstMigration creates file with only the first migration of sc
// applied, as the first release wrote it, and returns its writer: a
// migration test fills it, closes it, and opens the file as this release
// does.
func openAtFirstMigration(tb testing.TB, file string, sc schema) *sql.DB {
	tb.Helper()
	ms, err := sc.migrations()
	if err != nil {
		tb.Fatal(err)
	}
	v1 := sc
	v1.files = fstest.MapFS{ms[0].name: &fstest.MapFile{Data: []byte(ms[0].sql)}}
	w, r, err := openFile(context.Background(), file, v1, options{logger: slog.New(slog.DiscardHandler), readers: 1})
	if err != nil {
		tb.Fatal(err)
	}
	_ = r.Close()
	return w
}
