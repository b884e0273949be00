//go:build !linux

package workspace

import "context"

// Filesystem images and their counters are Linux-only: elsewhere the
// manager works in ModeScan, walking workspaces at every check.
func findMkfs() (string, error)                                  { return "", errUnsupported }
func makeFS(context.Context, string, string, int64, int64) error { return errUnsupported }
func mountFS(string, string) error                               { return errUnsupported }
func unmountFS(string) error                                     { return nil }
func isMountPoint(string) bool                                   { return false }
func statFS(string) (fsStats, error)                             { return fsStats{}, errUnsupported }
