package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// publicCountKey is the ticket JSON field the migration fills in.
const publicCountKey = `"publicCommentCount"`

// MigrateReadModels brings ticket items written by an older eventdesk up to
// date, and returns how many it rewrote: each ticket's JSON gets
// publicCommentCount (the count a requester sees, without internal notes;
// issue 4), counted from its comment items. DynamoDB has no schema to
// migrate at start, so it is a step to run once after an upgrade (it is
// idempotent, and safe while the projector runs: an item the projector
// rewrites meanwhile already has the field and is left alone).
func (r *ReadModels) MigrateReadModels(ctx context.Context) (int, error) {
	in := &ddb.ScanInput{
		TableName:                 aws.String(r.table),
		FilterExpression:          aws.String("#sk = :t AND NOT contains(#doc, :key)"),
		ExpressionAttributeNames:  map[string]string{"#sk": attrSK, "#doc": attrDoc},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(skTicket), ":key": str(publicCountKey)},
		ProjectionExpression:      aws.String("#pk, #sk, #doc"),
		ConsistentRead:            aws.Bool(true),
	}
	in.ExpressionAttributeNames["#pk"] = attrPK
	done := 0
	for {
		out, err := r.client.Scan(ctx, in)
		if err != nil {
			return done, fmt.Errorf("dynamodb: migrate read models: %w", err)
		}
		for _, item := range out.Items {
			n, err := r.migrateTicket(ctx, item)
			if err != nil {
				return done, fmt.Errorf("dynamodb: migrate read models: %s: %w", getStr(item, attrPK), err)
			}
			done += n
		}
		if len(out.LastEvaluatedKey) == 0 {
			return done, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// migrateTicket adds publicCommentCount to one ticket item, unless its doc
// changed since the scan read it (the projector wrote a newer one, which
// has the field). It returns 1 if it rewrote the item.
func (r *ReadModels) migrateTicket(ctx context.Context, item map[string]types.AttributeValue) (int, error) {
	pk, old := getStr(item, attrPK), getStr(item, attrDoc)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(old), &doc); err != nil {
		return 0, fmt.Errorf("decode ticket: %w", err)
	}
	public := 0
	in := &ddb.QueryInput{
		TableName:                 aws.String(r.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :c)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":c": str("C#")},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := r.client.Query(ctx, in)
		if err != nil {
			return 0, err
		}
		for _, c := range out.Items {
			var comment struct{ Internal bool }
			if err := json.Unmarshal([]byte(getStr(c, attrDoc)), &comment); err != nil {
				return 0, fmt.Errorf("decode comment %s: %w", getStr(c, attrSK), err)
			}
			if !comment.Internal {
				public++
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	doc["publicCommentCount"] = json.RawMessage(fmt.Sprint(public))
	b, err := json.Marshal(doc)
	if err != nil {
		return 0, err
	}
	_, err = r.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(r.table),
		Key:                       map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(skTicket)},
		UpdateExpression:          aws.String("SET #doc = :new"),
		ConditionExpression:       aws.String("#doc = :old"),
		ExpressionAttributeNames:  map[string]string{"#doc": attrDoc},
		ExpressionAttributeValues: map[string]types.AttributeValue{":new": str(string(b)), ":old": str(old)},
	})
	var changed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &changed):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return 1, nil
}

// ReadModelSchema is the version of the read table's layout this build
// writes: 1 is the first with publicCommentCount in every ticket item.
const ReadModelSchema = 1

// The read table records the schema version its items were brought up to
// in ("SCHEMA", "readmodels") with ver.
const (
	pkSchema = "SCHEMA"
	skSchema = "readmodels"
)

// SchemaVersion returns the version recorded in the read table (0: none,
// a table written before versions were recorded, or an empty one).
func (r *ReadModels) SchemaVersion(ctx context.Context) (int64, error) {
	out, err := r.client.GetItem(ctx, &ddb.GetItemInput{
		TableName: aws.String(r.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{attrPK: str(pkSchema), attrSK: str(skSchema)},
	})
	if err != nil {
		return 0, fmt.Errorf("dynamodb: read-model schema version: %w", err)
	}
	if out.Item == nil {
		return 0, nil
	}
	return getNum(out.Item, attrVer)
}

// Upgrade runs the migrations a read table at an older schema version
// needs (MigrateReadModels), then records ReadModelSchema, so that later
// calls cost one read. It reports how many items it rewrote (0 when the
// table was up to date). Two upgrades at once (two cold starts) both run
// the idempotent migration; a table recorded at a newer version than this
// build knows is left alone.
func (r *ReadModels) Upgrade(ctx context.Context) (int, error) {
	v, err := r.SchemaVersion(ctx)
	if err != nil || v >= ReadModelSchema {
		return 0, err
	}
	n, err := r.MigrateReadModels(ctx)
	if err != nil {
		return n, err
	}
	_, err = r.client.PutItem(ctx, &ddb.PutItemInput{
		TableName:                 aws.String(r.table),
		Item:                      map[string]types.AttributeValue{attrPK: str(pkSchema), attrSK: str(skSchema), attrVer: num(ReadModelSchema)},
		ConditionExpression:       aws.String("attribute_not_exists(#v) OR #v < :v"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVer},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(ReadModelSchema)},
	})
	var newer *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &newer) {
		return n, fmt.Errorf("dynamodb: record read-model schema version: %w", err)
	}
	return n, nil
}
