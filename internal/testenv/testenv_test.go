package testenv_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestPostgres(t *testing.T) {
	dsn1 := testenv.Postgres(t)
	dsn2 := testenv.Postgres(t)
	if dsn1 == dsn2 {
		t.Fatalf("two calls returned the same database %s", dsn1)
	}
	if !strings.HasPrefix(dsn1, "postgres://") {
		t.Fatalf("DSN %q is not a postgres:// URL", dsn1)
	}

	c1, err := pgx.Connect(ctx(t), dsn1)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close(context.Background())
	var one int
	if err := c1.QueryRow(ctx(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if _, err := c1.Exec(ctx(t), "CREATE TABLE t (id bigint PRIMARY KEY, v text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Exec(ctx(t), "INSERT INTO t VALUES (1, 'a'), (2, 'b')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c1.QueryRow(ctx(t), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
	var fsync string
	if err := c1.QueryRow(ctx(t), "SHOW fsync").Scan(&fsync); err != nil || fsync != "on" {
		t.Fatalf("fsync = %q, %v; want on", fsync, err)
	}

	// The second database is empty: no table t.
	c2, err := pgx.Connect(ctx(t), dsn2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(context.Background())
	var exists bool
	if err := c2.QueryRow(ctx(t), "SELECT to_regclass('t') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("table t visible in second database: %v, %v", exists, err)
	}
}

func TestPostgresParallel(t *testing.T) {
	for i := range 4 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			conn, err := pgx.Connect(ctx(t), testenv.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			// Left open on purpose: the database is dropped WITH (FORCE).
			if _, err := conn.Exec(ctx(t), "CREATE TABLE t (id int)"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNATS(t *testing.T) {
	url := testenv.NATS(t)
	if url != testenv.NATS(t) {
		t.Fatal("NATS started twice")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "TESTENV", Subjects: []string{"testenv.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx(t), "testenv.hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	cons, err := s.CreateConsumer(ctx(t), jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data()) != "world" || msg.Subject() != "testenv.hello" {
		t.Fatalf("got %s %q", msg.Subject(), msg.Data())
	}
	if err := msg.Ack(); err != nil {
		t.Fatal(err)
	}
}

func TestNATSServerRestart(t *testing.T) {
	srv := testenv.NewNATSServer(t)
	url := srv.URL()
	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{
		Name: "RESTART", Subjects: []string{"restart.>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx(t), "restart.before", []byte("1")); err != nil {
		t.Fatal(err)
	}

	srv.Shutdown()
	if c, err := nats.Connect(url, nats.Timeout(time.Second)); err == nil {
		c.Close()
		t.Fatal("connected while the server was down")
	}
	srv.Restart()
	if srv.URL() != url {
		t.Fatalf("URL changed across restart: %s → %s", url, srv.URL())
	}
	select {
	case <-reconnected:
	case <-time.After(20 * time.Second):
		t.Fatal("client did not reconnect")
	}

	// The file-backed stream survived the restart.
	if _, err := js.Publish(ctx(t), "restart.after", []byte("2")); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx(t), "RESTART")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages after restart, want 2", info.State.Msgs)
	}

	srv.Shutdown()
	srv.Shutdown() // idempotent
}

func TestDynamoDB(t *testing.T) {
	endpoint := testenv.DynamoDB(t)
	cfg, err := config.LoadDefaultConfig(ctx(t),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testenv", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	if _, err := db.ListTables(ctx(t), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTable(ctx(t), &dynamodb.CreateTableInput{
		TableName:            aws.String("testenv"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := db.ListTables(ctx(t), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out.TableNames) != "[testenv]" {
		t.Fatalf("tables = %v", out.TableNames)
	}
	if testenv.DynamoDB(t) != endpoint {
		t.Fatal("DynamoDB Local started twice")
	}
}

func TestChromium(t *testing.T) {
	path := testenv.Chromium(t)
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		t.Fatalf("Chromium path %s: %v", path, err)
	}
	if testing.Short() {
		return
	}
	// It really starts, headless and offline, and renders a page.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir="+t.TempDir(),
		"--dump-dom", "data:text/html,<p id=x>hello%20testenv</p>")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "hello testenv") {
		t.Fatalf("chromium rendered %q", out)
	}
}

func TestAxeScript(t *testing.T) {
	src := testenv.AxeScript(t)
	if !strings.Contains(src, "axe") || len(src) < 10000 {
		t.Fatalf("axe.min.js looks wrong (%d bytes)", len(src))
	}
}

func TestRepoRoot(t *testing.T) {
	root := testenv.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "module github.com/eventdesk/eventdesk") {
		t.Fatalf("%s/go.mod is not eventdesk's", root)
	}
}

func TestFreePort(t *testing.T) {
	port := testenv.FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d not free: %v", port, err)
	}
	l.Close()
}

// TestMissingDependency runs this test binary again with a dependency
// pointed at nothing, to see it skip normally and fail under CI=true.
func TestMissingDependency(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		testenv.Chromium(t)
		t.Fatal("Chromium did not skip or fail")
		return
	}
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	var wg sync.WaitGroup
	for _, ci := range []string{"", "true"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingDependency$", "-test.v")
			cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+ci, "EVENTDESK_TEST_CHROMIUM=/nonexistent/chromium")
			out, err := cmd.CombinedOutput()
			switch {
			case ci == "" && (err != nil || !strings.Contains(string(out), "--- SKIP") ||
				!strings.Contains(string(out), "SKIP: Chromium: EVENTDESK_TEST_CHROMIUM=/nonexistent/chromium")):
				t.Errorf("without CI: want a skip naming the dependency, got %v:\n%s", err, out)
			case ci == "true" && (err == nil || !strings.Contains(string(out), "--- FAIL") ||
				!strings.Contains(string(out), "CI=true")):
				t.Errorf("with CI=true: want a failure, got %v:\n%s", err, out)
			}
		}()
	}
	wg.Wait()
}
