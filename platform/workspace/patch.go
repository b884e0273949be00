package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Patch returns the diff from BaseCommit to the tree as it is now: modified,
// new, deleted and binary files, symlinks as symlinks, in `git apply` form;
// empty when nothing changed. Call it after the container has exited.
//
// Before diffing it deletes from the tree what cannot be part of a patch and
// what host git must not look at: entries named .git in any case (the
// agent's own repositories, or metadata planted for host git), a symlink
// named .gitmodules, FIFOs, sockets and devices. Files the tree's .gitignore
// ignores are left out unless BaseCommit tracks them. A patch larger than
// Config.MaxPatchBytes fails with ErrPatchTooLarge, a tree deeper or larger
// than Config.MaxTreeDepth or MaxTreeEntries with a *TreeLimitError. The walk
// over the tree and every git command stop at ctx's deadline.
func (w *Workspace) Patch(ctx context.Context) (_ []byte, err error) {
	defer derrors.Wrap(&err, "workspace.Patch(%q)", w.runID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.removed {
		return nil, ErrRemoved
	}
	if err := scrubTree(ctx, w.tree, w.m.treeLimits()); err != nil {
		return nil, fmt.Errorf("scrub tree: %w", err)
	}
	// A fresh index in the host-only tmp dir, started from the base tree so
	// that tracked files stay tracked even where .gitignore now matches them,
	// and without stat data, so every file is compared by content rather
	// than by timestamps the agent could forge.
	index := filepath.Join(w.dir, "tmp", "index")
	if err := os.Remove(index); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	defer os.Remove(index)
	run := func(maxOut int64, args ...string) ([]byte, error) {
		r := w.run(args...)
		r.env = []string{"GIT_INDEX_FILE=" + index}
		// Paths like "git~1" are harmless on Linux; the side that applies
		// the patch checks them for its own filesystem.
		r.config = []string{"core.protectNTFS=false", "core.protectHFS=false"}
		r.maxOut = maxOut
		return w.m.git(ctx, r)
	}
	readTree := []string{"read-tree", "--empty"}
	diff := []string{"diff", "--cached", "--binary", "--full-index", "--no-ext-diff", "--no-textconv",
		"--no-color", "--find-renames", "--src-prefix=a/", "--dst-prefix=b/"}
	if w.base != "" {
		readTree = []string{"read-tree", w.base}
		diff = append(diff, w.base)
	}
	if _, err := run(0, readTree...); err != nil {
		return nil, err
	}
	if _, err := run(0, "add", "--all"); err != nil {
		return nil, err
	}
	out, err := run(w.m.cfg.MaxPatchBytes, append(diff, "--")...)
	if errors.Is(err, errOutputLimit) {
		return nil, fmt.Errorf("%w: over %d bytes", ErrPatchTooLarge, w.m.cfg.MaxPatchBytes)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
