package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTeeLogKeepsEveryLineAndReadsTheStartup: the log file gets the child's
// whole log, access lines before and after the startup lines included, and
// the startup it logged is reported.
func TestTeeLogKeepsEveryLineAndReadsTheStartup(t *testing.T) {
	var in strings.Builder
	access := `{"level":"info","logger":"http.access","msg":"request","status":200}` + "\n"
	in.WriteString(`{"level":"info","logger":"http","msg":"listening","addr":"127.0.0.1:1"}` + "\n")
	in.WriteString(access)
	in.WriteString(`{"level":"info","msg":"started","startup":0.0505}` + "\n")
	for i := 0; i < 10000; i++ {
		in.WriteString(access)
	}
	in.WriteString(`{"msg":"listening","note":"a second one must not block"}` + "\n")
	in.WriteString(`{"msg":"last line without a newline"}`)
	var out bytes.Buffer
	listening := make(chan time.Duration, 1)
	started := make(chan time.Duration, 1)
	teeLog(strings.NewReader(in.String()), &out, time.Now(), listening, started)
	require.Equal(t, in.String(), out.String())
	require.Len(t, listening, 1)
	require.Equal(t, 50500*time.Microsecond, <-started)
}

// TestTeeLogBareServer: the bare server logs "listening" and nothing else.
func TestTeeLogBareServer(t *testing.T) {
	in := fmt.Sprintln(`{"msg":"listening"}`)
	var out bytes.Buffer
	listening := make(chan time.Duration, 1)
	started := make(chan time.Duration, 1)
	teeLog(strings.NewReader(in), &out, time.Now(), listening, started)
	require.Equal(t, in, out.String())
	require.Len(t, listening, 1)
	require.Empty(t, started)
}

// TestReportPrintsThePostgresRatioOfEachRound: the median ratio hides how
// far the rounds spread, which is the noise it has to be read against.
func TestReportPrintsThePostgresRatioOfEachRound(t *testing.T) {
	pg := &target{name: "GET /v1/projects/{id} postgres", runs: []result{{rps: 100}, {rps: 300}}}
	bare := &target{name: "bare fiber+pgx same read", runs: []result{{rps: 200}, {rps: 400}}}
	out := captureStdout(t, func() { report([]*target{pg, bare}) })
	require.Contains(t, out, "per round GET /v1/projects/{id} postgres")
	require.Contains(t, out, "/ bare: 0.50 0.75\n")
}

func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stdout
	os.Stdout = w
	t.Cleanup(func() { os.Stdout = saved })
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	f()
	os.Stdout = saved
	require.NoError(t, w.Close())
	return <-done
}
