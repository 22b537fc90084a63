package servingcert_test

import (
	"context"
	"os"
	"testing"

	"github.com/tagpin/tagpin/internal/controlplanetest"
)

// controlPlane is shared by the tests that need a kube-apiserver.
var controlPlane controlplanetest.Shared

func TestMain(m *testing.M) {
	os.Exit(controlPlane.Run(context.Background(), m, nil))
}
