package modelapi_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest/modelapi"
)

// recorder stands in for the test the server reports to, so failures the
// server must report can be checked.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func client(t *testing.T, s *modelapi.Server) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(s.CA()))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func post(t *testing.T, c *http.Client, s *modelapi.Server, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/responses", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer k-1")
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	require.NoError(t, sc.Err())
	return res.StatusCode, out.String()
}

// TestScript plays a tool call and a final message over TLS, checked
// against the certificate's CA, and records what it saw.
func TestScript(t *testing.T) {
	var output string
	s := modelapi.Start(t, netip.MustParseAddr("127.0.0.1"),
		modelapi.Turn{Check: modelapi.OffersFunction("exec_command"),
			Output: []map[string]any{modelapi.FunctionCall("call_1", "exec_command", map[string]string{"cmd": "true"})}},
		modelapi.Turn{Check: modelapi.HasFunctionOutput("call_1", &output),
			Output: []map[string]any{modelapi.Message("Done.")}},
	)
	c := client(t, s)
	before := time.Now()

	res, err := c.Get(s.URL() + "/models")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	_, ok := s.FirstModelRequest()
	require.False(t, ok, "a GET is no model request")

	status, body := post(t, c, s, map[string]any{"model": "m", "stream": true,
		"tools": []any{map[string]any{"type": "function", "name": "exec_command"}}})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "event: response.created\n"+`data: {"response":{"id":"resp_1"},"type":"response.created"}`+"\n\n"+
		"event: response.output_item.done\n"+
		`data: {"item":{"arguments":"{\"cmd\":\"true\"}","call_id":"call_1","id":"fc_call_1","name":"exec_command","type":"function_call"},"output_index":0,"type":"response.output_item.done"}`+"\n\n"+
		"event: response.completed\n"+
		`data: {"response":{"id":"resp_1","usage":{"input_tokens":10,"input_tokens_details":null,"output_tokens":5,"output_tokens_details":null,"total_tokens":15}},"type":"response.completed"}`+"\n\n", body)
	require.False(t, s.Done())

	status, body = post(t, c, s, map[string]any{"input": []any{map[string]any{"type": "function_call_output", "call_id": "call_1", "output": "ok"}}})
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"text":"Done."`)
	require.Equal(t, "ok", output)
	require.True(t, s.Done())

	reqs := s.Requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "Bearer k-1", reqs[1].Authorization)
	first, ok := s.FirstModelRequest()
	require.True(t, ok)
	require.Equal(t, reqs[1].Time, first)
	require.False(t, first.Before(before))
}

// TestFailuresAreLoud: a request the script does not expect fails the test
// and gets a 400, which an agent does not retry; so does one past the
// script's end and one over the body limit.
func TestFailuresAreLoud(t *testing.T) {
	rec := &recorder{TB: t}
	s := modelapi.Start(rec, netip.MustParseAddr("127.0.0.1"),
		modelapi.Turn{Check: modelapi.OffersFunction("exec_command")})
	c := client(t, s)

	status, body := post(t, c, s, map[string]any{"model": "gpt-x", "tools": []any{map[string]any{"type": "custom", "name": "exec"}}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `does not offer the function \"exec_command\"`)
	status, _ = post(t, c, s, map[string]any{})
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = post(t, c, s, map[string]any{"pad": strings.Repeat("x", modelapi.MaxBody)})
	require.Equal(t, http.StatusBadRequest, status)

	errs := rec.errors()
	require.Len(t, errs, 3, "%q", errs)
	require.Contains(t, errs[0], `turn 1: the request does not offer the function "exec_command" (model gpt-x; tools: [custom exec])`)
	require.Contains(t, errs[1], "request 2, but the script has 1 turns")
	require.Contains(t, errs[2], "request body: http: request body too large")
}

// TestCodeModeScript plays the default model's "code mode": its request
// offers tools only in the namespaces of an additional_tools input item,
// the model calls the custom tool exec with JavaScript, and Codex answers
// with a custom_tool_call_output whose output is a list of texts.
func TestCodeModeScript(t *testing.T) {
	const js = "const r = await tools.exec_command({cmd: \"true\"});\ntext(r);\n"
	var output string
	s := modelapi.Start(t, netip.MustParseAddr("127.0.0.1"),
		modelapi.Turn{Check: modelapi.OffersCustomTool("exec"),
			Output: []map[string]any{modelapi.CustomToolCall("call_1", "exec", js)}},
		modelapi.Turn{Check: modelapi.HasCustomToolOutput("call_1", &output),
			Output: []map[string]any{modelapi.Message("Done.")}},
	)
	c := client(t, s)

	status, body := post(t, c, s, map[string]any{"model": "m", "input": []any{
		map[string]any{"type": "additional_tools", "role": "developer", "tools": []any{
			map[string]any{"type": "namespace", "name": "functions", "tools": []any{
				map[string]any{"type": "function", "name": "wait"},
				map[string]any{"type": "custom", "name": "exec"},
			}},
		}},
		map[string]any{"type": "message", "role": "user", "content": "hi"},
	}})
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "event: response.output_item.done\n"+
		`data: {"item":{"call_id":"call_1","id":"ctc_call_1","input":"const r = await tools.exec_command({cmd: \"true\"});\ntext(r);\n","name":"exec","type":"custom_tool_call"},"output_index":0,"type":"response.output_item.done"}`+"\n\n")

	status, body = post(t, c, s, map[string]any{"input": []any{
		map[string]any{"type": "custom_tool_call_output", "call_id": "call_1", "output": []any{
			map[string]any{"type": "input_text", "text": "Script completed\nOutput:\n"},
			map[string]any{"type": "input_text", "text": `{"exit_code":0,"output":""}`},
		}},
	}})
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"text":"Done."`)
	require.Equal(t, "Script completed\nOutput:\n"+`{"exit_code":0,"output":""}`, output)
	require.True(t, s.Done())
}

// TestToolChecksSayWhatWasOffered: a tool that is not offered, or offered
// with another type, fails the check, naming what was offered, nested
// tools by their namespace; a missing output fails too.
func TestToolChecksSayWhatWasOffered(t *testing.T) {
	req := modelapi.Request{Body: map[string]any{"model": "gpt-x", "input": []any{
		map[string]any{"type": "additional_tools", "tools": []any{
			map[string]any{"type": "namespace", "name": "functions", "tools": []any{
				map[string]any{"type": "function", "name": "exec"},
			}},
		}},
		map[string]any{"type": "custom_tool_call_output", "call_id": "call_1", "output": "plain"},
	}}}
	err := modelapi.OffersCustomTool("exec")(req)
	require.EqualError(t, err, `the request does not offer the custom tool "exec" (model gpt-x; tools: [function functions.exec])`)
	require.NoError(t, modelapi.OffersFunction("exec")(req))
	require.EqualError(t, modelapi.OffersFunction("exec_command")(req),
		`the request does not offer the function "exec_command" (model gpt-x; tools: [function functions.exec])`)

	var out string
	require.NoError(t, modelapi.HasCustomToolOutput("call_1", &out)(req))
	require.Equal(t, "plain", out, "a string output is the text")
	require.EqualError(t, modelapi.HasCustomToolOutput("call_2", nil)(req), "the input has no custom_tool_call_output for call_2")
	require.EqualError(t, modelapi.HasFunctionOutput("call_1", nil)(req), "the input has no function_call_output for call_1",
		"a custom tool's output is not a function's")
}
