package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// TokensFile is the name of the API token database in a data directory.
// It is a file of its own so that `eventdesk token create` can add a token
// while the server runs (SQLite's locking arbitrates; the directory lock
// is not needed for it).
const TokensFile = "tokens.db"

//go:embed migrations/tokens/*.sql
var tokensMigrations embed.FS

// tokensSchema is the token store's file: application_id "EvTk".
var tokensSchema = schema{name: "token store", appID: 0x4576546b, files: mustSub(tokensMigrations, "migrations/tokens")}

// Tokens stores API tokens (hashed) in <dir>/tokens.db. It implements
// app.TokenStore and is safe for concurrent use, also by several
// processes.
type Tokens struct {
	w, r *sql.DB
}

var _ app.TokenStore = (*Tokens)(nil)

// OpenTokens opens (creating and migrating if needed) <dir>/tokens.db
// without taking the directory lock, so that the CLI can manage tokens of
// a running server. A damaged, foreign or newer-schema file is refused.
func OpenTokens(dir string) (*Tokens, error) { return openTokens(dir, slog.Default()) }

func openTokens(dir string, logger *slog.Logger) (*Tokens, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	o := options{logger: logger, now: time.Now, readers: 4}
	w, r, err := openFile(context.Background(), filepath.Join(dir, TokensFile), tokensSchema, o)
	if err != nil {
		return nil, err
	}
	return &Tokens{w: w, r: r}, nil
}

// OpenTokens opens the token store of db's data directory and closes it
// when db closes.
func (db *DB) OpenTokens() (*Tokens, error) {
	t, err := openTokens(db.dir, db.opts.logger)
	if err != nil {
		return nil, err
	}
	db.onClose(t.Close)
	return t, nil
}

// Close closes the token store.
func (t *Tokens) Close() error {
	return errors.Join(t.r.Close(), t.w.Close())
}

// CreateToken implements app.TokenStore.
func (t *Tokens) CreateToken(ctx context.Context, tok app.Token, hash string) error {
	_, err := t.w.ExecContext(ctx, `INSERT INTO tokens (id, hash, user, role, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
		tok.ID, hash, tok.User, string(tok.Role), tok.CreatedAt.UTC().UnixMicro(), tok.CreatedBy)
	var se *sqlite.Error
	switch {
	case errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		// As the other token stores say it (storetest.RunTokens).
		return eventdesk.Errorf(eventdesk.EConflict, "sqlite: create token: a token with this id or secret exists")
	case err != nil:
		return fmt.Errorf("sqlite: create token: %w", err)
	}
	return nil
}

const tokenColumns = `id, user, role, created_at, created_by, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (app.Token, error) {
	var tok app.Token
	var role string
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&tok.ID, &tok.User, &role, &created, &tok.CreatedBy, &revoked); err != nil {
		return tok, err
	}
	tok.Role = eventdesk.Role(role)
	tok.CreatedAt = time.UnixMicro(created).UTC()
	if revoked.Valid {
		tok.RevokedAt = time.UnixMicro(revoked.Int64).UTC()
	}
	return tok, nil
}

// TokenByHash implements app.TokenStore.
func (t *Tokens) TokenByHash(ctx context.Context, hash string) (app.Token, error) {
	tok, err := scanToken(t.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return tok, eventdesk.Errorf(eventdesk.ENotFound, "token not found")
	}
	if err != nil {
		return tok, fmt.Errorf("sqlite: token by hash: %w", err)
	}
	return tok, nil
}

// Tokens implements app.TokenStore.
func (t *Tokens) Tokens(ctx context.Context) ([]app.Token, error) {
	rows, err := t.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	defer rows.Close()
	var out []app.Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tokens: %w", err)
		}
		out = append(out, tok)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements app.TokenStore.
func (t *Tokens) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := t.w.ExecContext(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, at.UTC().UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: revoke token: %w", err)
	} else if n == 0 {
		return eventdesk.Errorf(eventdesk.ENotFound, "token %s not found", id)
	}
	return nil
}
