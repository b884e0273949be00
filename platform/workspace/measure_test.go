package workspace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMeasureTreeWalks measures the walks over a tree 4,000 and 100,000
// directories deep and over one directory of 200,000 files: wall and CPU time
// and the peak resident memory of a process doing only that walk.
func TestMeasureTreeWalks(t *testing.T) {
	if op := os.Getenv("SLIPWAY_MEASURE_WALK"); op != "" {
		measuredWalk(t, op, os.Getenv("SLIPWAY_MEASURE_DIR"))
		return
	}
	if os.Getenv("SLIPWAY_MEASURE") == "" {
		t.Skip("measurement: set SLIPWAY_MEASURE=1")
	}
	shapes := []struct {
		name string
		make func(t *testing.T, dir string)
	}{
		{"depth 4000", func(t *testing.T, dir string) { mkdeep(t, dir, "d", 4000) }},
		{"depth 100000", func(t *testing.T, dir string) { mkdeep(t, dir, "d", 100_000) }},
		{"200000 files in one directory", func(t *testing.T, dir string) {
			for i := range 200_000 {
				f, err := os.Create(filepath.Join(dir, "f"+strconv.Itoa(i)))
				require.NoError(t, err)
				require.NoError(t, f.Close())
			}
		}},
	}
	for _, shape := range shapes {
		dir := filepath.Join(t.TempDir(), "tree")
		require.NoError(t, os.Mkdir(dir, 0o755))
		shape.make(t, dir)
		for _, op := range []string{"scrub", "scrub-unlimited", "chown", "chown-unlimited", "remove"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureTreeWalks$", "-test.v")
			cmd.Env = append(os.Environ(), "SLIPWAY_MEASURE_WALK="+op, "SLIPWAY_MEASURE_DIR="+dir)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			wall := time.Since(start)
			require.NoError(t, err, "%s", out)
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			t.Logf("%-30s %-16s wall %8v cpu %8v max rss %6d KiB  %s", shape.name, op,
				wall.Round(time.Millisecond), cpu.Round(time.Millisecond), ru.Maxrss, result(out))
		}
		require.NoDirExists(t, dir)
	}
}

// measuredWalk is the child process of TestMeasureTreeWalks.
func measuredWalk(t *testing.T, op, dir string) {
	lim := treeLimits{depth: DefaultMaxTreeDepth, entries: DefaultMaxTreeEntries}
	if strings.HasSuffix(op, "-unlimited") {
		lim = treeLimits{}
	}
	var err error
	switch strings.TrimSuffix(op, "-unlimited") {
	case "scrub":
		err = scrubTree(context.Background(), dir, lim)
	case "chown":
		err = chownTree(context.Background(), dir, os.Getuid(), os.Getgid(), lim)
	case "remove":
		err = removeTree(dir)
	default:
		t.Fatalf("unknown walk %q", op)
	}
	fmt.Printf("RESULT %v\n", err)
}

func result(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "RESULT "); ok {
			if len(rest) > 80 {
				rest = rest[:80] + "…"
			}
			return rest
		}
	}
	return ""
}
