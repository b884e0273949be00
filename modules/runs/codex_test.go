package runs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/app/apptest/modelapi"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/codextest"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/egress/egresstest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// codexCase is what differs between the models a Codex run is tested
// with: how the model offers a command and calls it, and how Codex answers.
type codexCase struct {
	model string // "" keeps the production configuration's
	// offer checks the first request's tools; call is the scripted
	// model's output item that runs cmd as the call callID; output checks
	// the second request for that call's output and returns its text;
	// ran is in that text when the command exited 0.
	offer  func(modelapi.Request) error
	call   func(callID, cmd string) map[string]any
	output func(callID string, out *string) func(modelapi.Request) error
	ran    string
}

// TestCodexEndToEnd runs the real, pinned Codex CLI as a run's agent, with
// the default command, in the hardened container, on the egress allowlist:
// its model is a scripted Responses API on the host that the allowlist
// names, reached through the run's proxy over TLS with the test's CA. The
// key is the project's secret OPENAI_API_KEY. Codex runs the tool call it
// is told to (writing a file) and ends with a message: the run succeeds,
// its patch holds the file, its log holds Codex's events and the proxy's
// decision, and no log holds the key. The model here, gpt-5.3-codex,
// offers exec_command as a plain function tool.
func TestCodexEndToEnd(t *testing.T) {
	testCodex(t, codexCase{
		model: "gpt-5.3-codex",
		offer: modelapi.OffersFunction("exec_command"),
		call: func(callID, cmd string) map[string]any {
			return modelapi.FunctionCall(callID, "exec_command", map[string]string{"cmd": cmd})
		},
		output: modelapi.HasFunctionOutput,
		ran:    "Process exited with code 0",
	})
}

// TestCodexCodeModeEndToEnd is TestCodexEndToEnd with the production
// configuration's model unchanged: Codex's default, which works in "code
// mode". Its one tool is exec, a custom tool whose input is JavaScript
// that Codex runs in codex-code-mode-host, in the hardened container, and
// the script calls exec_command through the global tools object; text()
// returns the command's result (JSON) to the model.
func TestCodexCodeModeEndToEnd(t *testing.T) {
	testCodex(t, codexCase{
		offer: modelapi.OffersCustomTool("exec"),
		call: func(callID, cmd string) map[string]any {
			js := fmt.Sprintf("const r = await tools.exec_command({cmd: %s});\ntext(r);\n", strconv.Quote(cmd))
			return modelapi.CustomToolCall(callID, "exec", js)
		},
		output: modelapi.HasCustomToolOutput,
		ran:    `"exit_code":0`,
	})
}

// testCodex runs the end-to-end test of TestCodexEndToEnd for one model.
func testCodex(t *testing.T, c codexCase) {
	if testing.Short() {
		t.Skip("the real Codex CLI: a 370 MB image and a whole run")
	}
	rt := containertest.Runtime(t, containers.Config{})
	base := codextest.BaseImage(t, rt) // first: skips before any work when Codex is not cached
	bin := egresstest.ProxyBinary(t)
	outside, gw := outsideNetwork(t, rt)

	const wrote = "written by codex through slipway\n"
	const cmd = "printf 'written by codex through slipway\\n' > CODEX_WROTE.md"
	var toolOutput string
	model := modelapi.Start(t, gw,
		modelapi.Turn{Check: c.offer, Output: []map[string]any{c.call("call_1", cmd)}},
		modelapi.Turn{Check: c.output("call_1", &toolOutput),
			Output: []map[string]any{modelapi.Message("Done: CODEX_WROTE.md is written.")}},
	)
	// The production image's configuration, but for the model (if the case
	// names one) and its URL.
	config, err := codextest.Config(model.URL(), c.model)
	require.NoError(t, err)
	const certs = "/etc/ssl/certs/ca-certificates.crt"
	image := codextest.Derive(t, rt, base, map[string]string{"SSL_CERT_FILE": certs},
		codextest.File{Path: certs, Body: model.CA()},
		codextest.File{Path: "/etc/codex/config.toml", Body: config})

	s := apptest.Settings(t, apptest.WithRuns(image), func(s *settings.Settings) {
		s.Runs.Network = settings.NetworkAllowlist
		s.Runs.AllowPrivateHosts = true // the model is on the host
		s.Runs.Egress.Allow = []string{model.HostPort()}
		s.Runs.Egress.Network = outside
		s.Runs.Egress.ProxyBinary = bin
		s.Runs.MemoryBytes = 1 << 30
		s.Runs.PidsLimit = 256
	})
	require.Equal(t, apptest.Settings(t).Runs.Command, s.Runs.Command, "the default command runs Codex")
	require.Equal(t, "codex", s.Runs.Command[0])
	h := startWith(t, s, rt, image)

	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})
	key := "sk-test-" + randomHex(t, 20)
	h.putSecret(t, u, repo.ProjectID, "OPENAI_API_KEY", key)

	posted := time.Now()
	// Configured as in production, Codex gives up on a refused model host
	// after about 30 s (the run's timeout bounds it anyway); the wait below
	// fails as soon as the proxy refuses it.
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "Write CODEX_WROTE.md.", "timeout_seconds": 120})
	done, log := waitCodex(t, h, u, r.ID, model.HostPort())
	t.Logf("run log:\n%s", log)
	require.Equal(t, "succeeded", done.Status, "error: %s", errorOf(done))
	require.True(t, model.Done(), "Codex played the whole script")

	first, ok := model.FirstModelRequest()
	require.True(t, ok)
	info, err := rt.Client().ImageInspect(context.Background(), base)
	require.NoError(t, err)

	// The key came from the project's secret, and only the model saw it.
	var posts int
	var asked any // the model Codex asked for
	for _, req := range model.Requests() {
		if req.Method == http.MethodPost {
			posts++
			require.Equal(t, "Bearer "+key, req.Authorization)
			asked = req.Body["model"]
		}
	}
	require.Equal(t, 2, posts)
	t.Logf("model %v: POST to Codex's first model request: %s; run: %s; agent image %s: %d bytes (%.0f MiB)",
		asked, first.Sub(posted).Round(time.Millisecond), done.FinishedAt.Sub(posted).Round(time.Millisecond),
		base, info.Size, float64(info.Size)/(1<<20))
	require.Contains(t, toolOutput, c.ran, "Codex ran the command")

	patch := string(h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Body)
	require.Contains(t, patch, "diff --git a/CODEX_WROTE.md b/CODEX_WROTE.md\n")
	require.Contains(t, patch, "+"+wrote)
	require.NotContains(t, patch, "README.md", "Codex changed nothing else")

	// Codex's events are the log's JSON lines.
	var started, command, message, completed bool
	for _, line := range strings.Split(log, "\n") {
		var ev struct {
			Type string `json:"type"`
			Item struct {
				Type     string `json:"type"`
				Command  string `json:"command"`
				ExitCode *int   `json:"exit_code"`
				Text     string `json:"text"`
				Message  string `json:"message"`
			} `json:"item"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "thread.started":
			started = true
		case ev.Type == "item.completed" && ev.Item.Type == "command_execution":
			require.Contains(t, ev.Item.Command, "CODEX_WROTE.md")
			require.NotNil(t, ev.Item.ExitCode)
			require.Equal(t, 0, *ev.Item.ExitCode)
			command = true
		case ev.Type == "item.completed" && ev.Item.Type == "agent_message":
			require.Equal(t, "Done: CODEX_WROTE.md is written.", ev.Item.Text)
			message = true
		case ev.Type == "turn.completed":
			completed = true
		case ev.Type == "item.completed" && ev.Item.Type == "error":
			// Codex goes on after such an error item, and the run still
			// succeeds: a code-mode host it cannot start is one. A model
			// Codex has no metadata for (gpt-5.3-codex, at times) is only a
			// warning.
			if !strings.HasPrefix(ev.Item.Message, "Model metadata for `") {
				t.Errorf("Codex reported an error: %s", ev.Item.Message)
			}
		}
	}
	require.True(t, started && command && message && completed,
		"thread.started %v, command_execution %v, agent_message %v, turn.completed %v", started, command, message, completed)

	// The same events are the run's timeline, as the web client reads it.
	var page struct {
		Items []struct {
			Type    string  `json:"type"`
			Phase   string  `json:"phase"`
			Text    *string `json:"text"`
			Command *struct {
				Command  string `json:"command"`
				ExitCode *int   `json:"exit_code"`
			} `json:"command"`
			Usage *struct {
				InputTokens  int64 `json:"input_tokens"`
				OutputTokens int64 `json:"output_tokens"`
			} `json:"usage"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	events := h.Get("/v1/runs/"+r.ID+"/events?limit=100", u.Token)
	require.Equal(t, http.StatusOK, events.Status, "%s", events.Body)
	require.NotContains(t, string(events.Body), key)
	events.Decode(t, &page)
	require.Nil(t, page.NextCursor, "the finished run's whole timeline fits one page")
	var timeline []string
	for _, e := range page.Items {
		switch {
		case e.Type == "command" && e.Phase == "completed":
			require.Contains(t, e.Command.Command, "CODEX_WROTE.md")
			require.Equal(t, 0, *e.Command.ExitCode)
		case e.Type == "agent_message":
			require.Equal(t, "Done: CODEX_WROTE.md is written.", *e.Text)
		case e.Type == "turn" && e.Phase == "completed":
			require.Positive(t, e.Usage.InputTokens, "the model's token usage")
		}
		timeline = append(timeline, strings.TrimSuffix(e.Type+" "+e.Phase, " "))
	}
	require.Subset(t, timeline, []string{"thread started", "turn started", "command started", "command completed", "agent_message completed", "turn completed"},
		"timeline: %v", timeline)
	// Codex reached the model through the proxy, and, configured as in
	// production (no plugins, analytics or update checks), tried no other host.
	require.NotContains(t, log, "[slipway egress] refused")
	require.Regexp(t, `(?m)^\[slipway egress\] allowed `+regexp.QuoteMeta(model.HostPort())+` \(`, log)
	for _, m := range regexp.MustCompile(`(?m)^\[slipway egress\] allowed (\S+)`).FindAllStringSubmatch(log, -1) {
		require.Equal(t, model.HostPort(), m[1], "only the model host is reached")
	}

	require.NotContains(t, log, key)
	for _, e := range h.Logs().All() {
		require.NotContains(t, e.Message, key)
		for k, v := range e.ContextMap() {
			require.NotContains(t, fmt.Sprint(v), key, "server log %q, field %s", e.Message, k)
		}
	}
}

// waitCodex follows the run's log to its end and returns the run and its
// log; it fails the test at once when the run's proxy refuses the model's
// host, rather than when Codex gives up on it.
func waitCodex(t *testing.T, h *harness, u apptest.User, id, modelHost string) (apptest.Run, string) {
	t.Helper()
	_, events := h.follow(t, u.Token, id, nil)
	deadline := time.After(3 * time.Minute)
	for ended := false; !ended; {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the log stream ended without its end event")
			ended = ev.name == "end"
			if strings.Contains(ev.data, "[slipway egress] refused "+modelHost) {
				t.Fatalf("the proxy refused the model's host; run log:\n%s", h.Get("/v1/runs/"+id+"/logs", u.Token).Body)
			}
		case <-deadline:
			t.Fatalf("run %s has not ended; run log:\n%s", id, h.Get("/v1/runs/"+id+"/logs", u.Token).Body)
		}
	}
	r := h.GetRun(u.Token, id)
	require.True(t, terminal(r.Status), "the log ends with the run: %s", r.Status)
	return r, string(h.Get("/v1/runs/"+id+"/logs", u.Token).Body)
}

// errorOf is the run's error, or "" when it has none.
func errorOf(r apptest.Run) string {
	if r.Error == nil {
		return ""
	}
	return *r.Error
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
