package awslambda_test

import (
	"testing"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
