package runs_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data string
	id   string
}

// readEvents parses an event stream, sending each event (comments as
// events named ":").
func readEvents(body *bufio.Reader, out chan<- sseEvent) {
	defer close(out)
	var ev sseEvent
	var data []string
	for {
		line, err := body.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" || len(data) > 0 {
				ev.data = strings.Join(data, "\n")
				out <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
			out <- sseEvent{name: ":"}
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		}
	}
}

func (h *harness) follow(t *testing.T, token, runID string, header map[string]string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	return h.stream(t, token, "/v1/runs/"+runID+"/logs?follow=true", header)
}

// stream opens an event stream at path and parses its events.
func (h *harness) stream(t *testing.T, token, path string, header map[string]string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{}).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	events := make(chan sseEvent, 64)
	go readEvents(bufio.NewReader(res.Body), events)
	return res, events
}

func next(t *testing.T, events <-chan sseEvent, skipComments bool) sseEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "stream ended early")
			if skipComments && ev.name == ":" {
				continue
			}
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
		}
	}
}

func TestFollowStreamsLinesLiveThenEnd(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: echo one; sleep 1; printf 'two\\r\\n'; sleep 1; printf three"})

	_, events := h.follow(t, u.Token, r.ID, nil)
	var lines []string
	var firstID string
	var firstCount int
	sawLive := false
	for {
		ev := next(t, events, true)
		if ev.name == "end" {
			var end struct {
				Status   string `json:"status"`
				ExitCode *int   `json:"exit_code"`
			}
			require.NoError(t, json.Unmarshal([]byte(ev.data), &end))
			require.Equal(t, "succeeded", end.Status)
			require.Equal(t, 0, *end.ExitCode)
			break
		}
		if firstID == "" {
			firstID, firstCount = ev.id, len(strings.Split(ev.data, "\n"))
		}
		lines = append(lines, strings.Split(ev.data, "\n")...)
		if strings.Contains(ev.data, "one") && h.GetRun(u.Token, r.ID).Status == "running" {
			sawLive = true
		}
	}
	require.Equal(t, []string{"start", "one", "two", "threedone"}, lines)
	require.True(t, sawLive, "lines arrive while the run is running")
	_, ok := <-events
	require.False(t, ok, "the stream closes after the end event")

	// Following a finished run replays the log and ends; Last-Event-ID resumes.
	_, events = h.follow(t, u.Token, r.ID, nil)
	require.Equal(t, "start\none\ntwo\nthreedone", next(t, events, true).data)
	require.Equal(t, "end", next(t, events, true).name)
	_, events = h.follow(t, u.Token, r.ID, map[string]string{"Last-Event-ID": firstID})
	require.Equal(t, strings.Join(lines[firstCount:], "\n"), next(t, events, true).data, "resumed after event %s", firstID)
	require.Equal(t, "end", next(t, events, true).name)
}

func TestFollowerThatLeavesIsReleased(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
	h.wait(t, u, r.ID, is("running"))

	res, events := h.follow(t, u.Token, r.ID, nil)
	require.Equal(t, "start", next(t, events, true).data)
	require.Equal(t, ":", next(t, events, false).name, "keep-alive comments on an idle stream")
	require.Equal(t, 1, h.svc.Followers())
	res.Body.Close()
	require.Eventually(t, func() bool { return h.svc.Followers() == 0 }, 10*time.Second, 20*time.Millisecond,
		"a follower that disconnected is gone by the next keep-alive")
	require.Equal(t, "running", h.GetRun(u.Token, r.ID).Status, "a follower leaving does not touch the run")

	// A stream open when the server stops ends with it.
	_, events = h.follow(t, u.Token, r.ID, nil)
	require.Equal(t, "start", next(t, events, true).data)
	stopped := make(chan struct{})
	go func() { h.Stop(); close(stopped) }()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-events:
			return !ok
		default:
			return false
		}
	}, 20*time.Second, 10*time.Millisecond)
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("stop hung")
	}
	require.Equal(t, 0, h.svc.Followers())
}
