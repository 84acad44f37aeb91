package packaging

import (
	"testing"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }
