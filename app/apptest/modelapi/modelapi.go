// Package modelapi is a scripted stand-in for OpenAI's Responses API, for
// tests that run a real agent CLI: it serves https on all interfaces (a
// containerised agent reaches it through a proxy, at the host's address on
// a Docker network) with a certificate of its own throwaway CA, answers
// each POST /v1/responses with the next turn of its script as a stream of
// server-sent events, and records every request.
package modelapi

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/testenv/testtls"
)

// MaxBody bounds a request's body; larger requests fail the test.
const MaxBody = 8 << 20

// Request is what the server saw of one request.
type Request struct {
	Time          time.Time
	Method, Path  string
	Authorization string
	// Body is the decoded JSON body of a POST to /v1/responses.
	Body map[string]any
}

// Turn is one scripted answer to POST /v1/responses.
type Turn struct {
	// Check inspects the request; an error fails the test and is answered
	// with 400, which agents do not retry. Nil accepts any request.
	Check func(Request) error
	// Output is the response's items, each sent as response.output_item.done.
	Output []map[string]any
}

// Server is a running scripted Responses API.
type Server struct {
	t      testing.TB
	srv    *http.Server
	port   int
	host   netip.Addr
	caPEM  []byte
	script []Turn

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup
	next     int
	requests []Request
}

// Start serves script on 0.0.0.0 at a free port, with a certificate for
// host (the address the agent dials) signed by a fresh CA (CA returns it).
// The server stops when the test ends, after the requests in flight.
func Start(t testing.TB, host netip.Addr, script ...Turn) *Server {
	t.Helper()
	if !host.IsValid() {
		t.Fatal("modelapi: no host address")
	}
	caPEM, cert, err := testtls.Issue(nil, []net.IP{host.AsSlice()})
	if err != nil {
		t.Fatalf("modelapi: %v", err)
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatalf("modelapi: %v", err)
	}
	s := &Server{t: t, host: host, caPEM: caPEM, script: script, port: ln.Addr().(*net.TCPAddr).Port}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	t.Cleanup(s.close)
	return s
}

// close stops the server and waits for the handlers, so none reports to a
// finished test.
func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.srv.Close()
	s.inFlight.Wait()
}

// URL is the API's base URL: https://host:port/v1.
func (s *Server) URL() string {
	return "https://" + net.JoinHostPort(s.host.String(), strconv.Itoa(s.port)) + "/v1"
}

// HostPort is host:port, as an egress allowlist names it.
func (s *Server) HostPort() string { return net.JoinHostPort(s.host.String(), strconv.Itoa(s.port)) }

// CA is the PEM certificate of the CA that signed the server's certificate.
func (s *Server) CA() []byte { return s.caPEM }

// Requests returns every request so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// FirstModelRequest is the time of the first POST /v1/responses.
func (s *Server) FirstModelRequest() (time.Time, bool) {
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/responses" {
			return r.Time, true
		}
	}
	return time.Time{}, false
}

// Done reports whether every turn of the script was answered.
func (s *Server) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next == len(s.script)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.inFlight.Add(1)
	s.mu.Unlock()
	defer s.inFlight.Done()

	req := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization")}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/responses" {
		s.record(req)
		http.NotFound(w, r)
		return
	}
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody)).Decode(&req.Body)
	s.record(req)
	if err != nil {
		s.fail(w, fmt.Errorf("request body: %w", err))
		return
	}
	s.mu.Lock()
	n := s.next
	if n < len(s.script) {
		s.next++
	}
	s.mu.Unlock()
	if n >= len(s.script) {
		s.fail(w, fmt.Errorf("request %d, but the script has %d turns", n+1, len(s.script)))
		return
	}
	turn := s.script[n]
	if turn.Check != nil {
		if err := turn.Check(req); err != nil {
			s.fail(w, fmt.Errorf("turn %d: %w", n+1, err))
			return
		}
	}
	s.stream(w, r, n, turn.Output)
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
}

// fail reports err to the test and answers 400 in the API's error shape.
func (s *Server) fail(w http.ResponseWriter, err error) {
	s.t.Errorf("modelapi: %v", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": "modelapi: " + err.Error(), "type": "invalid_request_error", "code": "scripted_failure",
	}})
}

// stream writes one response: created, an output_item.done per item,
// completed with token usage.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, n int, output []map[string]any) {
	id := fmt.Sprintf("resp_%d", n+1)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	event := func(typ string, fields map[string]any) error {
		fields["type"] = typ
		b, err := json.Marshal(fields)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	err := event("response.created", map[string]any{"response": map[string]any{"id": id}})
	for i := 0; err == nil && i < len(output); i++ {
		err = event("response.output_item.done", map[string]any{"output_index": i, "item": output[i]})
	}
	if err == nil {
		err = event("response.completed", map[string]any{"response": map[string]any{"id": id, "usage": map[string]any{
			"input_tokens": 10, "input_tokens_details": nil, "output_tokens": 5, "output_tokens_details": nil, "total_tokens": 15,
		}}})
	}
	if err != nil && r.Context().Err() == nil {
		s.t.Errorf("modelapi: writing response %s: %v", id, err)
	}
}

// FunctionCall is an output item that calls the tool name with args (JSON
// encoded, as the API sends arguments).
func FunctionCall(callID, name string, args any) map[string]any {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return map[string]any{"type": "function_call", "id": "fc_" + callID, "call_id": callID, "name": name, "arguments": string(b)}
}

// Message is an output item: the assistant's final text.
func Message(text string) map[string]any {
	return map[string]any{"type": "message", "role": "assistant", "id": "msg_1",
		"content": []map[string]any{{"type": "output_text", "text": text, "annotations": []any{}}}}
}

// CustomToolCall is an output item that calls the custom (freeform) tool
// name with input as it is: the default model's "code mode" calls its exec
// tool so, with JavaScript for input.
func CustomToolCall(callID, name, input string) map[string]any {
	return map[string]any{"type": "custom_tool_call", "id": "ctc_" + callID, "call_id": callID, "name": name, "input": input}
}

// OffersFunction checks that the request offers the function tool name,
// among its top-level tools or in a namespace of an additional_tools item
// of its input (see offers).
func OffersFunction(name string) func(Request) error {
	return func(r Request) error { return offers(r, "function", name) }
}

// OffersCustomTool checks that the request offers the custom (freeform)
// tool name, as OffersFunction does a function.
func OffersCustomTool(name string) func(Request) error {
	return func(r Request) error { return offers(r, "custom", name) }
}

// offers looks for a tool of type typ called name where Codex offers tools:
// in the request's top-level tools, and, in "code mode", in the namespaces
// of the input's additional_tools items ({"type": "namespace", "name":
// "functions", "tools": [...]}), which there are the only tools.
func offers(r Request, typ, name string) error {
	var offered []string
	var look func(tools []any, namespace string) bool
	look = func(tools []any, namespace string) bool {
		for _, tool := range tools {
			m, _ := tool.(map[string]any)
			n, _ := m["name"].(string)
			if m["type"] == "namespace" {
				nested, _ := m["tools"].([]any)
				if look(nested, n+".") {
					return true
				}
				continue
			}
			if m["type"] == typ && n == name {
				return true
			}
			offered = append(offered, fmt.Sprintf("%v %s%s", m["type"], namespace, n))
		}
		return false
	}
	top, _ := r.Body["tools"].([]any)
	if look(top, "") {
		return nil
	}
	input, _ := r.Body["input"].([]any)
	for _, item := range input {
		m, _ := item.(map[string]any)
		if m["type"] != "additional_tools" {
			continue
		}
		tools, _ := m["tools"].([]any)
		if look(tools, "") {
			return nil
		}
	}
	kind := map[string]string{"function": "function", "custom": "custom tool"}[typ]
	return fmt.Errorf("the request does not offer the %s %q (model %v; tools: %v)", kind, name, r.Body["model"], offered)
}

// HasFunctionOutput checks that the request's input carries the output of
// the call callID, and returns it through out when out is not nil.
func HasFunctionOutput(callID string, out *string) func(Request) error {
	return hasOutput("function_call_output", callID, out)
}

// HasCustomToolOutput checks that the request's input carries the output
// of the custom tool call callID, and returns its text through out when out
// is not nil: a custom_tool_call_output's output is a string or a list of
// content items, whose texts are joined.
func HasCustomToolOutput(callID string, out *string) func(Request) error {
	return hasOutput("custom_tool_call_output", callID, out)
}

func hasOutput(typ, callID string, out *string) func(Request) error {
	return func(r Request) error {
		input, _ := r.Body["input"].([]any)
		for _, item := range input {
			m, _ := item.(map[string]any)
			if m["type"] != typ || m["call_id"] != callID {
				continue
			}
			if out == nil {
				return nil
			}
			parts, ok := m["output"].([]any)
			if !ok {
				*out = fmt.Sprint(m["output"])
				return nil
			}
			var text strings.Builder
			for _, p := range parts {
				c, _ := p.(map[string]any)
				if s, ok := c["text"].(string); ok {
					text.WriteString(s)
				}
			}
			*out = text.String()
			return nil
		}
		return fmt.Errorf("the input has no %s for %s", typ, callID)
	}
}
