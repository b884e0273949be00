package runs

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// Module provides the runs Service, Worker and routes, and the queue probe
// metrics read, and ties the worker to the app's lifecycle. It needs
// containers.Engine, queue.Queue, objects.Store and access.Repositories from
// their own modules, and takes metrics.Runs when metrics are on.
var Module = fx.Module("runs",
	fx.Provide(fx.Private, NewStore, NewWorkspaces, func(w *Worker) localRuns { return w }),
	fx.Provide(
		newTuning,
		NewWorker,
		NewService,
		NewQueueProbe,
		httpserver.AsRegistrar(NewRoutes),
	),
	fx.Invoke(func(lc fx.Lifecycle, w *Worker) {
		lc.Append(fx.StartStopHook(w.Start, w.Stop))
	}),
)

// TuningOverride changes the module's intervals; tests supply one
// (fx.Supply(runs.TuningOverride(f))) to shorten them.
type TuningOverride func(*Tuning)

type tuningIn struct {
	fx.In
	Override TuningOverride `optional:"true"`
}

func newTuning(in tuningIn) Tuning {
	t := DefaultTuning()
	if in.Override != nil {
		in.Override(&t)
	}
	return t
}

// NewStore returns the Store for the configured records backend.
func NewStore(r *storage.Records) (Store, error) {
	return storage.Select(r, newJSONStore, newPostgresStore)
}

// NewWorkspaces builds the workspace manager: one directory per run under
// runs.workspace_dir (by default under the data dir), handed to the
// container's user and held to the workspace limits. An API-only instance
// (runs.execute false) never clones nor starts the worker that would, so it
// gets none, and needs no git: the container image has none.
func NewWorkspaces(s *settings.Settings) (*workspace.Manager, error) {
	if !s.Runs.Execute {
		return nil, nil
	}
	uid, gid, err := parseUser(s.Runs.User)
	if err != nil {
		return nil, fmt.Errorf("setting runs.user: %w", err)
	}
	m, err := workspace.NewManager(workspace.Config{
		Root:           WorkspaceDir(s),
		MaxBytes:       s.Runs.MaxWorkspaceBytes,
		MaxFiles:       s.Runs.MaxWorkspaceFiles,
		Mode:           s.Runs.WorkspaceLimits,
		AllowFile:      s.Runs.AllowFileURLs,
		MaxPatchBytes:  s.Runs.MaxPatchBytes,
		MaxTreeDepth:   s.Runs.MaxTreeDepth,
		MaxTreeEntries: s.Runs.MaxTreeEntries,
		OwnerUID:       uid,
		OwnerGID:       gid,
		CloneTimeout:   10 * time.Minute,
		AgentGit:       true,
	})
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	return m, nil
}

// WorkspaceDir is where the workspaces of runs go: runs.workspace_dir, or
// <data_dir>/workspaces.
func WorkspaceDir(s *settings.Settings) string {
	if s.Runs.WorkspaceDir != "" {
		return s.Runs.WorkspaceDir
	}
	return filepath.Join(s.Storage.DataDir, "workspaces")
}

// parseUser reads a numeric "uid" or "uid:gid" (gid defaults to uid).
func parseUser(u string) (uid, gid int, err error) {
	us, gs, found := strings.Cut(u, ":")
	if uid, err = strconv.Atoi(us); err != nil || uid <= 0 {
		return 0, 0, fmt.Errorf("%q is not a numeric non-root uid[:gid]", u)
	}
	gid = uid
	if found {
		if gid, err = strconv.Atoi(gs); err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("%q is not a numeric non-root uid[:gid]", u)
		}
	}
	return uid, gid, nil
}
