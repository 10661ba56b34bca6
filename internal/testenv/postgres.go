package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pgCluster is the PostgreSQL server shared by the tests of one binary.
type pgCluster struct {
	bin  string // directory of initdb, postgres and psql
	psql string
	port int
}

// pgDatabases numbers the databases that [Postgres] creates.
var pgDatabases atomic.Int64

// Postgres returns the URL of a new, empty PostgreSQL database, for example
// postgres://postgres@127.0.0.1:41234/test_3?sslmode=disable. Each call creates
// its own database (dropped when tb ends), on a throwaway cluster that the
// first call starts and [Main] stops: initdb into a temporary directory,
// trust authentication, listening on a free loopback port, default durability
// settings (fsync on). As root, the cluster runs as the system user
// "postgres" (created if missing), because PostgreSQL refuses to run as root.
//
// The server binaries come from $EVENTDESK_TEST_PG_BIN, else the newest
// /usr/lib/postgresql/*/bin, else PATH. Without them the test is skipped
// (fails when CI=true).
func Postgres(tb testing.TB) string {
	tb.Helper()
	requireMain(tb, "PostgreSQL")
	c, err := startPostgres()
	check(tb, "PostgreSQL", err)

	name := fmt.Sprintf("test_%d", pgDatabases.Add(1))
	if out, err := c.sql("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("testenv: PostgreSQL: create database %s: %v\n%s", name, err, out)
	}
	tb.Cleanup(func() {
		// FORCE ends sessions the test left open. A failure only wastes
		// disk until teardown, so it is logged, not fatal.
		if out, err := c.sql("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Logf("testenv: PostgreSQL: drop database %s: %v\n%s", name, err, out)
		}
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

var startPostgres = sync.OnceValues(func() (*pgCluster, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bin: bin, psql: filepath.Join(bin, "psql")}
	if !isExecutable(c.psql) {
		p, err := exec.LookPath("psql")
		if err != nil {
			return nil, &missingError{
				what: "psql not found in " + bin + " nor in PATH",
				how:  "apt-get install postgresql-client, or run ./scripts/test",
			}
		}
		c.psql = p
	}

	// PostgreSQL refuses to run as root: run it as the postgres user, in a
	// directory that user can reach.
	var cred *syscall.Credential
	base := ""
	if os.Geteuid() == 0 {
		if cred, err = postgresUser(); err != nil {
			return nil, err
		}
		if !traversable(os.TempDir()) {
			base = "/tmp"
		}
	}
	dir, err := makeDir(base, "pg")
	if err != nil {
		return nil, err
	}
	if len(dir) > 80 { // unix socket paths are limited to about 100 bytes
		os.RemoveAll(dir)
		if dir, err = makeDir("/tmp", "pg"); err != nil {
			return nil, err
		}
	}
	var proc *child
	onTeardown(func() {
		if proc != nil {
			proc.stop(syscall.SIGQUIT, 10*time.Second) // SIGQUIT = pg_ctl stop -m immediate
		}
		os.RemoveAll(dir)
	})
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	data := filepath.Join(dir, "data")
	// --no-sync only skips flushing the fresh cluster's files at creation;
	// the server itself runs with fsync on.
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.Env = pgEnv()
	if cred != nil {
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	logPath := filepath.Join(dir, "postgres.log")
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		proc, err = c.start(data, dir, logPath, cred)
		if err == nil {
			return c, nil
		}
		if attempt == 3 {
			return nil, err
		}
	}
})

// start runs postgres on c.port as a child of the test binary (rather than
// daemonized by pg_ctl, so that it gets the parent-death signal) and waits
// until it answers queries.
func (c *pgCluster) start(data, sockDir, logPath string, cred *syscall.Credential) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(c.port),
		"-k", sockDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on",
		"-c", "max_connections=200",
	)
	cmd.Dir = sockDir
	cmd.Env = pgEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// SIGQUIT makes postgres do an immediate shutdown, ending its backends.
	proc, err := startChild(cmd, syscall.SIGQUIT)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.sql("SELECT 1")
		if err == nil {
			return proc, nil
		}
		if !proc.running() || time.Now().After(deadline) {
			proc.stop(syscall.SIGQUIT, 5*time.Second)
			return nil, fmt.Errorf("postgres on port %d did not start: %v\n%s\n--- %s:\n%s",
				c.port, err, out, logPath, tail(logPath, 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sql runs one statement as the superuser in the postgres database.
func (c *pgCluster) sql(stmt string) ([]byte, error) {
	cmd := exec.Command(c.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-d", "postgres",
		"-c", stmt)
	cmd.Env = append(pgEnv(), "PGCONNECT_TIMEOUT=5")
	return cmd.CombinedOutput()
}

// pgEnv is the environment without the PG* variables that could redirect
// or alter the connections and clusters this package makes.
func pgEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "PGSSLMODE=disable", "LC_ALL=C")
}

// pgBinDir finds the directory of the PostgreSQL server binaries.
func pgBinDir() (string, error) {
	has := func(dir string) bool {
		return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
	}
	if dir := os.Getenv("EVENTDESK_TEST_PG_BIN"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", &missingError{
			what: "EVENTDESK_TEST_PG_BIN=" + dir + " holds no initdb and postgres",
			how:  "point it at a directory such as /usr/lib/postgresql/15/bin, or unset it",
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	return "", &missingError{
		what: "PostgreSQL server binaries (initdb, postgres) not found",
		how:  "set EVENTDESK_TEST_PG_BIN, apt-get install postgresql, or run ./scripts/test",
	}
}

// pgVersion extracts N from /usr/lib/postgresql/N/bin (0 if not a number).
func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// postgresUser returns the credentials of the system user postgres,
// creating the user if needed (we are root).
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("look up user postgres: %w", err)
		}
		out, addErr := exec.Command("useradd", "--system", "--user-group",
			"--home-dir", "/nonexistent", "--no-create-home",
			"--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
		// Another test binary may have created it meanwhile: look again.
		if u, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the user postgres; useradd: %v\n%s",
				addErr, bytes.TrimSpace(out))
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// traversable reports whether every user may enter dir and its parents.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}
