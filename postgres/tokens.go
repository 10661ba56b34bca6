package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/jackc/pgx/v5"
)

// Tokens stores API tokens (only the SHA-256 of each secret) in
// PostgreSQL, shared by every node. It implements app.TokenStore.
type Tokens struct {
	db *DB
}

var _ app.TokenStore = (*Tokens)(nil)

// Tokens returns the API token store of db.
func (db *DB) Tokens() *Tokens { return &Tokens{db: db} }

// CreateToken implements app.TokenStore.
func (t *Tokens) CreateToken(ctx context.Context, tok app.Token, hash string) error {
	_, err := t.db.pool.Exec(ctx, `INSERT INTO api_tokens (id, hash, username, role, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
		tok.ID, hash, tok.User, string(tok.Role), eventdesk.NormalizeTime(tok.CreatedAt), tok.CreatedBy)
	if err != nil {
		return fmt.Errorf("postgres: create token: %w", translate(err))
	}
	return nil
}

const tokenColumns = "id, username, role, created_at, created_by, revoked_at"

func scanToken(row pgx.Row) (app.Token, error) {
	var tok app.Token
	var role string
	var revoked *time.Time
	if err := row.Scan(&tok.ID, &tok.User, &role, &tok.CreatedAt, &tok.CreatedBy, &revoked); err != nil {
		return tok, err
	}
	tok.Role = eventdesk.Role(role)
	tok.CreatedAt = tok.CreatedAt.UTC()
	if revoked != nil {
		tok.RevokedAt = revoked.UTC()
	}
	return tok, nil
}

// TokenByHash implements app.TokenStore.
func (t *Tokens) TokenByHash(ctx context.Context, hash string) (app.Token, error) {
	tok, err := scanToken(t.db.pool.QueryRow(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE hash = $1", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return tok, eventdesk.Errorf(eventdesk.ENotFound, "token not found")
	}
	if err != nil {
		return tok, fmt.Errorf("postgres: token by hash: %w", unavailable(err))
	}
	return tok, nil
}

// Tokens implements app.TokenStore.
func (t *Tokens) Tokens(ctx context.Context) ([]app.Token, error) {
	rows, err := t.db.pool.Query(ctx, "SELECT "+tokenColumns+" FROM api_tokens ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", unavailable(err))
	}
	defer rows.Close()
	var out []app.Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list tokens: %w", unavailable(err))
		}
		out = append(out, tok)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", unavailable(err))
	}
	return out, nil
}

// RevokeToken implements app.TokenStore.
func (t *Tokens) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tag, err := t.db.pool.Exec(ctx, "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2", eventdesk.NormalizeTime(at), id)
	if err != nil {
		return fmt.Errorf("postgres: revoke token: %w", unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return eventdesk.Errorf(eventdesk.ENotFound, "token %s not found", id)
	}
	return nil
}
