// Package awslambda holds eventdesk's AWS Lambda entry points: the API
// (API Gateway HTTP API events, payload 2.0, adapted to the same
// net/http handler that `eventdesk serve` runs), the publisher (DynamoDB
// Stream records of the events table → EventBridge, as CloudEvents) and the
// projector (SQS messages from EventBridge → the DynamoDB read models).
//
// It is the only package that imports github.com/aws/aws-lambda-go and the
// AWS SDK's EventBridge client and config loader. It imports the root
// package, projection and the SDK's core; the DynamoDB adapter reaches it
// only through the root package's ports and the values cmd/eventdesk (the
// composition root) passes in; package webhook (standard library only)
// for the webhook subscriber.
package awslambda
