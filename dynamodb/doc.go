// Package dynamodb adapts Amazon DynamoDB to eventdesk's ports: an event
// store (EventStore) and the ticket read models (ReadModels), plus the
// decoding of the events table's stream images for the Lambda publisher.
//
// It is the only non-test package that imports the AWS SDK's dynamodb and
// dynamodbstreams clients; it may import the root package, the projection
// package and the SDK's core (aws, smithy), nothing that does HTTP serving.
//
// DynamoDB has no store-wide order, so this store has no global position:
// every Event.Position and AppendResult.Position is 0, and ReadAll,
// Subscribe and Head return an ENotImplemented error. Subscribers learn of
// new events from the table's stream (see package awslambda) and are
// idempotent on (stream, version) instead of tracking a position.
package dynamodb
