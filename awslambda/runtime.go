package awslambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// Roles a function can play, named by its handler setting (the SAM
// template's Handler, which Lambda passes to a custom runtime as _HANDLER).
const (
	RoleAPI       = "api"
	RolePublisher = "publisher"
	RoleProjector = "projector"
	RoleToken     = "token"
	// Side-effect subscribers (packages sentiment, slack, webhook and
	// email).
	RoleSentiment  = "sentiment"
	RoleEscalation = "escalation"
	RoleSlack      = "slack"
	RoleWebhook    = "webhook"
	RoleEmail      = "email"
)

// Roles lists every role.
var Roles = []string{RoleAPI, RolePublisher, RoleProjector, RoleToken, RoleSentiment, RoleEscalation, RoleSlack, RoleWebhook, RoleEmail}

// Start serves handler (a method value such as (*API).Handle) through the
// Lambda Runtime API at runtimeAPI (AWS_LAMBDA_RUNTIME_API) until the
// process is stopped; it does not return. SIGTERM, which Lambda sends
// before it shuts an instance down, runs onStop (may be nil).
func Start(handler any, onStop func()) {
	opts := []lambda.Option{}
	if onStop != nil {
		opts = append(opts, lambda.WithEnableSIGTERM(onStop))
	}
	lambda.StartWithOptions(handler, opts...)
}

// InitError reports a failed initialization to the Runtime API at
// runtimeAPI (host:port), as Lambda's custom-runtime contract asks, so
// that the invocation fails with the reason instead of a bare exit. The
// caller exits afterwards.
func InitError(ctx context.Context, runtimeAPI string, initErr error) error {
	body, _ := json.Marshal(map[string]any{
		"errorMessage": initErr.Error(),
		"errorType":    "Runtime.InitError",
	})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+runtimeAPI+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("awslambda: report init error: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("awslambda: report init error: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("awslambda: report init error: %s", resp.Status)
	}
	return nil
}

// StaticAWSConfig is the SDK configuration for region with the given
// credentials, which is what a Lambda function has: the runtime sets
// AWS_REGION and the execution role's credentials as environment
// variables. It skips the SDK's config loader (shared files, the
// credential chain), which costs several milliseconds of every cold start.
func StaticAWSConfig(region, accessKeyID, secretAccessKey, sessionToken string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, sessionToken)),
	}
}

// ContainerAWSConfig is the SDK configuration for region with credentials
// from a container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI
// and its authorization token), for runtimes that provide credentials
// that way rather than as variables. Like StaticAWSConfig it leaves out
// the SDK's config loader, whose package initialisation alone (STS, SSO
// and sign-in clients, shared-file parsing) costs every cold start
// several milliseconds even when it is never called.
func ContainerAWSConfig(region, uri, authToken string) aws.Config {
	return aws.Config{
		Region: region,
		Credentials: aws.NewCredentialsCache(endpointcreds.New(uri, func(o *endpointcreds.Options) {
			o.AuthorizationToken = authToken
		})),
	}
}
