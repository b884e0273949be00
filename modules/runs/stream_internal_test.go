package runs

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

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
				"event: end\ndata: {\"status\":\"failed\",\"exit_code\":2,\"error\":\"the agent exited with code 2\",\"log_truncated\":false}\n\n"},
		{name: "unknown values end as null",
			end:  &Run{Status: StatusInterrupted},
			want: "event: end\ndata: {\"status\":\"interrupted\",\"exit_code\":null,\"error\":null,\"log_truncated\":false}\n\n"},
		{name: "a truncated log says so at the end",
			end:  &Run{Status: StatusSucceeded, LogTruncated: true},
			want: "event: end\ndata: {\"status\":\"succeeded\",\"exit_code\":null,\"error\":null,\"log_truncated\":true}\n\n"},
		{name: "a trailing CR waits: CRLF split across writes is one line end",
			writes: []string{"x\r", "\r\n"},
			want:   "data: x\ndata: \nid: 4\n\n"},
		{name: "a lone CR at the end of the log ends its line",
			writes: []string{"x\r"},
			end:    &Run{Status: StatusSucceeded},
			want: "data: x\nid: 2\n\n" +
				"event: end\ndata: {\"status\":\"succeeded\",\"exit_code\":null,\"error\":null,\"log_truncated\":false}\n\n"},
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

// TestSSELongLinesAreSplit sends lines far over maxSSELine, finished and
// not, in writes of every size: no data: line is longer than maxSSELine,
// the encoder holds no more than that, the pieces join to the log's lines
// again, and every id is the offset after what its event carried.
func TestSSELongLinesAreSplit(t *testing.T) {
	long := strings.Repeat("é0123456789", 10_000) // 110,000 bytes, two-byte runes among them
	log := "short\n" + long + "\r\n" + "mid\n" + long[:50_000] + "\n" + long
	for _, size := range []int{1, 7, 4096, followChunk, len(log)} {
		var out bytes.Buffer
		e := &sseEncoder{w: bufio.NewWriter(&out)}
		for i := 0; i < len(log); i += size {
			require.NoError(t, e.write([]byte(log[i:min(i+size, len(log))])))
			require.LessOrEqual(t, len(e.partial), maxSSELine+1, "the encoder holds at most one piece")
		}
		require.NoError(t, e.end(&Run{Status: StatusSucceeded}))

		var lines []string
		var line strings.Builder
		var lastID int64
		for ev := range strings.SplitSeq(strings.TrimSuffix(out.String(), "\n\n"), "\n\n") {
			partial := strings.HasPrefix(ev, "event: partial\n")
			if strings.HasPrefix(ev, "event: end\n") {
				continue
			}
			for f := range strings.SplitSeq(ev, "\n") {
				switch {
				case strings.HasPrefix(f, "data: "):
					text := strings.TrimPrefix(f, "data: ")
					require.LessOrEqual(t, len(text), maxSSELine, "write size %d", size)
					require.True(t, utf8.ValidString(text), "pieces are cut between runes")
					line.WriteString(text)
					if !partial {
						lines = append(lines, line.String())
						line.Reset()
					}
				case strings.HasPrefix(f, "id: "):
					id, err := strconv.ParseInt(strings.TrimPrefix(f, "id: "), 10, 64)
					require.NoError(t, err)
					require.Greater(t, id, lastID)
					lastID = id
					// The bytes before the id are exactly the lines so far
					// and the unfinished one.
					if id < int64(len(log)) {
						require.Equal(t, strings.Count(log[:id], "\n"), len(lines), "write size %d, id %d", size, id)
					}
				}
			}
		}
		require.Equal(t, []string{"short", long, "mid", long[:50_000], long}, lines, "write size %d", size)
		require.Equal(t, int64(len(log)), lastID)
	}
}
