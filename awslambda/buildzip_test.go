package awslambda_test

import (
	"archive/zip"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk/awslambda"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

// Lambda's limits on a deployment package uploaded directly (zip) and
// unzipped.
const (
	maxZipBytes      = 50 << 20
	maxUnzippedBytes = 250 << 20
)

// TestBuildLambdaZip runs scripts/build-lambda (for this machine's
// architecture, so that the packaged bootstrap can run here; the script's
// default, arm64, differs only in GOARCH) and checks the package Lambda
// would receive: one file, bootstrap, executable, built without cgo, with
// -tags lambda.norpc, trimmed and stripped, within Lambda's size limits —
// and that this very file starts as a function and answers an invocation
// through the test Runtime API.
func TestBuildLambdaZip(t *testing.T) {
	if _, err := exec.LookPath("zip"); err != nil {
		t.Fatalf("scripts/build-lambda needs zip: %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command("scripts/build-lambda", out)
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "GOARCH="+runtime.GOARCH, "VERSION=test")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build-lambda: %v\n%s", err, b)
	}
	zipPath := filepath.Join(out, "eventdesk-lambda-"+runtime.GOARCH+".zip")
	st, err := os.Stat(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > maxZipBytes {
		t.Errorf("zip is %d bytes, over Lambda's %d", st.Size(), maxZipBytes)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("zip holds %v, want bootstrap alone", names)
	}
	f := zr.File[0]
	if f.Mode()&0o111 == 0 {
		t.Errorf("bootstrap mode %v in the zip: Lambda could not execute it", f.Mode())
	}
	if f.UncompressedSize64 > maxUnzippedBytes {
		t.Errorf("bootstrap is %d bytes unzipped, over Lambda's %d", f.UncompressedSize64, maxUnzippedBytes)
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{
		"-tags": "lambda.norpc", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": runtime.GOARCH, "-trimpath": "true",
	} {
		if settings[key] != want {
			t.Errorf("bootstrap built with %s=%q, want %q", key, settings[key], want)
		}
	}
	if info.Path != "github.com/eventdesk/eventdesk/cmd/eventdesk" {
		t.Errorf("bootstrap is %s, want cmd/eventdesk", info.Path)
	}
	// -trimpath keeps -ldflags out of the build information; a stripped
	// binary (-s) has no symbol table.
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ef.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("bootstrap has a symbol table (%v): not stripped", err)
	}
	ef.Close()

	// The packaged file runs as a function (an empty batch: no AWS call).
	fn := startFunction(t, bin, awslambda.RolePublisher, map[string]string{"EVENTDESK_EVENT_BUS": "bus"})
	var res events.DynamoDBEventResponse
	fn.invokeInto(t, awslambda.StreamEvent{}, &res)
	if len(res.BatchItemFailures) != 0 {
		t.Fatalf("empty batch: %+v", res)
	}
}
