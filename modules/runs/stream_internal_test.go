package runs

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSSEEncoder(t *testing.T) {
	two := 2
	tests := []struct {
		name   string
		from   int64    // the resumed offset (Last-Event-ID), 0 for a new stream
		writes []string // log bytes as they arrive
		end    *Run     // then the end event, when set
		want   string
	}{
		{name: "one event per batch of lines, its id the offset after them",
			writes: []string{"one\ntwo\n"},
			want:   "data: one\ndata: two\nid: 8\n\n"},
		{name: "an empty line is an empty data line",
			writes: []string{"\n"},
			want:   "data: \nid: 1\n\n"},
		{name: "an unfinished line waits for its end",
			writes: []string{"thr", "ee\nfo", "ur\n"},
			want:   "data: three\nid: 6\n\n" + "data: four\nid: 11\n\n"},
		{name: "CR, alone or before LF, ends a line",
			writes: []string{"a\r\nb\rc\n"},
			want:   "data: a\ndata: b\ndata: c\nid: 7\n\n"},
		{name: "CRLF split across writes is one line end",
			writes: []string{"x\r", "\ny\n"},
			want:   "data: x\ndata: y\nid: 5\n\n"},
		{name: "a resumed stream counts from Last-Event-ID",
			from: 100, writes: []string{"z\n"},
			want: "data: z\nid: 102\n\n"},
		{name: "the end sends the unfinished line, then the run's outcome",
			writes: []string{"done\nhalf"},
			end:    &Run{Status: StatusFailed, ExitCode: &two, Error: "the agent exited with code 2"},
			want: "data: done\nid: 5\n\n" + "data: half\nid: 9\n\n" +
				"event: end\ndata: {\"status\":\"failed\",\"exit_code\":2,\"error\":\"the agent exited with code 2\"}\n\n"},
		{name: "unknown values end as null",
			end:  &Run{Status: StatusInterrupted},
			want: "event: end\ndata: {\"status\":\"interrupted\",\"exit_code\":null,\"error\":null}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			e := &sseEncoder{w: bufio.NewWriter(&out), offset: tt.from}
			for _, w := range tt.writes {
				require.NoError(t, e.write([]byte(w)))
			}
			if tt.end != nil {
				require.NoError(t, e.end(tt.end))
			}
			require.Equal(t, tt.want, out.String())
		})
	}
}

func TestSSEKeepAliveIsAComment(t *testing.T) {
	var out bytes.Buffer
	e := &sseEncoder{w: bufio.NewWriter(&out)}
	require.NoError(t, e.write([]byte("half")))
	require.NoError(t, e.keepAlive())
	require.Equal(t, ": keep-alive\n\n", out.String(), "a comment, flushed at once, leaving the unfinished line alone")
}
