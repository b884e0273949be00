// Package egresstest gives tests what the egress proxy needs on a real
// Docker engine: a statically linked slipway binary to make the proxy image
// from, and the removal of the networks a test instance leaves.
package egresstest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// ProxyBinary builds the slipway binary with CGO_ENABLED=0 into a
// directory of the test and returns its path. The Go build cache makes all
// but the first build a link.
func ProxyBinary(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Unavailable(t, "the go command, to build a static slipway binary: %v", err)
	}
	out := filepath.Join(t.TempDir(), "slipway")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, "github.com/slipwayhq/slipway/app/cmd/slipway")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("egresstest: building slipway: %v\n%s", err, b)
	}
	return out
}

// RemoveNetworks removes every managed network of instanceID; their
// containers must be gone (containertest.Instance removes them).
func RemoveNetworks(ctx context.Context, rt *containers.Runtime, instanceID string) error {
	list, err := rt.Networks(ctx, containers.Filter{InstanceID: instanceID})
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range list {
		errs = append(errs, rt.RemoveNetwork(ctx, n.ID))
	}
	return errors.Join(errs...)
}
