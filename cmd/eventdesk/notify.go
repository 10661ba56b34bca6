package main

// The side-effect subscribers (sentiment, escalation, webhooks, e-mail,
// Slack): their configuration and their one declaration, sideEffects. See
// docs/subscribers.md.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/email"
	"github.com/eventdesk/eventdesk/httpapi"
	"github.com/eventdesk/eventdesk/sentiment"
	"github.com/eventdesk/eventdesk/slack"
	"github.com/eventdesk/eventdesk/subscription"
	"github.com/eventdesk/eventdesk/webhook"
)

// Environment variables of the notification subscribers.
const (
	envWebhookAllowPrivate  = "EVENTDESK_WEBHOOK_ALLOW_PRIVATE"
	envWebhookSchedule      = "EVENTDESK_WEBHOOK_RETRY_SCHEDULE"
	envWebhookTimeout       = "EVENTDESK_WEBHOOK_TIMEOUT"
	envWebhookDisableAfter  = "EVENTDESK_WEBHOOK_DISABLE_AFTER"
	envEscalation           = "EVENTDESK_ESCALATION"
	envSentiment            = "EVENTDESK_SENTIMENT"
	envEscalationThreshold  = "EVENTDESK_ESCALATION_THRESHOLD"
	envSMTP                 = "EVENTDESK_SMTP_URL"
	envEmailFrom            = "EVENTDESK_EMAIL_FROM"
	envEmailDomain          = "EVENTDESK_EMAIL_DOMAIN"
	envEmailAddresses       = "EVENTDESK_EMAIL_ADDRESSES"
	envSlack                = "EVENTDESK_SLACK_WEBHOOK_URL"
	envPublicURL            = "EVENTDESK_PUBLIC_URL"
	envSideEffectAttempts   = "EVENTDESK_SIDE_EFFECT_ATTEMPTS"
	defaultSideEffectTries  = 8
	defaultEmailFromAddress = "eventdesk <eventdesk@localhost>"
)

// NotifyConfig configures the side-effect subscribers.
type NotifyConfig struct {
	// WebhookAllowPrivate lets webhooks reach loopback, private and
	// link-local addresses (refused by default: SSRF).
	WebhookAllowPrivate bool
	// WebhookSchedule is the wait before each webhook retry.
	WebhookSchedule durations
	// WebhookTimeout bounds one delivery attempt.
	WebhookTimeout time.Duration
	// WebhookDisableAfter disables an endpoint failing that long.
	WebhookDisableAfter time.Duration
	// Sentiment runs the sentiment scorer. Off, no ticket is scored (and
	// the escalation policy, which acts on scores, has nothing to do); its
	// checkpoint stays where it was, so turning it on again resumes there.
	Sentiment bool
	// Escalation turns the sentiment escalation policy on.
	Escalation bool
	// EscalationThreshold is the compound score at or below which it
	// escalates.
	EscalationThreshold float64
	// SMTPURL is smtp://[user:password@]host:port; empty: no e-mail.
	SMTPURL string
	// EmailFrom is the sender of notifications.
	EmailFrom string
	// EmailDomain gives user names without one an address: name@domain.
	EmailDomain string
	// EmailAddresses maps user names to addresses: "name=addr,name=addr".
	EmailAddresses string
	// SlackWebhookURL is the incoming webhook; empty: no Slack messages.
	SlackWebhookURL string
	// PublicURL is where people reach the server, for links in messages.
	PublicURL string
	// SideEffectAttempts is how often a side effect is tried before its
	// event is parked as a dead letter.
	SideEffectAttempts int
}

// durations is a comma-separated list of durations, as a flag.
type durations []time.Duration

func (d *durations) String() string {
	if d == nil {
		return ""
	}
	var s []string
	for _, v := range *d {
		s = append(s, v.String())
	}
	return strings.Join(s, ",")
}

func (d *durations) Set(v string) error {
	var out durations
	for _, part := range strings.Split(v, ",") {
		x, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || x < 0 {
			return fmt.Errorf("%q: want durations separated by commas, e.g. 5s,5m,30m,2h", v)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return errors.New("want at least one duration")
	}
	*d = out
	return nil
}

// notifyFromEnv fills c.Notify with the defaults and the environment.
func (c *Config) notifyFromEnv(getenv func(string) string) {
	n := NotifyConfig{
		WebhookSchedule: durations(webhook.DefaultSchedule), WebhookTimeout: webhook.DefaultTimeout,
		WebhookDisableAfter: webhook.DefaultDisableAfter, Sentiment: true, Escalation: true, EscalationThreshold: sentiment.DefaultThreshold,
		EmailFrom: defaultEmailFromAddress, SideEffectAttempts: defaultSideEffectTries,
	}
	n.WebhookAllowPrivate = isTrue(getenv(envWebhookAllowPrivate))
	if v := getenv(envWebhookSchedule); v != "" {
		_ = n.WebhookSchedule.Set(v) // checked again by validateNotify
	}
	if v, err := time.ParseDuration(getenv(envWebhookTimeout)); err == nil {
		n.WebhookTimeout = v
	}
	if v, err := time.ParseDuration(getenv(envWebhookDisableAfter)); err == nil {
		n.WebhookDisableAfter = v
	}
	if v := getenv(envSentiment); v == "false" || v == "0" {
		n.Sentiment = false
	}
	if v := getenv(envEscalation); v == "false" || v == "0" {
		n.Escalation = false
	}
	if v, err := strconv.ParseFloat(getenv(envEscalationThreshold), 64); err == nil {
		n.EscalationThreshold = v
	}
	if v, err := strconv.Atoi(getenv(envSideEffectAttempts)); err == nil {
		n.SideEffectAttempts = v
	}
	n.SMTPURL = getenv(envSMTP)
	if v := getenv(envEmailFrom); v != "" {
		n.EmailFrom = v
	}
	n.EmailDomain = getenv(envEmailDomain)
	n.EmailAddresses = getenv(envEmailAddresses)
	n.SlackWebhookURL = getenv(envSlack)
	n.PublicURL = getenv(envPublicURL)
	c.Notify = n
}

func isTrue(v string) bool { return v == "true" || v == "1" || v == "yes" }

// notifyFlags registers the subscribers' flags on f (serve).
func (c *Config) notifyFlags(f *flags) {
	n := &c.Notify
	f.BoolVar(&n.WebhookAllowPrivate, "webhook-allow-private", n.WebhookAllowPrivate, "let webhooks reach loopback, private and link-local addresses (env "+envWebhookAllowPrivate+")")
	f.Var(&n.WebhookSchedule, "webhook-retry-schedule", "`waits` before each webhook retry, comma-separated; then the delivery is a dead letter (env "+envWebhookSchedule+")")
	f.DurationVar(&n.WebhookTimeout, "webhook-timeout", n.WebhookTimeout, "time limit of one webhook delivery attempt (env "+envWebhookTimeout+")")
	f.DurationVar(&n.WebhookDisableAfter, "webhook-disable-after", n.WebhookDisableAfter, "disable a webhook endpoint whose deliveries have failed for this long (env "+envWebhookDisableAfter+")")
	f.BoolVar(&n.Sentiment, "sentiment", n.Sentiment, "score the sentiment of ticket descriptions and public comments; the first start backfills every ticket already stored (env "+envSentiment+")")
	f.BoolVar(&n.Escalation, "escalation", n.Escalation, "raise the priority of strongly negative new tickets and comments to high (env "+envEscalation+")")
	f.Float64Var(&n.EscalationThreshold, "escalation-threshold", n.EscalationThreshold, "compound sentiment `score` (-1..0) at or below which the policy escalates (env "+envEscalationThreshold+")")
	f.StringVar(&n.SMTPURL, "smtp", n.SMTPURL, "send e-mail notifications through this `URL`: smtp://[user:password@]host:port (env "+envSMTP+")")
	f.StringVar(&n.EmailFrom, "email-from", n.EmailFrom, "sender `address` of e-mail notifications (env "+envEmailFrom+")")
	f.StringVar(&n.EmailDomain, "email-domain", n.EmailDomain, "e-mail `domain` of user names that are not addresses: name@domain (env "+envEmailDomain+")")
	f.StringVar(&n.EmailAddresses, "email-addresses", n.EmailAddresses, "e-mail addresses of users: `name=address,…` (env "+envEmailAddresses+")")
	f.StringVar(&n.SlackWebhookURL, "slack-webhook-url", n.SlackWebhookURL, "post new urgent tickets and escalations to this Slack incoming webhook `URL` (env "+envSlack+")")
	f.StringVar(&n.PublicURL, "public-url", n.PublicURL, "the server's public `URL`, for links in e-mail and Slack messages (env "+envPublicURL+")")
	f.IntVar(&n.SideEffectAttempts, "side-effect-attempts", n.SideEffectAttempts, "tries of a side effect (sentiment, e-mail, Slack…) before its event becomes a dead letter (env "+envSideEffectAttempts+")")
}

// validateNotify reports a usage mistake in the subscribers' settings.
func (c Config) validateNotify() error {
	n := c.Notify
	if len(n.WebhookSchedule) == 0 {
		return errors.New("--webhook-retry-schedule: want at least one duration")
	}
	if n.WebhookTimeout <= 0 || n.WebhookDisableAfter <= 0 {
		return errors.New("--webhook-timeout and --webhook-disable-after must be positive")
	}
	if n.EscalationThreshold < -1 || n.EscalationThreshold >= 0 {
		return fmt.Errorf("--escalation-threshold %v: want a score in [-1, 0)", n.EscalationThreshold)
	}
	if n.SideEffectAttempts < 1 {
		return errors.New("--side-effect-attempts must be at least 1")
	}
	if n.SMTPURL != "" {
		if _, err := parseSMTPURL(n.SMTPURL); err != nil {
			return err
		}
	}
	if n.EmailAddresses != "" {
		if _, err := email.ParseAddressMap(n.EmailAddresses); err != nil {
			return fmt.Errorf("--email-addresses: %w", err)
		}
	}
	if n.SlackWebhookURL != "" {
		if u, err := url.Parse(n.SlackWebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("--slack-webhook-url: want an https URL")
		}
	}
	return nil
}

// parseSMTPURL reads smtp://[user:password@]host[:port] (port 587 by
// default).
func parseSMTPURL(s string) (email.SMTP, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return email.SMTP{}, errors.New("--smtp: want smtp://[user:password@]host:port")
	}
	port := u.Port()
	if port == "" {
		port = "587"
	}
	out := email.SMTP{Addr: net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		out.Username = u.User.Username()
		out.Password, _ = u.User.Password()
	}
	return out, nil
}

// notifications is what the side-effect subscribers share with the API.
type notifications struct {
	store      notificationStore
	registry   *webhook.Registry
	dispatcher *webhook.Dispatcher
}

// notificationStore is the webhook outbox and the users' preferences.
type notificationStore interface {
	webhook.Store
	app.PreferenceStore
}

// openNotifications opens the notifications store next to the event
// store (it closes with it).
func (s *storeHandle) openNotifications() (notificationStore, error) {
	if s.pg != nil {
		return s.pg.Notifications(), nil
	}
	return s.db.OpenNotifications()
}

// sideEffects declares every side-effect subscriber, in one place: its
// name (its checkpoint, inbox and dead letters), where it starts the first
// time, the event types it reads and its handler. Adding one is adding an
// entry here; nothing else changes.
//
// Sentiment backfills (scores for old tickets are useful); the others
// start from now: nobody wants a year of e-mail, Slack or webhook history
// on the day they are turned on, and a new policy applies to new tickets.
func (m *Main) sideEffects(n *notifications) ([]subscription.SideEffect, error) {
	cfg := m.Config.Notify
	a, err := app.New(app.Config{Store: m.store.events, Reader: m.store.readModels, Logger: m.Logger})
	if err != nil {
		return nil, err
	}
	commands := a.Automation()
	scorer, err := sentiment.NewScorer(sentiment.NewAnalyzer(), commands)
	if err != nil {
		return nil, err
	}
	escalation, err := sentiment.NewEscalation(sentiment.EscalationConfig{
		Disabled: !cfg.Escalation, Threshold: cfg.EscalationThreshold, Logger: m.Logger,
	}, m.store.events, commands)
	if err != nil {
		return nil, err
	}
	enqueuer, err := webhook.NewEnqueuer(n.store, n.dispatcher.Notify)
	if err != nil {
		return nil, err
	}
	// Events of different tickets are handled side by side (those of one
	// ticket stay in order), Concurrency at a time: the scorer's and the
	// policy's commands then share the event store's group commit, and
	// the outcomes of a batch are recorded in one write. Mail and Slack
	// stay gentle with the servers they talk to.
	var out []subscription.SideEffect
	if cfg.Sentiment { // off, its checkpoint stays where it was
		out = append(out, subscription.SideEffect{Name: sentiment.ScorerName, Start: subscription.FromBeginning, Types: sentiment.ScoredTypes, Handler: scorer, Concurrency: 64})
	}
	out = append(out,
		subscription.SideEffect{Name: sentiment.EscalationName, Start: subscription.FromNow, Types: sentiment.EscalationTypes, Handler: escalation, Concurrency: 16},
		subscription.SideEffect{Name: webhook.EnqueuerName, Start: subscription.FromNow, Types: webhook.EventTypes, Handler: enqueuer, Concurrency: 16},
	)
	if cfg.SMTPURL != "" {
		smtpCfg, _ := parseSMTPURL(cfg.SMTPURL)
		addresses, _ := email.ParseAddressMap(cfg.EmailAddresses)
		mailer, err := email.New(email.Config{
			SMTP: smtpCfg, From: cfg.EmailFrom, BaseURL: cfg.PublicURL, Events: m.store.events, Preferences: n.store, Logger: m.Logger,
			Addresses: email.Addresses{Map: addresses, Domain: cfg.EmailDomain},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, subscription.SideEffect{Name: email.Name, Start: subscription.FromNow, Types: email.Types, Handler: mailer, Concurrency: 4})
	}
	if cfg.SlackWebhookURL != "" {
		poster, err := slack.New(slack.Config{WebhookURL: cfg.SlackWebhookURL, BaseURL: cfg.PublicURL, Events: m.store.events, Logger: m.Logger})
		if err != nil {
			return nil, err
		}
		out = append(out, subscription.SideEffect{Name: slack.Name, Start: subscription.FromNow, Types: slack.Types, Handler: poster, Concurrency: 4})
	}
	for i := range out {
		out[i].MaxAttempts = cfg.SideEffectAttempts
	}
	return out, nil
}

// startNotifications opens the notifications store, declares the side
// effects on runner and starts the webhook dispatcher (stopped by ctx).
func (m *Main) startNotifications(ctx context.Context, runner *subscription.Runner) error {
	store, err := m.store.openNotifications()
	if err != nil {
		return err
	}
	cfg := m.Config.Notify
	n := &notifications{store: store}
	n.dispatcher, err = webhook.NewDispatcher(webhook.DispatcherConfig{
		Store: store, DeadLetters: m.store.subscribers, Events: m.store.events,
		Schedule: cfg.WebhookSchedule, Timeout: cfg.WebhookTimeout, DisableAfter: cfg.WebhookDisableAfter,
		AllowPrivate: cfg.WebhookAllowPrivate, Lease: m.store.lease(), Logger: m.Logger,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	n.registry, err = webhook.NewRegistry(webhook.RegistryConfig{
		Store: store, Head: m.store.events.Head, DeadLetters: m.store.subscribers, NewID: app.NewID,
		AllowPrivate: cfg.WebhookAllowPrivate, Changed: n.dispatcher.Notify,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	effects, err := m.sideEffects(n)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	for _, se := range effects {
		if err := runner.AddSideEffect(se); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	m.notify = n
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		_ = n.dispatcher.Run(ctx)
	}()
	return nil
}

// notificationsApp returns the API's handlers of webhooks, dead letters
// and preferences.
func (m *Main) notificationsApp() *app.Notifications {
	if m.notify == nil {
		return app.NewNotifications(app.NotificationsConfig{})
	}
	return app.NewNotifications(app.NotificationsConfig{Webhooks: m.notify.registry, DeadLetters: m.runner, Preferences: m.notify.store})
}

var _ app.DeadLetterQueue = (*subscription.Runner)(nil)

// addNotifyMetrics puts every subscriber's attempts, failures and dead
// letters, and every webhook endpoint's deliveries, into /metrics (next to
// the lag that subscriberPositions reports).
func (m *Main) addNotifyMetrics(metrics *httpapi.Metrics) error {
	subs := func(context.Context) ([]httpapi.SubscriberCounts, error) {
		var out []httpapi.SubscriberCounts
		for _, st := range m.runner.Status() {
			out = append(out, httpapi.SubscriberCounts{Name: st.Name, Handled: st.Handled, Attempts: st.Attempts, Failures: st.Failures, DeadLetters: int64(st.DeadLetters)})
		}
		return out, nil
	}
	var hooks func(context.Context) ([]httpapi.WebhookCounts, error)
	if m.notify != nil {
		hooks = func(ctx context.Context) ([]httpapi.WebhookCounts, error) {
			stats, err := m.notify.dispatcher.Stats(ctx)
			if err != nil {
				return nil, err
			}
			out := make([]httpapi.WebhookCounts, len(stats))
			for i, s := range stats {
				out[i] = httpapi.WebhookCounts{Endpoint: s.EndpointID, Attempts: s.Attempts, Failures: s.Failures, Delivered: s.Delivered, Pending: s.Pending, Dead: s.Dead}
			}
			return out, nil
		}
	}
	return metrics.AddNotificationSources(subs, hooks)
}
