package awslambda

import (
	"context"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// TokenRequest is the payload of an invocation of the token function.
type TokenRequest struct {
	User string         `json:"user"`
	Role eventdesk.Role `json:"role"`
}

// TokenResponse carries the new token's secret, shown this once.
type TokenResponse struct {
	ID     string         `json:"id"`
	User   string         `json:"user"`
	Role   eventdesk.Role `json:"role"`
	Secret string         `json:"secret"`
}

// TokenIssuer creates API tokens when invoked directly (`aws lambda
// invoke`): on AWS there is no data directory for `eventdesk token
// create`, and whoever may invoke the function (an IAM permission) may
// create the first admin's token. It is not reachable over HTTP.
type TokenIssuer struct {
	store app.TokenStore
	now   func() time.Time
}

// NewTokenIssuer returns a TokenIssuer over store.
func NewTokenIssuer(store app.TokenStore) *TokenIssuer {
	return &TokenIssuer{store: store, now: time.Now}
}

// Handle issues one token.
func (t *TokenIssuer) Handle(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	if !req.Role.Valid() {
		return TokenResponse{}, eventdesk.FieldError("role", "must be one of requester, agent, admin, auditor")
	}
	tok, secret, err := app.IssueToken(ctx, t.store, t.now(), req.User, req.Role, "lambda:token")
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{ID: tok.ID, User: tok.User, Role: tok.Role, Secret: secret}, nil
}
