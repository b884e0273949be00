package runs_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// The workspace limit tests put runs.workspace_dir on a volume of their
// own, so the free space they measure moves only with what their agent
// writes.

const (
	fillLimit = 64 << 20
	// fillPrompt writes 500 MB without end, then would hold its slot for
	// ten minutes: only the worker stops it.
	fillPrompt = "sh: head -c 500000000 /dev/zero > fill; sleep 600"
	// touchPrompt makes files without end.
	touchPrompt = "sh: i=0; while :; do touch f$i; i=$((i+1)); done"
	// deepPrompt nests 100 directories, then would hold its slot for ten
	// minutes.
	deepPrompt = "sh: i=0; while [ $i -lt 100 ]; do mkdir d && cd d; i=$((i+1)); done; sleep 600"
)

// onVolume boots the app with its workspaces on a fresh volume of volume
// bytes, held to fillLimit bytes and 2000 files by mode.
func onVolume(t *testing.T, volume int64, mode string) (*harness, string) {
	t.Helper()
	dir := filepath.Join(testenv.SmallFS(t, "ext4", volume), "ws")
	h := start(t, func(s *settings.Settings) {
		s.Runs.WorkspaceDir, s.Runs.WorkspaceLimits = dir, mode
		s.Runs.MaxWorkspaceBytes, s.Runs.MaxWorkspaceFiles = fillLimit, 2000
	})
	logged := h.Logs().FilterField(zap.String("mode", mode)).Len()
	require.Equal(t, 1, logged, "the start says which mode holds the limits")
	return h, dir
}

// disk is the free space of a volume over a run.
type disk struct{ before, least, after int64 }

// watchDisk samples the free space of the volume holding the workspace
// dir until the run ends, and returns the run as it ended.
func (h *harness) watchDisk(t *testing.T, u apptest.User, runID, dir string, d *disk) apptest.Run {
	t.Helper()
	d.least = d.before
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d.least = min(d.least, testenv.FreeBytes(t, filepath.Dir(dir)))
		if r := h.GetRun(u.Token, runID); terminal(r.Status) {
			d.after = testenv.FreeBytes(t, filepath.Dir(dir))
			return r
		}
		require.True(t, time.Now().Before(deadline), "run %s did not end; the volume had %.1f MiB free at least", runID, mib(d.least))
		<-tick.C
	}
}

func TestAgentFillingItsWorkspace(t *testing.T) {
	for _, tt := range []struct {
		mode   string
		volume int64
		// overshoot is how far past the limit the volume may fill: none
		// when the workspace is a filesystem of its own.
		overshoot int64
	}{
		{settings.WorkspaceLimitsMount, 512 << 20, 0},
		{settings.WorkspaceLimitsScan, 1 << 30, 500_000_000},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			h, dir := onVolume(t, tt.volume, tt.mode)
			u := h.SignUp()
			repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
			d := disk{before: testenv.FreeBytes(t, filepath.Dir(dir))}
			began := time.Now()

			r := h.create(t, u, repo.ID, map[string]any{"prompt": fillPrompt, "timeout_seconds": 900})
			done := h.watchDisk(t, u, r.ID, dir, &d)

			t.Logf("%s: volume free %.1f MiB before, %.1f MiB at least during, %.1f MiB after; run took %s",
				tt.mode, mib(d.before), mib(d.least), mib(d.after), time.Since(began).Round(time.Millisecond))
			require.Equal(t, "failed", done.Status)
			require.Equal(t, "the workspace grew past runs.max_workspace_bytes (64 MiB)", *done.Error)
			require.Less(t, time.Since(began), time.Minute, "the worker stopped the agent, not its timeout")
			// Beyond the limit itself, 2 MiB for the clone and the run log.
			require.GreaterOrEqual(t, d.least, d.before-fillLimit-tt.overshoot-2<<20, "the volume kept its free space")
			require.InDelta(t, d.before, d.after, 1<<20, "the space came back")
			require.Empty(t, h.containersOf(t, r.ID))
			require.Empty(t, entries(t, dir), "the workspace is gone")
			require.Equal(t, http.StatusNotFound, h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Status, "no patch")
		})
	}
}

func TestAgentMakingFilesWithoutEnd(t *testing.T) {
	h, dir := onVolume(t, 512<<20, settings.WorkspaceLimitsMount)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})

	r := h.create(t, u, repo.ID, map[string]any{"prompt": touchPrompt, "timeout_seconds": 900})
	done := h.wait(t, u, r.ID, terminal)

	require.Equal(t, "failed", done.Status)
	require.Equal(t, "the workspace grew past runs.max_workspace_files (2000 files)", *done.Error)
	require.Empty(t, h.containersOf(t, r.ID))
	require.Empty(t, entries(t, dir))
}

// TestAgentNestingDirectoriesWithoutEnd checks scan mode stops an agent
// whose tree outgrows runs.max_tree_depth, which bounds the walk measuring
// the workspace, and fails its run naming the setting.
func TestAgentNestingDirectoriesWithoutEnd(t *testing.T) {
	h := start(t, func(s *settings.Settings) {
		s.Runs.WorkspaceLimits, s.Runs.MaxTreeDepth = settings.WorkspaceLimitsScan, 16
	})
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})

	r := h.create(t, u, repo.ID, map[string]any{"prompt": deepPrompt, "timeout_seconds": 900})
	done := h.wait(t, u, r.ID, terminal)

	require.Equal(t, "failed", done.Status)
	require.Equal(t, "the workspace nests directories deeper than runs.max_tree_depth (16)", *done.Error)
	require.Empty(t, h.containersOf(t, r.ID))
	require.Equal(t, http.StatusNotFound, h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Status, "no patch")
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// entries lists what a directory holds; a missing one holds nothing.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}
