// Package testenv decides what a test does when a service it needs is absent:
// on a developer's laptop it skips with the reason, under CI (CI=true) it fails,
// so a missing service can never turn a CI run green by skipping.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// InCI reports whether the tests run under continuous integration (CI=true).
func InCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v == "true" || v == "1" || v == "yes"
}

// Unavailable stops the test because a required service is missing: it skips
// locally and fails under CI, naming the service and why.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required service unavailable under CI=true: "+format, args...)
	}
	t.Skipf("skipping, service unavailable (set CI=true to make this a failure): "+format, args...)
}
