package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// The state table holds what is neither an event nor rebuilt from events,
// so that dropping the read models never loses it: API tokens and the
// inboxes of side-effect subscribers (see Inbox). It is keyed (pk, sk)
// like the read-model table, without indexes, with TTL on "ttl":
//
//   - a token:        ("TOKEN", <id>) with hash, user, role, times;
//   - its hash:       ("TOKENHASH#<hex sha-256>", "H") with the token's id,
//     the lookup a bearer token needs.
const (
	pkToken      = "TOKEN"
	pkTokenHash  = "TOKENHASH#"
	skTokenHash  = "H"
	attrUser     = "user"
	attrRole     = "role"
	attrCreated2 = "createdAt" // Unix microseconds
	attrBy       = "createdBy"
	attrRevoked  = "revokedAt" // Unix microseconds, absent while valid
)

// CreateStateTable creates a state table shaped like the one in
// deploy/aws/template.yaml and waits until it is active. It exists for
// local runs and tests.
func (db *DB) CreateStateTable(ctx context.Context, name string) error {
	return db.createTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}, true)
}

// Tokens stores API tokens (hashed) in the state table. It implements
// app.TokenStore.
type Tokens struct {
	client *ddb.Client
	table  string
}

var _ app.TokenStore = (*Tokens)(nil)

// Tokens returns the token store in the state table.
func (db *DB) Tokens(table string) *Tokens { return &Tokens{client: db.client, table: table} }

// CreateToken implements app.TokenStore: the token and its hash are
// written together, and neither may exist yet.
func (t *Tokens) CreateToken(ctx context.Context, tok app.Token, hash string) error {
	if tok.ID == "" || hash == "" {
		return eventdesk.Errorf(eventdesk.EInvalid, "dynamodb: create token: empty id or hash")
	}
	item := map[string]types.AttributeValue{
		attrPK: str(pkToken), attrSK: str(tok.ID), attrHash: str(hash),
		attrUser: str(tok.User), attrRole: str(string(tok.Role)),
		attrCreated2: num(tok.CreatedAt.UnixMicro()), attrBy: str(tok.CreatedBy),
	}
	if !tok.RevokedAt.IsZero() {
		item[attrRevoked] = num(tok.RevokedAt.UnixMicro())
	}
	absent := aws.String("attribute_not_exists(#pk)")
	names := map[string]string{"#pk": attrPK}
	_, err := t.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(t.table), Item: item, ConditionExpression: absent, ExpressionAttributeNames: names}},
		{Put: &types.Put{TableName: aws.String(t.table), Item: map[string]types.AttributeValue{
			attrPK: str(pkTokenHash + hash), attrSK: str(skTokenHash), attrID: str(tok.ID),
		}, ConditionExpression: absent, ExpressionAttributeNames: names}},
	}})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) && hasReason(canceled, "ConditionalCheckFailed") {
		return eventdesk.Errorf(eventdesk.EConflict, "dynamodb: create token: a token with this id or secret exists")
	}
	if err != nil {
		return fmt.Errorf("dynamodb: create token: %w", err)
	}
	return nil
}

// TokenByHash implements app.TokenStore.
func (t *Tokens) TokenByHash(ctx context.Context, hash string) (app.Token, error) {
	out, err := t.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(t.table),
		Key:            map[string]types.AttributeValue{attrPK: str(pkTokenHash + hash), attrSK: str(skTokenHash)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return app.Token{}, fmt.Errorf("dynamodb: token by hash: %w", err)
	}
	if out.Item == nil {
		return app.Token{}, eventdesk.Errorf(eventdesk.ENotFound, "token not found")
	}
	tok, err := t.token(ctx, getStr(out.Item, attrID))
	if err != nil {
		return app.Token{}, fmt.Errorf("dynamodb: token by hash: %w", err)
	}
	return tok, nil
}

func (t *Tokens) token(ctx context.Context, id string) (app.Token, error) {
	out, err := t.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(t.table),
		Key:            map[string]types.AttributeValue{attrPK: str(pkToken), attrSK: str(id)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return app.Token{}, err
	}
	if out.Item == nil {
		return app.Token{}, eventdesk.Errorf(eventdesk.ENotFound, "token not found")
	}
	return tokenFromItem(out.Item)
}

func tokenFromItem(item map[string]types.AttributeValue) (app.Token, error) {
	tok := app.Token{ID: getStr(item, attrSK), User: getStr(item, attrUser), Role: eventdesk.Role(getStr(item, attrRole)), CreatedBy: getStr(item, attrBy)}
	created, err := getNum(item, attrCreated2)
	if err != nil {
		return tok, fmt.Errorf("token %s: %w", tok.ID, err)
	}
	tok.CreatedAt = time.UnixMicro(created).UTC()
	if _, ok := item[attrRevoked]; ok {
		revoked, err := getNum(item, attrRevoked)
		if err != nil {
			return tok, fmt.Errorf("token %s: %w", tok.ID, err)
		}
		tok.RevokedAt = time.UnixMicro(revoked).UTC()
	}
	return tok, nil
}

// Tokens implements app.TokenStore; ids are UUIDv7, so key order is
// creation order.
func (t *Tokens) Tokens(ctx context.Context) ([]app.Token, error) {
	in := &ddb.QueryInput{
		TableName:                 aws.String(t.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkToken)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []app.Token
	for {
		page, err := t.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamodb: list tokens: %w", err)
		}
		for _, item := range page.Items {
			tok, err := tokenFromItem(item)
			if err != nil {
				return nil, fmt.Errorf("dynamodb: list tokens: %w", err)
			}
			out = append(out, tok)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// RevokeToken implements app.TokenStore; the first revocation time stays.
func (t *Tokens) RevokeToken(ctx context.Context, id string, at time.Time) error {
	_, err := t.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(t.table),
		Key:                       map[string]types.AttributeValue{attrPK: str(pkToken), attrSK: str(id)},
		UpdateExpression:          aws.String("SET #r = if_not_exists(#r, :at)"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#r": attrRevoked, "#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(at.UnixMicro())},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return eventdesk.Errorf(eventdesk.ENotFound, "token %s not found", id)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: revoke token: %w", err)
	}
	return nil
}
