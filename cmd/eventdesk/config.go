package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk/internal/progress"
)

// Environment variables; a flag given on the command line wins over them.
const (
	envAddr      = "EVENTDESK_ADDR"
	envData      = "EVENTDESK_DATA"
	envLogFormat = "EVENTDESK_LOG_FORMAT"
	envLogLevel  = "EVENTDESK_LOG_LEVEL"
	// envSecureCookies marks every cookie Secure (see Config.SecureCookies).
	envSecureCookies = "EVENTDESK_SECURE_COOKIES"
)

// Defaults.
const (
	defaultAddr            = "127.0.0.1:8080"
	defaultDataDir         = "./eventdesk-data"
	defaultShutdownTimeout = 10 * time.Second
)

// Config is everything the composition root needs, as plain values, filled
// from flags and environment variables by the subcommands.
type Config struct {
	// Addr is the host:port serve listens on (port 0: any free port).
	Addr string
	// DataDir holds the event store and the read models.
	DataDir string
	// LogFormat is "auto" (text on a terminal, JSON otherwise), "text" or
	// "json".
	LogFormat string
	// LogLevel is the minimum level logged: debug, info, warn or error.
	LogLevel string
	// ShutdownTimeout bounds how long serve waits for in-flight requests
	// when it is asked to stop.
	ShutdownTimeout time.Duration
	// DemoLogin lets anyone log in by name at /login (on by default: the
	// embedded default is a demo; turn it off for real use).
	DemoLogin bool
	// SecureCookies marks the session and form cookies of the UI and the
	// API Secure even on plain-HTTP requests: on behind a reverse proxy
	// that terminates TLS, where serve itself only sees HTTP. Off by
	// default, because browsers drop Secure cookies over plain HTTP and a
	// local demo could then not sign in.
	SecureCookies bool
	// Store, if set, is a PostgreSQL URL: the store shared by several
	// nodes instead of the SQLite store in DataDir (see scaleout.go).
	Store string
	// Bus, if set, is the NATS URL for fan-out and wake-ups between nodes.
	Bus string
	// Node names this process in logs and on the bus.
	Node string
	// Notify configures the side-effect subscribers (notify.go).
	Notify NotifyConfig
}

// configFromEnv returns the defaults, overridden by the environment.
func configFromEnv(getenv func(string) string) Config {
	c := Config{
		Addr:            defaultAddr,
		DataDir:         defaultDataDir,
		LogFormat:       "auto",
		LogLevel:        "info",
		ShutdownTimeout: defaultShutdownTimeout,
		DemoLogin:       true,
	}
	if v := getenv(envDemoLogin); v == "false" || v == "0" {
		c.DemoLogin = false
	}
	c.SecureCookies = isTrue(getenv(envSecureCookies))
	if v := getenv(envAddr); v != "" {
		c.Addr = v
	}
	if v := getenv(envData); v != "" {
		c.DataDir = v
	}
	if v := getenv(envLogFormat); v != "" {
		c.LogFormat = v
	}
	if v := getenv(envLogLevel); v != "" {
		c.LogLevel = v
	}
	c.scaleOutFromEnv(getenv)
	c.notifyFromEnv(getenv)
	return c
}

// dataFlag registers --data on f.
func (c *Config) dataFlag(f *flags) {
	f.StringVar(&c.DataDir, "data", c.DataDir, "data `directory` of the event store and read models (env "+envData+")")
	c.storeFlag(f)
}

// logFlags registers --log-format and --log-level on f.
func (c *Config) logFlags(f *flags) {
	f.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format`: auto (text on a terminal, else JSON), text or json (env "+envLogFormat+")")
	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "minimum log `level`: debug, info, warn or error (env "+envLogLevel+")")
}

// validate reports a usage mistake in c, if any.
func (c *Config) validate() error {
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("log format %q (--log-format or "+envLogFormat+"): want auto, text or json", c.LogFormat)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return fmt.Errorf("the data directory must not be empty")
	}
	return c.validateScaleOut()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q (--log-level or "+envLogLevel+"): want debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger returns the process's logger, writing to w; c must be valid.
func (c Config) newLogger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "text" || (c.LogFormat == "auto" && progress.IsTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
