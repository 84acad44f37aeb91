package logx_test

import (
	"testing"

	"github.com/burrowproject/burrow/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }
