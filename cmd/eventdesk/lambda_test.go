package main

import (
	"log/slog"
	"strings"
	"testing"
)

// TestLambdaAWSConfig covers where a function's region and credentials
// come from: variables, a container credentials endpoint, or nowhere (a
// clear init error, not the SDK's default chain).
func TestLambdaAWSConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		env     map[string]string
		wantErr bool
	}{
		"static":    {env: map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}},
		"container": {env: map[string]string{"AWS_REGION": "eu-west-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds"}},
		"no region": {env: map[string]string{"AWS_ACCESS_KEY_ID": "k"}, wantErr: true},
		"nothing":   {env: map[string]string{"AWS_REGION": "eu-west-1"}, wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := lambdaAWSConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
					t.Fatalf("err = %v, want one naming the variables", err)
				}
				return
			}
			if err != nil || cfg.Region != "eu-west-1" || cfg.Credentials == nil {
				t.Fatalf("cfg %+v, err %v", cfg, err)
			}
		})
	}
}

// TestLambdaSlackRole wires the slack role from its environment, and
// refuses to start without its webhook URL.
func TestLambdaSlackRole(t *testing.T) {
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
		"EVENTDESK_EVENTS_TABLE": "events", "EVENTDESK_STATE_TABLE": "state",
	}
	getenv := func(k string) string { return env[k] }
	if _, err := lambdaHandler(t.Context(), "slack", getenv, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), envSlack) {
		t.Fatalf("without a webhook URL: %v", err)
	}
	env[envSlack] = "https://hooks.slack.com/services/T000/B000/XXXX"
	h, err := lambdaHandler(t.Context(), "slack", getenv, slog.New(slog.DiscardHandler))
	if err != nil || h == nil {
		t.Fatalf("slack role: %v", err)
	}
}

// TestLambdaNotificationRoles wires the webhook and email roles from their
// environment (the settings of `eventdesk serve`), and refuses to start
// with missing or bad ones.
func TestLambdaNotificationRoles(t *testing.T) {
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
		"EVENTDESK_EVENTS_TABLE": "events", "EVENTDESK_STATE_TABLE": "state",
	}
	getenv := func(k string) string { return env[k] }
	log := slog.New(slog.DiscardHandler)
	if h, err := lambdaHandler(t.Context(), "webhook", getenv, log); err != nil || h == nil {
		t.Fatalf("webhook role: %v", err)
	}
	env[envWebhookSchedule] = "soon"
	if _, err := lambdaHandler(t.Context(), "webhook", getenv, log); err == nil || !strings.Contains(err.Error(), "retry-schedule") {
		t.Fatalf("webhook role with a bad schedule: %v", err)
	}
	delete(env, envWebhookSchedule)
	if _, err := lambdaHandler(t.Context(), "email", getenv, log); err == nil || !strings.Contains(err.Error(), envSMTP) {
		t.Fatalf("email role without a server: %v", err)
	}
	env[envSMTP] = "http://mail.example.com"
	if _, err := lambdaHandler(t.Context(), "email", getenv, log); err == nil || !strings.Contains(err.Error(), "smtp://") {
		t.Fatalf("email role with a bad server URL: %v", err)
	}
	env[envSMTP] = "smtp://mailer:s3cret@mail.example.com:587"
	if h, err := lambdaHandler(t.Context(), "email", getenv, log); err != nil || h == nil {
		t.Fatalf("email role: %v", err)
	}
}
