//go:build !linux

package testenv

import "testing"

// SmallFS mounts a small filesystem on Linux; elsewhere the test stops
// through Unavailable.
func SmallFS(t testing.TB, kind string, size int64) string {
	t.Helper()
	Unavailable(t, "mounting a small %s needs Linux", kind)
	return ""
}

// Fill fills the filesystem holding dir; see the Linux version.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	Unavailable(t, "filling a filesystem needs Linux")
	return ""
}

// FreeBytes reports the space left on the filesystem holding dir; see the
// Linux version.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	Unavailable(t, "statfs needs Linux")
	return 0
}
