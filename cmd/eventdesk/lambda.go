package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/awslambda"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/email"
	"github.com/eventdesk/eventdesk/httpapi"
	"github.com/eventdesk/eventdesk/sentiment"
	"github.com/eventdesk/eventdesk/slack"
	"github.com/eventdesk/eventdesk/web"
	"github.com/eventdesk/eventdesk/webhook"
)

// On AWS Lambda this binary is the custom runtime's bootstrap: Lambda sets
// AWS_LAMBDA_RUNTIME_API, and the function's handler setting (passed as
// _HANDLER) names the role to play. See deploy/aws/template.yaml and
// docs/aws.md.
const (
	envLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"
	envLambdaHandler    = "_HANDLER"
	// Tables, bus and secrets of the AWS deployment.
	envEventsTable = "EVENTDESK_EVENTS_TABLE"
	envReadTable   = "EVENTDESK_READ_TABLE"
	envStateTable  = "EVENTDESK_STATE_TABLE"
	envEventBus    = "EVENTDESK_EVENT_BUS"
	envEventSource = "EVENTDESK_EVENT_SOURCE"
	envSessionKey  = "EVENTDESK_SESSION_KEY"
	// The SDK's standard endpoint overrides (tests point them at local
	// stand-ins).
	envDynamoDBEndpoint    = "AWS_ENDPOINT_URL_DYNAMODB"
	envEventBridgeEndpoint = "AWS_ENDPOINT_URL_EVENTBRIDGE"
)

// lambdaRole tells whether Lambda started this process, and as what.
func lambdaRole(getenv func(string) string) (string, bool) {
	if getenv(envLambdaRuntimeAPI) == "" {
		return "", false
	}
	return getenv(envLambdaHandler), true
}

// runLambda plays role until Lambda stops the process. If it cannot start,
// it reports why to the Runtime API and returns exit code 1.
func runLambda(ctx context.Context, role string, getenv func(string) string, stderr io.Writer) int {
	logger := slog.New(slog.NewJSONHandler(stderr, nil)).With("role", role)
	// Wiring allocates a few megabytes once; collecting them during init
	// only lengthens the cold start.
	gc := debug.SetGCPercent(-1)
	handler, err := lambdaHandler(ctx, role, getenv, logger)
	debug.SetGCPercent(gc)
	if err != nil {
		logger.Error("lambda init failed", "err", err)
		if rerr := awslambda.InitError(ctx, getenv(envLambdaRuntimeAPI), err); rerr != nil {
			logger.Error("lambda init error not reported", "err", rerr)
		}
		return exitError
	}
	awslambda.Start(handler, nil)
	return exitOK
}

// lambdaHandler wires the handler of one role from the environment.
func lambdaHandler(ctx context.Context, role string, getenv func(string) string, logger *slog.Logger) (any, error) {
	need := func(names ...string) error {
		var missing []string
		for _, n := range names {
			if getenv(n) == "" {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("lambda %s: missing environment: %s", role, strings.Join(missing, ", "))
		}
		return nil
	}
	if !isLambdaRole(role) {
		return nil, fmt.Errorf("lambda: unknown handler %q (want one of %s)", role, strings.Join(awslambda.Roles, ", "))
	}
	cfg, err := lambdaAWSConfig(getenv)
	if err != nil {
		return nil, err
	}
	db := dynamodb.Open(cfg, getenv(envDynamoDBEndpoint))
	switch role {
	case awslambda.RoleAPI:
		if err := need(envEventsTable, envReadTable, envStateTable, envSessionKey); err != nil {
			return nil, err
		}
		sessions, err := auth.NewSessions([]byte(getenv(envSessionKey)), 0)
		if err != nil {
			return nil, fmt.Errorf("lambda api: %s: %w", envSessionKey, err)
		}
		sessions.Secure = true // API Gateway serves HTTPS only
		demo := getenv(envDemoLogin) == "true" || getenv(envDemoLogin) == "1"
		metrics := httpapi.NewMetrics()
		a, err := app.New(app.Config{
			Store:  db.EventStore(getenv(envEventsTable), dynamodb.EventStoreOptions{}),
			Reader: db.ReadModels(getenv(envReadTable)), Tokens: db.Tokens(getenv(envStateTable)),
			Observer: metrics, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("lambda api: %w", err)
		}
		readModels := db.ReadModels(getenv(envReadTable))
		notifications, err := lambdaNotifications(db, getenv)
		if err != nil {
			return nil, err
		}
		srv, err := httpapi.NewServer(httpapi.Config{
			App: a, Sessions: sessions, Logger: logger, Metrics: metrics,
			DemoLogin: demo, Notifications: notifications,
			// There is no global position to read: ready means the read
			// models answer.
			Ready: func(ctx context.Context) error { _, err := readModels.Stats(ctx); return err },
		})
		if err != nil {
			return nil, fmt.Errorf("lambda api: %w", err)
		}
		// The HTML interface too, on the same application and sessions;
		// its live updates (Server-Sent Events) cannot pass API Gateway,
		// so they are off. The dashboard reads the read table. Parsing its
		// templates is most of this role's wiring, so the first page
		// request does it, not every cold start (docs/benchmarks.md).
		ui := awslambda.NewLazy(func() (http.Handler, error) {
			dash, err := app.NewDashboardHandler(a, db.Dashboard(getenv(envReadTable)))
			if err != nil {
				return nil, fmt.Errorf("lambda api: %w", err)
			}
			ui, err := web.NewServer(web.Config{
				App: a, Sessions: sessions, Key: []byte(getenv(envSessionKey)), SecureCookies: true, Dashboard: dash,
				DemoLogin: demo, Logger: logger, NoLive: true,
			})
			if err != nil {
				return nil, fmt.Errorf("lambda api: %w", err)
			}
			return ui, nil
		}, logger)
		mux := http.NewServeMux()
		mux.Handle("/", ui)
		for _, p := range apiPaths {
			mux.Handle(p, srv)
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			mux.Handle(p, srv)
		}
		return awslambda.NewAPI(mux, logger).Handle, nil
	case awslambda.RolePublisher:
		if err := need(envEventBus); err != nil {
			return nil, err
		}
		p, err := awslambda.NewPublisher(awslambda.PublisherConfig{
			AWS: cfg, Endpoint: getenv(envEventBridgeEndpoint), Bus: getenv(envEventBus),
			Source: getenv(envEventSource), Decode: dynamodb.EventFromImage, Logger: logger,
		})
		if err != nil {
			return nil, err
		}
		return p.Handle, nil
	case awslambda.RoleProjector:
		if err := need(envEventsTable, envReadTable); err != nil {
			return nil, err
		}
		rm := db.ReadModels(getenv(envReadTable))
		p, err := awslambda.NewProjector(db.EventStore(getenv(envEventsTable), dynamodb.EventStoreOptions{}), rm, logger)
		if err != nil {
			return nil, err
		}
		// An upgraded deployment migrates the read table written by the
		// previous version once (docs/aws.md, "Upgrades").
		return p.WithDashboard(db.Dashboard(getenv(envReadTable))).WithUpgrade(rm.Upgrade).Handle, nil
	case awslambda.RoleSentiment, awslambda.RoleEscalation:
		if err := need(envEventsTable, envReadTable, envStateTable); err != nil {
			return nil, err
		}
		store := db.EventStore(getenv(envEventsTable), dynamodb.EventStoreOptions{})
		a, err := app.New(app.Config{Store: store, Reader: db.ReadModels(getenv(envReadTable)), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("lambda %s: %w", role, err)
		}
		var (
			name    string
			types   []string
			handler awslambda.EventHandler
		)
		if role == awslambda.RoleSentiment {
			name, types = sentiment.ScorerName, sentiment.ScoredTypes
			handler, err = sentiment.NewScorer(sentiment.NewAnalyzer(), a.Automation())
		} else {
			name, types = sentiment.EscalationName, sentiment.EscalationTypes
			handler, err = sentiment.NewEscalation(sentiment.EscalationConfig{Logger: logger}, store, a.Automation())
		}
		if err != nil {
			return nil, fmt.Errorf("lambda %s: %w", role, err)
		}
		sub, err := awslambda.NewSubscriber(name, types, handler, db.Inbox(getenv(envStateTable), 0), logger)
		if err != nil {
			return nil, err
		}
		return sub.Handle, nil
	case awslambda.RoleSlack:
		if err := need(envEventsTable, envStateTable, envSlack); err != nil {
			return nil, err
		}
		poster, err := slack.New(slack.Config{
			WebhookURL: getenv(envSlack), BaseURL: getenv(envPublicURL),
			Events: db.EventStore(getenv(envEventsTable), dynamodb.EventStoreOptions{}), Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("lambda slack: %w", err)
		}
		sub, err := awslambda.NewSubscriber(slack.Name, slack.Types, poster, db.Inbox(getenv(envStateTable), 0), logger)
		if err != nil {
			return nil, err
		}
		return sub.Handle, nil
	case awslambda.RoleWebhook:
		if err := need(envEventsTable, envStateTable); err != nil {
			return nil, err
		}
		cfg, err := lambdaNotifyConfig(getenv)
		if err != nil {
			return nil, fmt.Errorf("lambda webhook: %w", err)
		}
		store := db.Webhooks(getenv(envStateTable))
		events := db.EventStore(getenv(envEventsTable), dynamodb.EventStoreOptions{})
		// Dead deliveries stay in the store (marked dead, listed and
		// redriven through the API from there): there is no subscriber
		// dead-letter table on AWS.
		d, err := webhook.NewDispatcher(webhook.DispatcherConfig{
			Store: store, Events: events, Schedule: cfg.WebhookSchedule, Timeout: cfg.WebhookTimeout,
			DisableAfter: cfg.WebhookDisableAfter, AllowPrivate: cfg.WebhookAllowPrivate, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("lambda webhook: %w", err)
		}
		h, err := awslambda.NewWebhooks(store, events, d, logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	case awslambda.RoleEmail:
		if err := need(envEventsTable, envStateTable, envSMTP); err != nil {
			return nil, err
		}
		cfg, err := lambdaNotifyConfig(getenv)
		if err != nil {
			return nil, fmt.Errorf("lambda email: %w", err)
		}
		smtpCfg, _ := parseSMTPURL(cfg.SMTPURL) // checked by lambdaNotifyConfig
		addresses, _ := email.ParseAddressMap(cfg.EmailAddresses)
		mailer, err := email.New(email.Config{
			SMTP: smtpCfg, From: cfg.EmailFrom, BaseURL: cfg.PublicURL,
			Events:      db.EventStore(getenv(envEventsTable), dynamodb.EventStoreOptions{}),
			Preferences: db.Webhooks(getenv(envStateTable)), Logger: logger,
			Addresses: email.Addresses{Map: addresses, Domain: cfg.EmailDomain},
		})
		if err != nil {
			return nil, fmt.Errorf("lambda email: %w", err)
		}
		sub, err := awslambda.NewSubscriber(email.Name, email.Types, mailer, db.Inbox(getenv(envStateTable), 0), logger)
		if err != nil {
			return nil, err
		}
		return sub.Handle, nil
	case awslambda.RoleToken:
		if err := need(envStateTable); err != nil {
			return nil, err
		}
		return awslambda.NewTokenIssuer(db.Tokens(getenv(envStateTable))).Handle, nil
	}
	return nil, fmt.Errorf("lambda: role %q is not wired", role)
}

// lambdaNotifyConfig reads the notification settings of `eventdesk serve`
// (the same variables: EVENTDESK_WEBHOOK_*, EVENTDESK_SMTP_URL,
// EVENTDESK_EMAIL_*, EVENTDESK_PUBLIC_URL) and checks them.
func lambdaNotifyConfig(getenv func(string) string) (NotifyConfig, error) {
	// The environment is all a function has: a value that does not parse
	// is an init error, not a silent default.
	if v := getenv(envWebhookSchedule); v != "" {
		var d durations
		if err := d.Set(v); err != nil {
			return NotifyConfig{}, fmt.Errorf("%s (--webhook-retry-schedule) %q: %w", envWebhookSchedule, v, err)
		}
	}
	for _, name := range []string{envWebhookTimeout, envWebhookDisableAfter} {
		if v := getenv(name); v != "" {
			if _, err := time.ParseDuration(v); err != nil {
				return NotifyConfig{}, fmt.Errorf("%s %q: %w", name, v, err)
			}
		}
	}
	var c Config
	c.notifyFromEnv(getenv)
	if err := c.validateNotify(); err != nil {
		return NotifyConfig{}, err
	}
	return c.Notify, nil
}

// lambdaNotifications serves the webhook endpoints, the webhook dead
// letters and the users' notification preferences from the state table.
// New endpoints receive the events recorded after their registration (the
// webhook function compares times: DynamoDB has no global position).
func lambdaNotifications(db *dynamodb.DB, getenv func(string) string) (*app.Notifications, error) {
	cfg, err := lambdaNotifyConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("lambda api: %w", err)
	}
	store := db.Webhooks(getenv(envStateTable))
	registry, err := webhook.NewRegistry(webhook.RegistryConfig{
		Store: store, Head: func(context.Context) (int64, error) { return 0, nil }, NewID: app.NewID,
		AllowPrivate: cfg.WebhookAllowPrivate,
	})
	if err != nil {
		return nil, fmt.Errorf("lambda api: %w", err)
	}
	return app.NewNotifications(app.NotificationsConfig{Webhooks: registry, DeadLetters: store, Preferences: store}), nil
}

// lambdaAWSConfig builds the SDK configuration from the region and
// credentials Lambda puts in the environment (or a container credentials
// endpoint), without the SDK's config loader: linking it alone costs every
// cold start several milliseconds of package initialisation.
func lambdaAWSConfig(getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	switch {
	case region != "" && getenv("AWS_ACCESS_KEY_ID") != "":
		return awslambda.StaticAWSConfig(region, getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")), nil
	case region != "" && getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "":
		return awslambda.ContainerAWSConfig(region, getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")), nil
	}
	return aws.Config{}, fmt.Errorf("lambda: no AWS region or credentials in the environment (AWS_REGION with AWS_ACCESS_KEY_ID, or AWS_CONTAINER_CREDENTIALS_FULL_URI)")
}

func isLambdaRole(role string) bool {
	for _, r := range awslambda.Roles {
		if r == role {
			return true
		}
	}
	return false
}
