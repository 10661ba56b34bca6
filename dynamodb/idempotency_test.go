package dynamodb_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
)

// TestIdempotencyKeyExpires covers the keys' TTL: the key item carries the
// table's TTL attribute (Unix seconds, now + IdempotencyTTL) for DynamoDB
// to delete it; until then the store itself treats an expired key as gone,
// so a retry within the TTL is a duplicate and the same key after it is a
// new append — even while DynamoDB has not yet deleted the item (its TTL
// deletion is lazy, up to days late, and DynamoDB Local never runs it).
func TestIdempotencyKeyExpires(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	const ttl = 2 * time.Hour

	db, endpoint := openLocal(t)
	table := tableName("events-ttl")
	if err := db.CreateEventsTable(ctx, table); err != nil {
		t.Fatal(err)
	}
	s := db.EventStore(table, dynamodb.EventStoreOptions{IdempotencyTTL: ttl, Now: clock})
	t.Cleanup(func() { s.Close() })
	keyed := func(i int, stream string) eventdesk.EventData {
		d := data(i)
		d.Metadata.IdempotencyKey, d.Metadata.RequestHash = "k-1", "hash-"+stream
		return d
	}
	expiry := func() int64 {
		t.Helper()
		client := ddb.NewFromConfig(localConfig(), func(o *ddb.Options) { o.BaseEndpoint = aws.String(endpoint) })
		out, err := client.GetItem(ctx, &ddb.GetItemInput{
			TableName:      aws.String(table),
			Key:            map[string]types.AttributeValue{dynamodb.EventsKey[0]: &types.AttributeValueMemberS{Value: dynamodb.IdempotencyPrefix + "k-1"}, dynamodb.EventsKey[1]: &types.AttributeValueMemberN{Value: "0"}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		n, ok := out.Item[dynamodb.TTLAttr].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("key item %v has no numeric %q attribute", out.Item, dynamodb.TTLAttr)
		}
		v, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	first, err := s.Append(ctx, "a", eventdesk.NoStream, keyed(1, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := expiry(), clock().Add(ttl).Unix(); got != want {
		t.Fatalf("key expires at %d, want now + TTL = %d", got, want)
	}

	// Within the TTL the key is taken: a duplicate naming the first append.
	advance(ttl - time.Second)
	_, err = s.Append(ctx, "b", eventdesk.NoStream, keyed(2, "b"))
	var dup *eventdesk.DuplicateAppendError
	if !errors.As(err, &dup) || dup.Stream != "a" || dup.Result.Version != first.Version {
		t.Fatalf("append with the key within its TTL: %v, want a duplicate of the append to a", err)
	}

	// Past it, the item is still there (nothing deleted it) but the key is
	// free: the append goes through and the key is renewed for it.
	advance(2 * time.Second)
	res, err := s.Append(ctx, "b", eventdesk.NoStream, keyed(3, "b"))
	if err != nil || res.Version != 1 {
		t.Fatalf("append with the expired key: %+v, %v", res, err)
	}
	if got, want := expiry(), clock().Add(ttl).Unix(); got != want {
		t.Fatalf("renewed key expires at %d, want %d", got, want)
	}
	_, err = s.Append(ctx, "c", eventdesk.NoStream, keyed(4, "c"))
	if !errors.As(err, &dup) || dup.Stream != "b" {
		t.Fatalf("append with the renewed key: %v, want a duplicate of the append to b", err)
	}
	for stream, want := range map[string]int{"a": 1, "b": 1, "c": 0} {
		if evs, err := s.ReadStream(ctx, stream, 1, 0); err != nil || len(evs) != want {
			t.Errorf("stream %s: %d events (%v), want %d", stream, len(evs), err, want)
		}
	}
}
