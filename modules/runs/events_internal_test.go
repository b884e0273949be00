package runs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// codexLog is what `codex exec --json` prints (shapes of codex 0.171's
// exec_events.rs), between the other lines a run's log has: stderr text,
// a CRLF line, Slipway's own lines and JSON that is no event.
var codexLog = strings.Join([]string{
	`[slipway: egress allowed api.openai.com:443]`,
	`{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}`,
	`{"type":"turn.started"}`,
	`Reading prompt from stdin...`,
	`{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Looking at the README**"}}`,
	`{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"bash -lc 'make test'","aggregated_output":"","exit_code":null,"status":"in_progress"}}`,
	`{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc 'make test'","aggregated_output":"ok\n","exit_code":2,"status":"failed"}}`,
	`{"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"README.md","kind":"update"},{"path":"new.go","kind":"add"}],"status":"completed"}}`,
	`{"type":"item.updated","item":{"id":"item_3","type":"todo_list","items":[{"text":"fix","completed":true},{"text":"test","completed":false}]}}`,
	`{"type":"item.completed","item":{"id":"item_4","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"q":"x"},"result":null,"error":{"message":"timed out"},"status":"failed"}}`,
	`{"type":"item.completed","item":{"id":"item_5","type":"web_search","query":"fiber v2 hijack"}}`,
	`{"type":"item.completed","item":{"id":"item_6","type":"error","message":"model refused"}}`,
	"{\"type\":\"item.completed\",\"item\":{\"id\":\"item_7\",\"type\":\"agent_message\",\"text\":\"Done: [secret:API_KEY]\"}}\r",
	`{"type":"item.plan.delta","item_id":"item_8","delta":"step"}`,
	`{"type":"item.completed","item":{"id":"item_9","type":"collab_tool_call","tool":"wait"}}`,
	`{"type":"item.completed","item":{"id":"item_10","type":"agent_message"}}`,
	`{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122,"reasoning_output_tokens":64}}`,
	`{"type":"turn.failed","error":{"message":"stream disconnected"}}`,
	`{"type":"error","message":"Reconnecting... 1/5"}`,
	`{"type":"item.completed","item":{"id":"item_11",`,
	`ls: {"type":"error","message":"inside a line"}`,
	`{"type":7}`,
	`{"kind":"thread.started"}`,
	`["type","error"]`,
	`  {"type":"turn.started"}  `,
	``,
}, "\n")

func ptr[T any](v T) *T { return &v }

// codexEvents are the entries codexLog gives, without offsets and cursors.
var codexEvents = []RunEvent{
	{Type: kindThread, Phase: "started", ThreadID: "0199a213-81c0-7800-8aa1-bbab2a035a53"},
	{Type: kindTurn, Phase: "started"},
	{Type: kindReasoning, Phase: "completed", ItemID: "item_0", Text: ptr("**Looking at the README**")},
	{Type: kindCommand, Phase: "started", ItemID: "item_1",
		Command: &EventCommand{Command: "bash -lc 'make test'", Status: "in_progress"}},
	{Type: kindCommand, Phase: "completed", ItemID: "item_1",
		Command: &EventCommand{Command: "bash -lc 'make test'", Status: "failed", ExitCode: ptr(2), Output: "ok\n"}},
	{Type: kindFileChange, Phase: "completed", ItemID: "item_2", Files: &EventFiles{Status: "completed",
		Changes: []EventFileChange{{Path: "README.md", Kind: "update"}, {Path: "new.go", Kind: "add"}}}},
	{Type: kindTodoList, Phase: "updated", ItemID: "item_3",
		Todos: &EventTodos{Items: []EventTodo{{Text: "fix", Completed: true}, {Text: "test"}}}},
	{Type: kindToolCall, Phase: "completed", ItemID: "item_4",
		ToolCall: &EventToolCall{Server: "docs", Tool: "search", Status: "failed", Error: ptr("timed out")}},
	{Type: kindWebSearch, Phase: "completed", ItemID: "item_5", Search: &EventWebSearch{Query: "fiber v2 hijack"}},
	{Type: kindError, Phase: "completed", ItemID: "item_6", Error: &EventErrorInfo{Message: "model refused"}},
	{Type: kindAgentMessage, Phase: "completed", ItemID: "item_7", Text: ptr("Done: [secret:API_KEY]")},
	{Type: kindRaw, Raw: json.RawMessage(`{"type":"item.plan.delta","item_id":"item_8","delta":"step"}`)},
	{Type: kindRaw, Raw: json.RawMessage(`{"type":"item.completed","item":{"id":"item_9","type":"collab_tool_call","tool":"wait"}}`)},
	{Type: kindRaw, Raw: json.RawMessage(`{"type":"item.completed","item":{"id":"item_10","type":"agent_message"}}`)},
	{Type: kindTurn, Phase: "completed", Usage: &EventUsage{InputTokens: 24763, CachedInputTokens: 24448,
		OutputTokens: 122, ReasoningOutputTokens: ptr[int64](64)}},
	{Type: kindTurn, Phase: "failed", Error: &EventErrorInfo{Message: "stream disconnected"}},
	{Type: kindError, Error: &EventErrorInfo{Message: "Reconnecting... 1/5"}},
	{Type: kindTurn, Phase: "started"},
}

// scanAll feeds log to a scanner in pieces of size n and finishes it.
func scanAll(log string, n int) []RunEvent {
	var out []RunEvent
	emit := func(ev RunEvent) bool { out = append(out, ev); return true }
	sc := newEventScanner(0, false)
	for p := []byte(log); len(p) > 0; {
		k := min(n, len(p))
		sc.feed(p[:k], emit)
		p = p[k:]
	}
	sc.finish(emit)
	return out
}

// stripped drops what scanning adds to the events.
func stripped(evs []RunEvent) []RunEvent {
	out := make([]RunEvent, len(evs))
	for i, ev := range evs {
		ev.Offset, ev.Cursor = 0, ""
		out[i] = ev
	}
	return out
}

func TestEventsOfACodexLog(t *testing.T) {
	whole := scanAll(codexLog, len(codexLog))
	require.Equal(t, codexEvents, stripped(whole))
	for _, ev := range whole {
		// An event's offset starts its line, and its cursor follows it.
		line, _, _ := strings.Cut(codexLog[ev.Offset:], "\n")
		require.True(t, ev.Offset == 0 || codexLog[ev.Offset-1] == '\n', "offset %d starts a line", ev.Offset)
		require.Equal(t, strconv.FormatInt(ev.Offset+int64(len(line))+1, 10), ev.Cursor)
	}
	// Fed in any pieces, a line split across them included, the same.
	for _, n := range []int{1, 2, 7, 64, 1000} {
		require.Equal(t, whole, scanAll(codexLog, n), "pieces of %d bytes", n)
	}
}

func TestEventCommandOutputKeepsItsEnd(t *testing.T) {
	out := strings.Repeat("é", maxEventOutput) // 2 bytes each: the cut falls inside one
	b, err := json.Marshal(map[string]any{"type": "item.completed", "item": map[string]any{"id": "item_0",
		"type": "command_execution", "command": "cat", "aggregated_output": out + "END", "exit_code": 0, "status": "completed"}})
	require.NoError(t, err)
	ev, ok := parseEvent(b)
	require.True(t, ok)
	require.True(t, ev.Command.OutputTruncated)
	require.LessOrEqual(t, len(ev.Command.Output), maxEventOutput)
	require.True(t, strings.HasSuffix(ev.Command.Output, "éEND"))
	require.True(t, strings.HasPrefix(ev.Command.Output, "é"), "cut on a rune")
}

func TestEventLinesTooLong(t *testing.T) {
	msg := func(n int) string { // an agent_message line of exactly n bytes
		head := `{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"`
		return head + strings.Repeat("x", n-len(head)-3) + `"}}`
	}
	long := msg(maxEventLine)
	fits := msg(maxEventLine - 1)
	numbers := `{"type":"x","n":[` + strings.Repeat("1,", maxEventReduced/2) + `1]}` // no strings to cut
	text := strings.Repeat("y", 3*maxEventLine)
	log := long + "\n" + `{"type":"turn.started"}` + "\n" + text + "\n" + fits + "\n" + numbers + "\n" +
		`{"type":"error","message":"e"}`
	for _, n := range []int{maxEventLine + 5, 4096, len(log)} {
		evs := scanAll(log, n)
		require.Len(t, evs, 5, "pieces of %d", n)
		require.Equal(t, RunEvent{Type: kindOversized, Offset: 0, Cursor: "1"}, evs[0],
			"a line that looks like an event but is too long is said to be left out; its cursor is inside it")
		require.Equal(t, kindTurn, evs[1].Type)
		require.Equal(t, kindAgentMessage, evs[2].Type, "a line of %d bytes is not too long", maxEventLine-1)
		require.Equal(t, int64(len(long)+1+24+len(text)+1), evs[2].Offset, "a long text line is skipped silently")
		require.True(t, evs[2].Truncated)
		require.Equal(t, strings.Repeat("x", maxEventString), *evs[2].Text, "a long text keeps its end")
		require.Equal(t, RunEvent{Type: kindOversized, Offset: evs[2].Offset + int64(len(fits)) + 1,
			Cursor: strconv.FormatInt(evs[2].Offset+int64(len(fits))+2, 10)}, evs[3], "a line with too much to keep")
		require.Equal(t, kindError, evs[4].Type, "the unfinished last line of a finished log")
	}
}

// bigCommand is a completed command_execution line with an output of n
// bytes (before escaping) that ends with "END", as Codex prints it.
func bigCommand(id string, n int) string {
	out := strings.Repeat(`ok \"test\"\t\u001b[32mPASS\u001b[0m\n`, n/24) // 24 bytes, escaped
	return `{"type":"item.completed","item":{"id":"` + id + `","type":"command_execution","command":"bash -lc 'go test ./...'",` +
		`"aggregated_output":"` + out + `END","exit_code":1,"status":"failed"}}`
}

// bigLog is codexLog with two command lines of over 3 MiB.
var bigLog = bigCommand("big_0", 3<<20) + "\n" + codexLog + bigCommand("big_1", 3<<20) + "\n" + `{"type":"turn.started"}` + "\n"

// TestEventBigCommand: a command line of megabytes is its command entry,
// with its exit code and the end of its output, fed in any pieces, and
// the scanner never holds more than the reduced line.
func TestEventBigCommand(t *testing.T) {
	evs := scanAll(bigLog, len(bigLog))
	require.Len(t, evs, len(codexEvents)+3)
	for _, ev := range []RunEvent{evs[0], evs[len(evs)-2]} {
		require.Equal(t, kindCommand, ev.Type)
		require.Equal(t, "bash -lc 'go test ./...'", ev.Command.Command)
		require.Equal(t, 1, *ev.Command.ExitCode)
		require.Equal(t, "failed", ev.Command.Status)
		require.True(t, ev.Command.OutputTruncated)
		require.True(t, ev.Truncated)
		require.Len(t, ev.Command.Output, maxEventOutput)
		require.True(t, strings.HasSuffix(ev.Command.Output, "\x1b[0m\nEND"), "%q", ev.Command.Output[maxEventOutput-40:])
	}
	require.Equal(t, codexEvents, stripped(evs[1:len(evs)-2]))
	for _, ev := range evs {
		// An event's offset starts its line, and its cursor follows it.
		line, _, _ := strings.Cut(bigLog[ev.Offset:], "\n")
		require.True(t, ev.Offset == 0 || bigLog[ev.Offset-1] == '\n', "offset %d starts a line", ev.Offset)
		require.Equal(t, strconv.FormatInt(ev.Offset+int64(len(line))+1, 10), ev.Cursor)
	}
	for _, n := range []int{1 << 10, 32 << 10, 1<<20 + 7} {
		require.Equal(t, evs, scanAll(bigLog, n), "pieces of %d bytes", n)
	}

	sc := newEventScanner(0, false)
	held := 0
	for p := []byte(bigLog); len(p) > 0; p = p[min(len(p), 4096):] {
		sc.feed(p[:min(len(p), 4096)], func(RunEvent) bool { return true })
		held = max(held, cap(sc.line.out)+cap(sc.line.ring)+cap(sc.line.stack))
	}
	require.LessOrEqual(t, held, maxEventReduced+maxEventString+4096, "the scanner holds the reduced line only")
}

func TestEventScannerStartedInsideALine(t *testing.T) {
	log := `{"type":"turn.started"}` + "\n" + `{"type":"error","message":"e"}` + "\n"
	var out []RunEvent
	sc := newEventScanner(5, true)
	sc.feed([]byte(log[5:]), func(ev RunEvent) bool { out = append(out, ev); return true })
	require.Equal(t, []RunEvent{{Type: kindError, Offset: 24, Cursor: strconv.Itoa(len(log)),
		Error: &EventErrorInfo{Message: "e"}}}, out)
}

// TestEventPages pages through a log stored in part and held by the live
// writer in part, with every limit: each event once, in order, and the
// last page of a finished run says there is no next one.
func TestEventPages(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	lw := f.live()
	half := strings.Index(codexLog, "item_4") // inside a line
	_, err := lw.Write([]byte(codexLog[:half]))
	require.NoError(t, err)
	lw.flush(ctx)
	_, err = lw.Write([]byte(codexLog[half:] + `{"type":"turn.started"}`)) // unfinished: not yet an event
	require.NoError(t, err)
	require.Positive(t, lw.unstored())

	run := &Run{ID: followedRun, Status: StatusRunning}
	all := func(limit int) ([]RunEvent, string) { return pageAll(t, f.svc, run, limit) }
	want := scanAll(codexLog, len(codexLog))
	for _, limit := range []int{1, 2, 5, 100} {
		got, end := all(limit)
		require.Equal(t, want, got, "limit %d", limit)
		require.Equal(t, strconv.Itoa(len(codexLog)), end, "an active run's last page points at its unfinished line")
	}

	// The run ends: the unfinished line is its last event, and the last
	// page has no next one.
	lw.close()
	f.worker.hub.remove(followedRun)
	f.worker.flushAll(ctx, lw)
	run.Status = StatusSucceeded
	final := append(want, RunEvent{Type: kindTurn, Phase: "started", Offset: int64(len(codexLog)),
		Cursor: strconv.Itoa(len(codexLog) + 23)})
	for _, limit := range []int{1, 3, 100} {
		got, end := all(limit)
		require.Equal(t, final, got, "limit %d", limit)
		require.Empty(t, end)
	}

	// A cursor inside a line starts at the next one; one past the end is
	// refused.
	p, err := f.svc.eventPage(ctx, run, EventsInput{Cursor: strconv.FormatInt(want[2].Offset+3, 10), Limit: 1})
	require.NoError(t, err)
	require.Equal(t, want[3:4], p.Items)
	inside := strings.Index(codexLog, `{"type":"error","message":"inside`)
	p, err = f.svc.eventPage(ctx, run, EventsInput{Cursor: strconv.Itoa(inside), Limit: 1})
	require.NoError(t, err)
	require.Equal(t, want[len(want)-1:], p.Items, "what follows a cursor inside a line is no event")
	for _, bad := range []string{"-1", "x", "1e3", strconv.Itoa(len(codexLog) + 24), "99999999999999999999"} {
		_, err = f.svc.eventPage(ctx, run, EventsInput{Cursor: bad, Limit: 1})
		require.Equal(t, derrors.KindInvalid, derrors.KindOf(err), "cursor %q: %v", bad, err)
	}
}

// TestEventPagesOfBigLines pages with small limits through a log of
// megabyte lines, stored in part (up to the middle of a big line) and
// held by the live writer in part, then stored whole: each event once, in
// order, as the scanner finds them.
func TestEventPagesOfBigLines(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	lw := f.live()
	half := len(bigLog) - 2<<20 // inside the second big line
	write(t, lw, bigLog[:half])
	lw.flush(ctx)
	write(t, lw, bigLog[half:])
	require.Positive(t, lw.unstored())
	want := scanAll(bigLog, len(bigLog))

	run := &Run{ID: followedRun, Status: StatusRunning}
	all := func(limit int) []RunEvent {
		got, _ := pageAll(t, f.svc, run, limit)
		return got
	}
	for _, limit := range []int{1, 2, 7, 100} {
		require.Equal(t, want, all(limit), "live, limit %d", limit)
	}
	lw.close()
	f.worker.hub.remove(followedRun)
	f.worker.flushAll(ctx, lw)
	run.Status = StatusSucceeded
	for _, limit := range []int{1, 3, 100} {
		require.Equal(t, want, all(limit), "stored, limit %d", limit)
	}
}

// TestLogReader reads a live run's log in pieces whose ends fall on the
// end of what the store has: all of it, in order, then nothing (for now).
func TestLogReader(t *testing.T) {
	f := newFixture(t)
	lw := f.live()
	log := strings.Repeat("0123456789abcdef", pageRead/8) + "pending"
	write(t, lw, log[:2*pageRead])
	lw.flush(t.Context())
	write(t, lw, log[2*pageRead:])
	lr := &logReader{s: f.svc, id: followedRun, lw: lw}
	defer lr.close()
	var got []byte
	p := make([]byte, pageRead)
	for range 10 {
		n, err := lr.read(t.Context(), p)
		require.NoError(t, err)
		if n == 0 {
			break
		}
		got = append(got, p[:n]...)
	}
	require.Equal(t, log, string(got))
}

// TestEventPagesPassOverlongLines: a page reads about pageBytes, and on
// to the end of an event line, so a log of long lines takes more pages,
// each of which moves on.
func TestEventPagesPassOverlongLines(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	numbers := `{"type":"x","n":[` + strings.Repeat("1,", 2<<20) + `1]}` // 4 MiB, oversized
	log := numbers + "\n" + strings.Repeat("t", 3<<20) + "\n" + bigCommand("item_0", 3<<20) + "\n" + `{"type":"turn.started"}`
	require.NoError(t, f.objects.AppendAt(ctx, logKey(followedRun), 0, []byte(log)))
	run := &Run{ID: followedRun, Status: StatusFailed}
	var got []RunEvent
	cursor, pages := "", 0
	for ; ; pages++ {
		require.Less(t, pages, 20)
		p, err := f.svc.eventPage(ctx, run, EventsInput{Cursor: cursor, Limit: 100})
		require.NoError(t, err)
		got = append(got, p.Items...)
		if p.Next == nil {
			break
		}
		cursor = *p.Next
	}
	require.Equal(t, []string{kindOversized, kindCommand, kindTurn}, []string{got[0].Type, got[1].Type, got[2].Type})
	require.Len(t, got, 3)
	require.Equal(t, 1, *got[1].Command.ExitCode)
	// The oversized and the text lines are skipped about 1 MiB a page (7
	// pages), and the command line is read through by the page it starts
	// in: 9 pages for 12 MiB.
	require.Equal(t, 9, pages+1, "%d MiB", len(log)>>20)
}

// TestEventStream feeds the event encoder a log in pieces: one server-sent
// event per timeline entry, its id the entry's cursor, then the end.
func TestEventStream(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	e := &eventEncoder{w: w, scan: newEventScanner(0, false)}
	log := `{"type":"turn.started"}` + "\nnoise\n" + `{"type":"error","mess`
	require.NoError(t, e.write([]byte(log[:10])))
	require.Empty(t, out.String(), "nothing before a whole line")
	require.NoError(t, e.write([]byte(log[10:])))
	require.NoError(t, e.write([]byte(`age":"e"}`)))
	require.NoError(t, e.end(&Run{Status: StatusSucceeded}))
	require.Equal(t, `id: 24`+"\n"+`data: {"type":"turn","offset":0,"cursor":"24","phase":"started"}`+"\n\n"+
		`id: 60`+"\n"+`data: {"type":"error","offset":30,"cursor":"60","error":{"message":"e"}}`+"\n\n"+
		"event: end\n"+`data: {"status":"succeeded","exit_code":null,"error":null,"log_truncated":false}`+"\n\n", out.String())
}

// TestEventStreamOfBigLines: the event encoder, fed a log of megabyte
// lines in a follower's pieces, sends the scanner's events, and holds
// the reduced line only.
func TestEventStreamOfBigLines(t *testing.T) {
	var out bytes.Buffer
	e := &eventEncoder{w: bufio.NewWriter(&out), scan: newEventScanner(0, false)}
	held := 0
	for p := []byte(bigLog); len(p) > 0; p = p[min(len(p), followChunk):] {
		require.NoError(t, e.write(p[:min(len(p), followChunk)]))
		held = max(held, cap(e.scan.line.out)+cap(e.scan.line.ring))
	}
	require.NoError(t, e.end(&Run{Status: StatusSucceeded}))
	require.LessOrEqual(t, held, maxEventReduced+maxEventString)
	var got []RunEvent
	for _, ev := range strings.Split(out.String(), "\n\n") {
		_, data, ok := strings.Cut(ev, "\ndata: ")
		if !ok || strings.HasPrefix(ev, "event: end") {
			continue
		}
		var e RunEvent
		require.NoError(t, json.Unmarshal([]byte(data), &e))
		got = append(got, e)
	}
	require.Equal(t, stripRaw(scanAll(bigLog, len(bigLog))), stripRaw(got))
}

// stripRaw compacts the raw events, as JSON encoding does.
func stripRaw(evs []RunEvent) []RunEvent {
	for i := range evs {
		if evs[i].Raw != nil {
			var b bytes.Buffer
			_ = json.Compact(&b, evs[i].Raw)
			evs[i].Raw = b.Bytes()
		}
	}
	return evs
}

// TestFollowEventsLive follows a run's events through the follower the
// log streams use: live from the writer's memory, then the rest and the
// end once the run has finished.
func TestFollowEventsLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		lw := f.live()
		c := &client{}
		done := make(chan error, 1)
		go func() { done <- f.svc.followEvents(t.Context(), followedRun, 0, false, bufio.NewWriter(c)) }()
		write(t, lw, `{"type":"turn.started"}`+"\nnoise\n")
		synctest.Wait()
		require.Equal(t, "id: 24\n"+`data: {"type":"turn","offset":0,"cursor":"24","phase":"started"}`+"\n\n", c.fresh(),
			"an event arrives at once, before any flush")
		require.Equal(t, 1, f.svc.Followers(), "an event stream counts as a follower")

		write(t, lw, `{"type":"error","message":"e"}`)
		lw.flush(t.Context())
		lw.close()
		f.worker.hub.remove(followedRun)
		synctest.Wait()
		require.Empty(t, c.fresh(), "the unfinished line waits for the run's end")
		f.records.end(StatusFailed, 1)
		time.Sleep(f.svc.tuning.Poll)
		synctest.Wait()
		require.Equal(t, "id: 60\n"+`data: {"type":"error","offset":30,"cursor":"60","error":{"message":"e"}}`+"\n\n"+
			"event: end\n"+`data: {"status":"failed","exit_code":1,"error":null,"log_truncated":false}`+"\n\n", c.fresh())
		require.NoError(t, ended(t, done))
	})
}

// benchLog is an 8 MiB log: Codex's lines around two command lines of 3
// MiB each.
var benchLog = func() string {
	small := strings.Repeat(codexLog, (2<<20)/len(codexLog))
	big := bigCommand("big_0", 2<<20) // 3.2 MiB escaped
	return small + big + "\n" + small[:len(small)/2] + big + "\n" + small[len(small)/2:]
}()

// BenchmarkEventPages pages through benchLog, stored, 20 events a page,
// and reports the slowest page.
func BenchmarkEventPages(b *testing.B) {
	f := newFixture(b)
	ctx := b.Context()
	require.NoError(b, f.objects.AppendAt(ctx, logKey(followedRun), 0, []byte(benchLog)))
	run := &Run{ID: followedRun, Status: StatusSucceeded}
	b.SetBytes(int64(len(benchLog)))
	var slowest time.Duration
	pages := 0
	for b.Loop() {
		cursor := ""
		for {
			began := time.Now()
			p, err := f.svc.eventPage(ctx, run, EventsInput{Cursor: cursor, Limit: 20})
			slowest = max(slowest, time.Since(began))
			pages++
			if err != nil || p.Next == nil {
				break
			}
			cursor = *p.Next
		}
	}
	b.ReportMetric(float64(slowest.Microseconds())/1000, "slowest-page-ms")
	b.ReportMetric(float64(pages)/float64(b.N), "pages/op")
}

// BenchmarkEventFollower feeds benchLog to an event encoder in a
// follower's pieces and reports the most it held of a line.
func BenchmarkEventFollower(b *testing.B) {
	b.SetBytes(int64(len(benchLog)))
	held := 0
	for b.Loop() {
		e := &eventEncoder{w: bufio.NewWriter(io.Discard), scan: newEventScanner(0, false)}
		for p := []byte(benchLog); len(p) > 0; p = p[min(len(p), followChunk):] {
			_ = e.write(p[:min(len(p), followChunk)])
			held = max(held, cap(e.scan.line.out)+cap(e.scan.line.ring)+cap(e.scan.line.stack))
		}
	}
	b.ReportMetric(float64(held)/1024, "held-KiB")
}

// pageAll reads run's whole timeline in pages of limit, and returns it and
// where an active run's last page pointed ("" once the run's end is read).
func pageAll(t *testing.T, svc *Service, run *Run, limit int) ([]RunEvent, string) {
	t.Helper()
	var got []RunEvent
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100, "paging never ends")
		p, err := svc.eventPage(t.Context(), run, EventsInput{Cursor: cursor, Limit: limit})
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Items), limit)
		got = append(got, p.Items...)
		if p.Next == nil {
			return got, ""
		}
		if *p.Next == cursor && len(p.Items) == 0 {
			return got, cursor // an active run's end, for now
		}
		cursor = *p.Next
	}
}
