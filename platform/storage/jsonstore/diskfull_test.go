package jsonstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/testenv"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// diskFullFS is the size of the filesystems the disk-full tests mount.
const diskFullFS = 8 << 20

// TestDiskFull is issue 9's agent that writes without end: the filesystem
// holding the store fills up while writers keep going. Every refused write
// must be a retryable disk outage and leave nothing behind, reads must keep
// working, writes must succeed again as soon as space is freed (no reopen),
// and after a reopen (while full, and after) every acknowledged write must
// be there and no refused one. Without compaction the reopen replays one
// log across every failure; with a small threshold, snapshots also fail for
// lack of space and are retried once there is room.
func TestDiskFull(t *testing.T) {
	for _, kind := range []string{"tmpfs", "ext4"} {
		for _, compact := range []int64{-1, 32 << 10} {
			t.Run(fmt.Sprintf("%s/compact=%d", kind, compact), func(t *testing.T) { testDiskFull(t, kind, compact) })
		}
	}
}

func testDiskFull(t *testing.T, kind string, compactBytes int64) {
	ctx := context.Background()
	mnt := testenv.SmallFS(t, kind, diskFullFS)
	dir := filepath.Join(mnt, "records")
	core, logs := observer.New(zapcore.InfoLevel)
	opts := Options{Logger: zap.New(core), CompactBytes: compactBytes}
	s, c := openUsers(t, dir, opts)

	var mu sync.Mutex
	acked := map[string]bool{}
	refused := map[string]error{}
	write := func(id string) error {
		u := mkUser(id, 0)
		u.Tags = []string{strings.Repeat("x", 700)}
		err := s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, u) })
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			acked[id] = true
		} else {
			refused[id] = err
		}
		return err
	}
	// storm runs writers goroutines making n writes each, and returns how
	// many were refused.
	storm := func(phase string, writers, n int) int {
		mu.Lock()
		before := len(refused)
		mu.Unlock()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range n {
					write(fmt.Sprintf("%s-g%d-%03d", phase, g, i))
				}
			})
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return len(refused) - before
	}
	// checkVisible requires readers to see exactly the acknowledged writes.
	checkVisible := func(s *Store, c *Collection[user]) {
		t.Helper()
		require.Equal(t, len(acked), count(t, s, c, "", ""))
		for id := range acked {
			_, err := get(t, s, c, id)
			require.NoError(t, err, "acknowledged write %s is missing", id)
		}
		for id := range refused {
			_, err := get(t, s, c, id)
			require.ErrorIs(t, err, derrors.ErrNotFound, "refused write %s is visible", id)
		}
	}

	for i := range 20 {
		require.NoError(t, write(fmt.Sprintf("before-%03d", i)))
	}
	// Two rounds: the disk fills, writes are refused, space comes back and
	// writes go on in the same log; then it fills again, and this time the
	// store is reopened while full, replaying the log across both rounds.
	const writers, each = 4, 25
	compactions := uint64(0)
	for round := range 2 {
		filler := testenv.Fill(t, mnt)
		t.Logf("round %d: %s of %d bytes filled; statfs says %d bytes free", round, kind, diskFullFS, testenv.FreeBytes(t, mnt))

		// While full: writes that still fit in the log's last block may
		// pass, the others are refused as an outage. Readers see only
		// what passed.
		refusedBefore := len(refused)
		refusedWhileFull := storm(fmt.Sprintf("full%d", round), writers, each)
		require.Positive(t, refusedWhileFull, "the disk was full, yet every write passed")
		for _, err := range refused {
			requireDiskOutage(t, err, syscall.ENOSPC)
		}
		require.Equal(t, refusedBefore+refusedWhileFull, len(refused))
		checkVisible(s, c)
		if round > 0 {
			// A restart while the disk is still full reads the same.
			compactions += s.Stats().Compactions
			require.NoError(t, s.Close())
			s, c = openUsers(t, dir, opts)
			checkVisible(s, c)
		}

		// Space comes back: the very next write succeeds, without a reopen.
		require.NoError(t, os.Remove(filler))
		freed := time.Now()
		require.NoError(t, write(fmt.Sprintf("first-after-free%d", round)))
		recovered := time.Since(freed)
		require.Zero(t, storm(fmt.Sprintf("freed%d", round), writers, each), "writes refused after space came back")
		checkVisible(s, c)
		t.Logf("round %d: %d writes refused and %d acknowledged while full; first write %v after freeing the filler",
			round, refusedWhileFull, writers*each-refusedWhileFull, recovered)
	}
	require.NoError(t, s.Close())
	t.Logf("%d compactions, %d failed compactions logged, %d failed appends logged at error level",
		compactions+s.Stats().Compactions, logs.FilterMessageSnippet("compaction failed").Len(),
		logs.FilterMessageSnippet("the disk refused a log append").Len())

	// A reopen reads every acknowledged write and nothing else.
	s, c = openUsers(t, dir, Options{})
	checkVisible(s, c)
	t.Logf("%d records after reopen (%d acknowledged in all, %d refused)", count(t, s, c, "", ""), len(acked), len(refused))
}

// TestCompactionOnFullDisk: a snapshot that does not fit fails, leaves the
// store and its files intact (the logs it would replace stay until a
// snapshot is durable), and is tried again once there is room.
func TestCompactionOnFullDisk(t *testing.T) {
	mnt := testenv.SmallFS(t, "tmpfs", diskFullFS)
	dir := filepath.Join(mnt, "records")
	core, logs := observer.New(zapcore.InfoLevel)
	s, c := openUsers(t, dir, Options{Logger: zap.New(core), CompactBytes: -1})
	tagged := func(id string) *user {
		u := mkUser(id, 0)
		u.Tags = []string{strings.Repeat("y", 1000)}
		return u
	}
	for i := range 300 {
		insert(t, s, c, tagged(fmt.Sprintf("u%03d", i)))
	}
	// Leave room for a few log records, not for a 300 KiB snapshot.
	filler := testenv.Fill(t, mnt)
	fi, err := os.Stat(filler)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(filler, fi.Size()-64<<10))

	s.opts.CompactBytes = 1
	insert(t, s, c, tagged("v1"))
	s.bg.Wait()
	require.Zero(t, s.Stats().Compactions)
	require.Equal(t, 1, logs.FilterMessageSnippet("compaction failed").Len())
	names := dirState(t, dir)
	require.Contains(t, names, walName(1), "the log a failed snapshot would replace is kept")
	for _, name := range names {
		require.NotContains(t, name, tmpSuffix)
		require.False(t, strings.HasPrefix(name, snapPrefix), "no snapshot was made: %v", names)
	}
	require.Equal(t, 301, count(t, s, c, "", ""))

	// Writes go on in the room the log has; each tries the snapshot again.
	insert(t, s, c, tagged("v2"))
	s.bg.Wait()
	require.Zero(t, s.Stats().Compactions)
	require.Equal(t, 2, logs.FilterMessageSnippet("compaction failed").Len())

	// Space comes back: the next compaction goes through and removes the logs.
	require.NoError(t, os.Remove(filler))
	insert(t, s, c, tagged("v3"))
	s.bg.Wait()
	require.Equal(t, uint64(1), s.Stats().Compactions)
	require.Equal(t, []string{snapName(303), walName(304)}, dirState(t, dir))
	require.NoError(t, s.Close())

	s, c = openUsers(t, dir, Options{})
	require.Equal(t, 303, count(t, s, c, "", ""))
	for _, id := range []string{"u000", "u299", "v1", "v2", "v3"} {
		_, err := get(t, s, c, id)
		require.NoError(t, err)
	}
}
