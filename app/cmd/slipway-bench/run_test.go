package main

import (
	"bytes"
	"fmt"
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
