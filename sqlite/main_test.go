package sqlite_test

import (
	"os"
	"testing"

	"github.com/eventdesk/eventdesk/storetest"
)

// TestMain lets this test binary be its own helper process: started by
// storetest.HelperCommand, it plays the named role and runs no tests.
func TestMain(m *testing.M) {
	storetest.RunHelper(map[string]func() error{
		"crash": crashChild,
		"lock":  lockChild,
	})
	os.Exit(m.Run())
}
