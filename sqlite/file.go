package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Errors that Open returns (wrapped, with the file and the details). They
// let the CLI tell a refusal from a failure; the wrapped message is meant
// for humans as is.
var (
	// ErrLocked: another process (or another Open in this one) holds the
	// data directory.
	ErrLocked = errors.New("data directory is in use")
	// ErrCorrupt: the file is not a SQLite database, is damaged, or belongs
	// to another application. It was left untouched.
	ErrCorrupt = errors.New("not a valid eventdesk database")
	// ErrNewerSchema: the database was written by a newer eventdesk. It was
	// left untouched.
	ErrNewerSchema = errors.New("database schema is newer than this program")
)

// schema describes one SQLite file of the data directory and how to bring
// it up to date: numbered migrations NNNN_name.sql in files (applied in
// order, each file once, inside one transaction at open) and the
// application_id that marks the file as ours. The read models use their own
// schema value over their own file.
type schema struct {
	// name is what error messages call the file, e.g. "event store".
	name  string
	appID int32
	files fs.FS
}

// migration is one numbered SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the schema's files in order; their numbers must run
// 1, 2, 3… so that a missing file is a build error, not a skipped step.
func (sc schema) migrations() ([]migration, error) {
	var out []migration
	err := fs.WalkDir(sc.files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sql") {
			return err
		}
		base := path.Base(p)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return fmt.Errorf("migration %s: name must be NNNN_description.sql", p)
		}
		b, err := fs.ReadFile(sc.files, p)
		if err != nil {
			return err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s migrations: %w", sc.name, err)
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlite: %s migrations: %s should be number %d", sc.name, m.name, i+1)
		}
	}
	return out, nil
}

// sqliteHeader is the first bytes of every SQLite 3 database file.
const sqliteHeader = "SQLite format 3\x00"

// checkHeader refuses, without opening it with SQLite (which could write
// to it), a file that is not a database of this schema: garbage, a
// truncated or damaged header, another application's database, or a
// schema newer than the migrations know. A missing or empty file is fine
// (it is about to be created). It reads the 100-byte header only, so it
// costs the same for any size.
//
// It must run before any SQLite connection to the file is open in this
// process: closing the *os.File would drop SQLite's POSIX locks on it.
func checkHeader(file string, sc schema, latest int) error {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("sqlite: open %s: %w: not a regular file", file, ErrCorrupt)
	}
	if st.Size() == 0 {
		return nil
	}
	corrupt := func(why string) error {
		return fmt.Errorf("sqlite: refusing to open %s (%s): %w: %s; the file was not modified, restore it from a backup or move it away", file, sc.name, ErrCorrupt, why)
	}
	h := make([]byte, 100)
	if _, err := io.ReadFull(f, h); err != nil {
		return corrupt(fmt.Sprintf("it is %d bytes long, shorter than a SQLite header", st.Size()))
	}
	if string(h[:16]) != sqliteHeader {
		return corrupt("it does not start with the SQLite header, so it is not a SQLite database or its first page is damaged")
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 || h[21] != 64 || h[22] != 32 || h[23] != 32 {
		return corrupt("its header is damaged")
	}
	if h[18] > 2 || h[19] > 2 {
		return corrupt(fmt.Sprintf("it uses SQLite file format %d, unknown to this program", max(h[18], h[19])))
	}
	if st.Size()%pageSize != 0 {
		return corrupt(fmt.Sprintf("its size %d is not a multiple of its page size %d: it was truncated", st.Size(), pageSize))
	}
	version := int32(binary.BigEndian.Uint32(h[60:64]))
	appID := int32(binary.BigEndian.Uint32(h[68:72]))
	if appID != 0 && appID != sc.appID {
		return corrupt(fmt.Sprintf("it is a SQLite database of another application (application_id %#x)", uint32(appID)))
	}
	if int(version) > latest {
		return newerSchema(file, sc, int(version), latest)
	}
	return nil
}

func newerSchema(file string, sc schema, version, latest int) error {
	return fmt.Errorf("sqlite: refusing to open %s (%s): %w: it has schema version %d, this program knows up to %d; run a newer eventdesk (the file was not modified)", file, sc.name, ErrNewerSchema, version, latest)
}

// connConfig is how a connection to one file is set up. Every connection
// gets its pragmas from the DSN, so that each new connection of a pool has
// them too.
type connConfig struct {
	readOnly  bool // mode=ro: can neither write nor create the file
	queryOnly bool // refuses writes (but may recover the WAL index)
	// cacheKiB is SQLite's page cache per connection (0: SQLite's default).
	cacheKiB int
}

// dsn returns the modernc.org/sqlite data source name for file.
func dsn(file string, c connConfig) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "temp_store(MEMORY)")
	if c.cacheKiB > 0 {
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", c.cacheKiB))
	}
	if c.readOnly {
		q.Set("mode", "ro")
	}
	if c.queryOnly || c.readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Persistent, but cheap to repeat, and set before any table exists.
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: file, RawQuery: q.Encode()}
	return u.String()
}

// openPool opens a database/sql pool of at most conns connections to file.
func openPool(file string, c connConfig, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(file, c))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// smallForQuickCheck is the size below which Open runs PRAGMA quick_check:
// a few milliseconds there, but linear in the file, so a store of millions
// of events skips it at start (Verify always runs it).
const smallForQuickCheck = 16 << 20

// probe inspects an existing file through a read-only connection, which
// cannot change it (not even by checkpointing its WAL on close): the
// schema version and application id as SQLite sees them (the WAL may hold
// newer ones than the header), that an unmarked file is empty, and for a
// small file PRAGMA quick_check.
func probe(ctx context.Context, file string, sc schema, latest int) error {
	st, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.Size() == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	db, err := openPool(file, connConfig{readOnly: true}, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	corrupt := func(why string) error {
		return fmt.Errorf("sqlite: refusing to open %s (%s): %w: %s; the file was not modified, restore it from a backup or move it away", file, sc.name, ErrCorrupt, why)
	}
	var version, appID int32
	var tables int
	err = db.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id), (SELECT count(*) FROM sqlite_schema)`).Scan(&version, &appID, &tables)
	if err != nil {
		return corrupt(err.Error())
	}
	if appID != 0 && appID != sc.appID {
		return corrupt(fmt.Sprintf("it is a SQLite database of another application (application_id %#x)", uint32(appID)))
	}
	if appID == 0 && version == 0 && tables > 0 {
		return corrupt("it is a SQLite database of another application (it has tables but no eventdesk schema version)")
	}
	if int(version) > latest {
		return newerSchema(file, sc, int(version), latest)
	}
	if st.Size() <= smallForQuickCheck {
		if problems, err := quickCheck(ctx, db); err != nil {
			return corrupt(err.Error())
		} else if len(problems) > 0 {
			return corrupt("PRAGMA quick_check: " + strings.Join(problems, "; "))
		}
	}
	return nil
}

// quickCheck runs PRAGMA quick_check and returns its complaints (none when
// the file is sound).
func quickCheck(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	return problems, rows.Err()
}

// migrate brings the file behind conn up to the latest schema in one
// IMMEDIATE transaction: either every pending migration is applied and
// user_version records it, or nothing changes.
func migrate(ctx context.Context, conn *sql.Conn, file string, sc schema, logger *slog.Logger) (applied int, err error) {
	ms, err := sc.migrations()
	if err != nil {
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, fmt.Errorf("sqlite: migrate %s: %w", file, err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var version, appID int32
	if err := conn.QueryRowContext(ctx, "SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id)").Scan(&version, &appID); err != nil {
		return 0, fmt.Errorf("sqlite: migrate %s: %w", file, err)
	}
	if appID != 0 && appID != sc.appID {
		return 0, fmt.Errorf("sqlite: migrate %s: %w: application_id %#x", file, ErrCorrupt, uint32(appID))
	}
	if int(version) > len(ms) {
		return 0, newerSchema(file, sc, int(version), len(ms))
	}
	// Upgrading a file that holds data may rebuild indices (minutes on a
	// large read model): say so before the wait, not only after it.
	if logger != nil && version > 0 && int(version) < len(ms) {
		logger.Info("sqlite: migrating; large files may take minutes", "file", file, "from", version, "to", len(ms))
	}
	for _, m := range ms[version:] {
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("sqlite: migrate %s: %s: %w", file, m.name, err)
		}
		applied++
	}
	if applied == 0 {
		_, err := conn.ExecContext(ctx, "ROLLBACK")
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", len(ms), sc.appID)); err != nil {
		return 0, fmt.Errorf("sqlite: migrate %s: %w", file, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("sqlite: migrate %s: commit: %w", file, err)
	}
	return applied, nil
}
