package dynamodb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// StreamRecord is one record of the events table's stream, in the shape a
// Lambda DynamoDB event carries it (images in DynamoDB JSON).
type StreamRecord struct {
	EventID        string
	EventName      string // INSERT, MODIFY or REMOVE
	SequenceNumber string
	Keys           json.RawMessage
	NewImage       json.RawMessage
	// ApproximateCreation is when DynamoDB recorded the change.
	ApproximateCreation time.Time
}

// StreamPoller reads the events table's stream with the DynamoDB Streams
// API, from the oldest record kept, shard by shard. In AWS a Lambda event
// source mapping does this; the poller stands in for it where there is
// none: tests on DynamoDB Local and local runs.
type StreamPoller struct {
	client *dynamodbstreams.Client
	arn    string
	// iters holds the next iterator of each shard being read; done holds
	// the shards read to their end.
	iters map[string]string
	done  map[string]bool
}

// StreamPoller returns a poller of table's latest stream.
func (db *DB) StreamPoller(ctx context.Context, table string) (*StreamPoller, error) {
	arn, err := db.StreamARN(ctx, table)
	if err != nil {
		return nil, err
	}
	if arn == "" {
		return nil, fmt.Errorf("dynamodb: table %s has no stream", table)
	}
	return &StreamPoller{client: db.streams, arn: arn, iters: map[string]string{}, done: map[string]bool{}}, nil
}

// Poll returns the records added since the last call (at most about 1000
// per shard), oldest first within each shard.
func (p *StreamPoller) Poll(ctx context.Context) ([]StreamRecord, error) {
	if err := p.discover(ctx); err != nil {
		return nil, err
	}
	var out []StreamRecord
	for shard, it := range p.iters {
		res, err := p.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			return nil, fmt.Errorf("dynamodb: read stream shard %s: %w", shard, err)
		}
		for _, r := range res.Records {
			rec, err := streamRecord(r)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		if res.NextShardIterator == nil {
			delete(p.iters, shard)
			p.done[shard] = true
		} else {
			p.iters[shard] = *res.NextShardIterator
		}
	}
	return out, nil
}

// discover starts reading shards not seen yet.
func (p *StreamPoller) discover(ctx context.Context) error {
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(p.arn)}
	for {
		out, err := p.client.DescribeStream(ctx, in)
		if err != nil {
			return fmt.Errorf("dynamodb: describe stream: %w", err)
		}
		for _, sh := range out.StreamDescription.Shards {
			id := aws.ToString(sh.ShardId)
			if _, reading := p.iters[id]; reading || p.done[id] {
				continue
			}
			it, err := p.client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
				StreamArn: aws.String(p.arn), ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
			})
			if err != nil {
				return fmt.Errorf("dynamodb: shard iterator of %s: %w", id, err)
			}
			p.iters[id] = aws.ToString(it.ShardIterator)
		}
		if out.StreamDescription.LastEvaluatedShardId == nil {
			return nil
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
}

func streamRecord(r streamtypes.Record) (StreamRecord, error) {
	rec := StreamRecord{EventID: aws.ToString(r.EventID), EventName: string(r.EventName)}
	if r.Dynamodb == nil {
		return rec, nil
	}
	rec.SequenceNumber = aws.ToString(r.Dynamodb.SequenceNumber)
	if r.Dynamodb.ApproximateCreationDateTime != nil {
		rec.ApproximateCreation = *r.Dynamodb.ApproximateCreationDateTime
	}
	var err error
	if rec.Keys, err = encodeItemJSON(r.Dynamodb.Keys); err != nil {
		return rec, err
	}
	if r.Dynamodb.NewImage != nil {
		if rec.NewImage, err = encodeItemJSON(r.Dynamodb.NewImage); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// encodeItemJSON writes a stream item in DynamoDB JSON.
func encodeItemJSON(item map[string]streamtypes.AttributeValue) (json.RawMessage, error) {
	m := make(map[string]any, len(item))
	for k, v := range item {
		x, err := attributeJSON(v)
		if err != nil {
			return nil, fmt.Errorf("dynamodb: stream attribute %s: %w", k, err)
		}
		m[k] = x
	}
	return json.Marshal(m)
}

func attributeJSON(v streamtypes.AttributeValue) (any, error) {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return map[string]string{"S": v.Value}, nil
	case *streamtypes.AttributeValueMemberN:
		return map[string]string{"N": v.Value}, nil
	case *streamtypes.AttributeValueMemberB:
		return map[string]string{"B": base64.StdEncoding.EncodeToString(v.Value)}, nil
	case *streamtypes.AttributeValueMemberBOOL:
		return map[string]bool{"BOOL": v.Value}, nil
	case *streamtypes.AttributeValueMemberNULL:
		return map[string]bool{"NULL": true}, nil
	case *streamtypes.AttributeValueMemberSS:
		return map[string][]string{"SS": v.Value}, nil
	case *streamtypes.AttributeValueMemberNS:
		return map[string][]string{"NS": v.Value}, nil
	case *streamtypes.AttributeValueMemberBS:
		out := make([]string, len(v.Value))
		for i, b := range v.Value {
			out[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string][]string{"BS": out}, nil
	case *streamtypes.AttributeValueMemberL:
		out := make([]any, len(v.Value))
		for i, x := range v.Value {
			var err error
			if out[i], err = attributeJSON(x); err != nil {
				return nil, err
			}
		}
		return map[string][]any{"L": out}, nil
	case *streamtypes.AttributeValueMemberM:
		out := make(map[string]any, len(v.Value))
		for k, x := range v.Value {
			var err error
			if out[k], err = attributeJSON(x); err != nil {
				return nil, err
			}
		}
		return map[string]map[string]any{"M": out}, nil
	}
	return nil, fmt.Errorf("unsupported attribute value %T", v)
}
