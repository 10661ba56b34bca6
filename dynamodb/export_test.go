package dynamodb

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Exported for tests: the read table's indexes (name → partition and sort
// key attributes) and the key attributes of the tables.
var (
	IndexKeys = indexKeys
	EventsKey = [2]string{attrStream, attrVersion}
	PairKey   = [2]string{attrPK, attrSK}
	TTLAttr   = attrTTL
)

// DropPublicCommentCountForTest rewrites ticket id's item as an eventdesk
// older than publicCommentCount wrote it.
func (r *ReadModels) DropPublicCommentCountForTest(ctx context.Context, id string) error {
	key := map[string]types.AttributeValue{attrPK: str(ticketPK(id)), attrSK: str(skTicket)}
	out, err := r.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(r.table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(getStr(out.Item, attrDoc)), &doc); err != nil {
		return err
	}
	delete(doc, "publicCommentCount")
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = r.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName: aws.String(r.table), Key: key,
		UpdateExpression:          aws.String("SET #doc = :d"),
		ExpressionAttributeNames:  map[string]string{"#doc": attrDoc},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": str(string(b))},
	})
	return err
}
