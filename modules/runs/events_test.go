package runs_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

// codexAgent prints, as `codex exec --json` does, one JSON event per line
// on stdout, with text on stderr between them, an agent message holding
// the project's secret API_KEY and an event type this server does not
// know. (The test image's shell is busybox: printf, no jq.)
const codexAgent = `sh: ` +
	`printf '%s\n' '{"type":"thread.started","thread_id":"th_1"}' '{"type":"turn.started"}'; ` +
	`echo 'warning: no git config' >&2; ` +
	`printf '%s\n' '{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"ls","aggregated_output":"","exit_code":null,"status":"in_progress"}}'; ` +
	`printf '%s\n' '{"type":"item.completed","item":{"id":"item_0","type":"command_execution","command":"ls","aggregated_output":"README.md\n","exit_code":0,"status":"completed"}}'; ` +
	`printf '%s\n' '{"type":"item.completed","item":{"id":"item_1","type":"file_change","changes":[{"path":"README.md","kind":"update"}],"status":"completed"}}'; ` +
	`printf '{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"used %s"}}\n' "$API_KEY"; ` +
	`printf '%s\n' '{"type":"item.plan.delta","item_id":"item_3","delta":"x"}' 'not json {"type":"error"}'; ` +
	`printf '%s\n' '{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":3}}'`

// event is what the tests read of a timeline entry.
type event struct {
	Type   string          `json:"type"`
	Offset int64           `json:"offset"`
	Cursor string          `json:"cursor"`
	ItemID string          `json:"item_id"`
	Phase  string          `json:"phase"`
	Text   *string         `json:"text"`
	Raw    json.RawMessage `json:"raw"`
	Usage  *struct {
		InputTokens int `json:"input_tokens"`
	} `json:"usage"`
	Command *struct {
		Command         string `json:"command"`
		ExitCode        *int   `json:"exit_code"`
		Status          string `json:"status"`
		Output          string `json:"output"`
		OutputTruncated bool   `json:"output_truncated"`
	} `json:"command"`
	Truncated bool `json:"truncated"`
}

type eventPage struct {
	Items      []event `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// kinds lists the entries as type/phase/item.
func kinds(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = strings.TrimRight(e.Type+"/"+e.Phase+"/"+e.ItemID, "/")
	}
	return out
}

var wantKinds = []string{"thread/started", "turn/started", "command/started/item_0", "command/completed/item_0",
	"file_change/completed/item_1", "agent_message/completed/item_2", "raw", "turn/completed"}

// TestRunEventsTimeline runs an agent that prints Codex's events and reads
// its timeline: page by page with a small limit (each event once, in
// order, the secret masked as in the log), then replayed as a stream; and
// the refusals: others' runs, bad parameters.
func TestRunEventsTimeline(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})
	const value = "sk-live-0123456789abcdef"
	h.putSecret(t, u, repo.ProjectID, "API_KEY", value)
	r := h.create(t, u, repo.ID, map[string]any{"prompt": codexAgent})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "succeeded", done.Status, "error: %v", done.Error)

	var all []event
	cursor, pages := "", 0
	for ; pages < 20; pages++ {
		res := h.Get(fmt.Sprintf("/v1/runs/%s/events?limit=3&cursor=%s", r.ID, cursor), u.Token)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.NotContains(t, string(res.Body), value)
		var p eventPage
		res.Decode(t, &p)
		require.LessOrEqual(t, len(p.Items), 3)
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	require.Equal(t, 3, pages+1, "8 events in pages of 3")
	require.Equal(t, wantKinds, kinds(all))
	require.Equal(t, "used [secret:API_KEY]", *all[5].Text, "secrets are masked as in the log")
	require.Nil(t, all[2].Command.ExitCode)
	require.Equal(t, 0, *all[3].Command.ExitCode)
	require.JSONEq(t, `{"type":"item.plan.delta","item_id":"item_3","delta":"x"}`, string(all[6].Raw), "unknown events are kept raw")
	require.Equal(t, 10, all[7].Usage.InputTokens)
	logs := h.Get("/v1/runs/"+r.ID+"/logs", u.Token).Body
	for i, e := range all {
		require.True(t, e.Offset == 0 || logs[e.Offset-1] == '\n', "event %d starts a line of the log", i)
		require.Equal(t, byte('{'), logs[e.Offset])
	}

	// The stream of a finished run replays the timeline and ends; each id
	// is the event's cursor, and Last-Event-ID resumes after it.
	_, events := h.stream(t, u.Token, "/v1/runs/"+r.ID+"/events?follow=true", nil)
	var streamed []event
	for ev := next(t, events, true); ev.name != "end"; ev = next(t, events, true) {
		var e event
		require.NoError(t, json.Unmarshal([]byte(ev.data), &e))
		require.Equal(t, e.Cursor, ev.id)
		streamed = append(streamed, e)
	}
	require.Equal(t, all, streamed)
	_, events = h.stream(t, u.Token, "/v1/runs/"+r.ID+"/events?follow=true", map[string]string{"Last-Event-ID": all[4].Cursor})
	require.Contains(t, next(t, events, true).data, `"item_id":"item_2"`)
	_, events = h.stream(t, u.Token, "/v1/runs/"+r.ID+"/events?follow=true&cursor="+all[6].Cursor, nil)
	require.Contains(t, next(t, events, true).data, `"turn"`)
	require.Equal(t, "end", next(t, events, true).name)

	// Others do not see the run; bad parameters are named.
	other := h.SignUp()
	require.Equal(t, "not_found", h.Get("/v1/runs/"+r.ID+"/events", other.Token).ErrorCode(t))
	require.Equal(t, "not_found", h.Get("/v1/runs/"+r.ID+"/events?follow=true", other.Token).ErrorCode(t))
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=abc", "cursor=-1", "cursor=999999", "follow=maybe",
		"follow=true&cursor=abc"} {
		res := h.Get("/v1/runs/"+r.ID+"/events?"+q, u.Token)
		require.Equal(t, "validation_error", res.ErrorCode(t), q)
	}
	res := h.Do(apptest.Request{Method: http.MethodGet, Path: "/v1/runs/" + r.ID + "/events?follow=true", Token: u.Token,
		Header: map[string]string{"Last-Event-ID": "x"}})
	require.Equal(t, "validation_error", res.ErrorCode(t))
	require.Equal(t, "Last-Event-ID", res.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["fields"].([]any)[0].(map[string]any)["field"])
}

// TestRunEventsFollowLive follows an agent that prints an event and then
// waits: the event arrives while the run is running, and the stream ends
// with the run, here canceled.
func TestRunEventsFollowLive(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": `sh: printf '%s\n' '{"type":"turn.started"}'; sleep 120`})
	h.wait(t, u, r.ID, is("running"))

	_, events := h.stream(t, u.Token, "/v1/runs/"+r.ID+"/events?follow=true", nil)
	ev := next(t, events, true)
	require.Equal(t, `{"type":"turn","offset":6,"cursor":"30","phase":"started"}`, ev.data, "after the test agent's start line")
	require.Equal(t, "30", ev.id)
	require.Equal(t, "running", h.GetRun(u.Token, r.ID).Status, "the event came while the run runs")
	require.Equal(t, 1, h.svc.Followers())

	// A page of a running run ends where its events so far end.
	var p eventPage
	h.Get("/v1/runs/"+r.ID+"/events", u.Token).Decode(t, &p)
	require.Len(t, p.Items, 1)
	require.Equal(t, "30", *p.NextCursor, "a running run's last page has a next cursor")

	require.Equal(t, http.StatusAccepted, h.Post("/v1/runs/"+r.ID+"/cancel", u.Token, nil).Status)
	end := next(t, events, true)
	require.Equal(t, "end", end.name)
	require.Contains(t, end.data, `"status":"canceled"`)
	_, open := <-events
	require.False(t, open, "the stream closes after the end event")
}

// bigCommandAgent prints, as Codex does, a completed command whose output
// (3 MiB of x, then END) makes its line longer than a timeline holds,
// between two other events.
const bigCommandAgent = `sh: ` +
	`printf '%s\n' '{"type":"turn.started"}'; ` +
	`printf '%s' '{"type":"item.completed","item":{"id":"item_0","type":"command_execution","command":"make test","aggregated_output":"'; ` +
	`head -c 3145728 /dev/zero | tr '\0' x; ` +
	`printf '%s\n' 'END","exit_code":2,"status":"failed"}}' '{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}'`

// TestRunEventsBigCommand: a command whose line is megabytes long is its
// command entry, with its exit code and the end of its output, in pages
// of one event and in the stream.
func TestRunEventsBigCommand(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": bigCommandAgent})
	_, events := h.stream(t, u.Token, "/v1/runs/"+r.ID+"/events?follow=true", nil)
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "succeeded", done.Status, "error: %v", done.Error)

	check := func(evs []event) {
		t.Helper()
		require.Equal(t, []string{"turn/started", "command/completed/item_0", "turn/completed"}, kinds(evs))
		c := evs[1].Command
		require.Equal(t, "make test", c.Command)
		require.Equal(t, 2, *c.ExitCode)
		require.Equal(t, "failed", c.Status)
		require.True(t, c.OutputTruncated)
		require.True(t, evs[1].Truncated)
		require.Equal(t, strings.Repeat("x", 16<<10-3)+"END", c.Output, "the last 16 KiB")
		require.Greater(t, evs[2].Offset-evs[1].Offset, int64(3<<20), "the line is whole in the log")
	}

	var streamed []event
	for ev := next(t, events, true); ev.name != "end"; ev = next(t, events, true) {
		var e event
		require.NoError(t, json.Unmarshal([]byte(ev.data), &e))
		streamed = append(streamed, e)
	}
	check(streamed)

	var paged []event
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20)
		res := h.Get(fmt.Sprintf("/v1/runs/%s/events?limit=1&cursor=%s", r.ID, cursor), u.Token)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var p eventPage
		res.Decode(t, &p)
		paged = append(paged, p.Items...)
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	check(paged)
	require.Equal(t, streamed, paged)
}
