package main

import (
	"testing"

	"github.com/burrowproject/burrow/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }
