package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Inbox remembers which events each side-effect subscriber has handled, in
// the state table: ("INBOX#<subscriber>", <event id>), expiring after a
// while (the table's TTL). With at-least-once delivery (EventBridge, SQS)
// a subscriber asks it before acting and records the event after, so that
// a redelivered event does not fire its effect twice.
type Inbox struct {
	client *ddb.Client
	table  string
	ttl    time.Duration
	now    func() time.Time
}

// DefaultInboxTTL outlives every redelivery: SQS keeps a message at most 14
// days, and a DLQ as long again before a redrive.
const DefaultInboxTTL = 30 * 24 * time.Hour

// Inbox returns the inbox in the state table; entries expire after ttl
// (0: DefaultInboxTTL).
func (db *DB) Inbox(table string, ttl time.Duration) *Inbox {
	if ttl <= 0 {
		ttl = DefaultInboxTTL
	}
	return &Inbox{client: db.client, table: table, ttl: ttl, now: time.Now}
}

func inboxKey(subscriber, eventID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str("INBOX#" + subscriber), attrSK: str(eventID)}
}

// Handled reports whether subscriber has handled the event with this id.
func (in *Inbox) Handled(ctx context.Context, subscriber, eventID string) (bool, error) {
	out, err := in.client.GetItem(ctx, &ddb.GetItemInput{
		TableName: aws.String(in.table), Key: inboxKey(subscriber, eventID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("dynamodb: inbox of %s: %w", subscriber, err)
	}
	return out.Item != nil, nil
}

// MarkHandled records that subscriber handled the event. It reports false
// if it had been recorded already (another delivery got there first).
func (in *Inbox) MarkHandled(ctx context.Context, subscriber, eventID string) (bool, error) {
	item := inboxKey(subscriber, eventID)
	item[attrTTL] = num(in.now().Add(in.ttl).Unix())
	_, err := in.client.PutItem(ctx, &ddb.PutItemInput{
		TableName: aws.String(in.table), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("dynamodb: inbox of %s: %w", subscriber, err)
	}
	return true, nil
}
