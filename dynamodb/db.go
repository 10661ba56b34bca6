package dynamodb

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
)

// DB is a DynamoDB connection: one SDK client shared by the event store and
// the read models built from it.
type DB struct {
	client  *ddb.Client
	streams *dynamodbstreams.Client
}

// Open returns a DB using cfg (region, credentials, retries). A non-empty
// endpoint overrides the service's, e.g. DynamoDB Local's
// "http://127.0.0.1:8000"; otherwise cfg decides (including the standard
// AWS_ENDPOINT_URL_DYNAMODB variable that the SDK's config loader reads).
// The same endpoint serves DynamoDB Streams (as DynamoDB Local does).
func Open(cfg aws.Config, endpoint string) *DB {
	return &DB{
		client: ddb.NewFromConfig(cfg, func(o *ddb.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		}),
		streams: dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		}),
	}
}

// CreateEventsTable creates an events table shaped like the one in
// deploy/aws/template.yaml: key (stream, version), on-demand billing, a
// NEW_IMAGE stream and TTL on the idempotency items. It waits until the
// table is active. It exists for local runs and tests; in AWS the template
// creates the table.
func (db *DB) CreateEventsTable(ctx context.Context, name string) error {
	return db.createTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrStream), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrVersion), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrStream), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrVersion), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewTypeNewImage,
		},
	}, true)
}

// createTable creates the table in, waits until it is active and, if ttl,
// enables TTL on its ttl attribute (items that expire by themselves).
func (db *DB) createTable(ctx context.Context, in *ddb.CreateTableInput, ttl bool) error {
	name := aws.ToString(in.TableName)
	if _, err := db.client.CreateTable(ctx, in); err != nil {
		return fmt.Errorf("dynamodb: create table %s: %w", name, err)
	}
	if err := db.waitActive(ctx, name); err != nil {
		return err
	}
	if !ttl {
		return nil
	}
	_, err := db.client.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrTTL),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamodb: enable TTL on %s: %w", name, err)
	}
	return nil
}

// StreamARN returns the ARN of the latest stream of table (empty if it has
// none).
func (db *DB) StreamARN(ctx context.Context, table string) (string, error) {
	out, err := db.client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "", fmt.Errorf("dynamodb: describe table %s: %w", table, err)
	}
	return aws.ToString(out.Table.LatestStreamArn), nil
}

func (db *DB) waitActive(ctx context.Context, name string) error {
	w := ddb.NewTableExistsWaiter(db.client, func(o *ddb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(name)}, 2*time.Minute); err != nil {
		return fmt.Errorf("dynamodb: wait for table %s: %w", name, err)
	}
	return nil
}
