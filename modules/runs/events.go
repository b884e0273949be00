package runs

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A run's event timeline is derived from its log, never stored apart: an
// event is a line of the log that is a JSON object with a string "type",
// which is what `codex exec --json` prints on stdout, one per line,
// between the other lines of the log (stderr, Slipway's own lines). The
// log is already the run's durable, bounded and secret-masked record, so
// the timeline is too, and a client that reads it reads exactly what the
// log says.

// maxEventLine bounds the bytes of one event's line (its LF excluded) that
// the timeline reads through. It is far beyond Codex's longest lines (a
// command's output, which Codex caps at about 1 MiB, JSON-escaped), and
// bounds the time a page spends: a page reads on to the end of the event
// line it is in. A line is read as it streams past and only its reduced
// form is held (see lineReducer), so a reader holds at most
// maxEventReduced bytes of a line, whatever its length. A line that
// starts like an event (a JSON object) but reaches maxEventLine, or whose
// reduced form is still over maxEventReduced, is no event: the timeline
// says so with an "oversized" entry, and the log still has it.
const maxEventLine = 16 << 20

// maxEventOutput bounds the output of a command in an event: its last
// bytes are kept, where a failure usually shows.
const maxEventOutput = 16 << 10

// Kinds of timeline entries (RunEvent.Type): the agent's events,
// normalised so that a client renders them without knowing the agent.
const (
	kindThread       = "thread"
	kindTurn         = "turn"
	kindAgentMessage = "agent_message"
	kindReasoning    = "reasoning"
	kindCommand      = "command"
	kindFileChange   = "file_change"
	kindTodoList     = "todo_list"
	kindToolCall     = "tool_call"
	kindWebSearch    = "web_search"
	kindError        = "error"
	kindRaw          = "raw"
	kindOversized    = "oversized"
)

// RunEvent is one entry of a run's timeline: one event line of its log.
// Type says which of the optional fields it carries.
type RunEvent struct {
	Type     string          `json:"type" enum:"thread,turn,agent_message,reasoning,command,file_change,todo_list,tool_call,web_search,error,raw,oversized" doc:"thread: thread_id; turn: phase started, completed (with usage) or failed (with error); agent_message, reasoning: text; command: command; file_change: file_change; todo_list: todo_list; tool_call: tool_call; web_search: web_search; error: error; raw: an event this server does not know (a newer agent), as the agent printed it; oversized: a line that starts like an event (a JSON object) but is 16 MiB or longer, or still over 256 KiB with its strings cut (see truncated), left out (the log has it)"`
	Offset   int64           `json:"offset" doc:"byte offset of the event's line in the run's log: unique in the run, and the timeline's order"`
	Cursor   string          `json:"cursor" doc:"where the timeline continues after this event: pass it as cursor, or as Last-Event-ID"`
	ItemID   string          `json:"item_id,omitempty" doc:"the agent's id of an item (agent_message, reasoning, command, file_change, todo_list, tool_call, web_search, error): an item that changes has one entry per state, in order, and the last one is its state"`
	Phase    string          `json:"phase,omitempty" enum:"started,updated,completed,failed" doc:"the state of an item or a turn this entry reports"`
	ThreadID string          `json:"thread_id,omitempty" doc:"thread: the agent's session id"`
	Text     *string         `json:"text,omitempty" doc:"agent_message, reasoning: the text"`
	Command  *EventCommand   `json:"command,omitempty"`
	Files    *EventFiles     `json:"file_change,omitempty"`
	Todos    *EventTodos     `json:"todo_list,omitempty"`
	ToolCall *EventToolCall  `json:"tool_call,omitempty"`
	Search   *EventWebSearch `json:"web_search,omitempty"`
	Usage    *EventUsage     `json:"usage,omitempty" doc:"turn completed: the tokens it used"`
	Error    *EventErrorInfo `json:"error,omitempty" doc:"error, turn failed: what went wrong"`
	Raw      json.RawMessage `json:"raw,omitempty" doc:"raw: the event as the agent printed it (secrets masked, as in the log)"`
	// Truncated reports that the line had strings over maxEventString.
	Truncated bool `json:"truncated,omitempty" doc:"a string of the event's line was longer than 32 KiB and keeps only its last 32 KiB (a command's output also says so with output_truncated)"`
}

// EventCommand is a command the agent ran.
type EventCommand struct {
	Command         string `json:"command"`
	Status          string `json:"status" doc:"in_progress, completed, failed or declined (the agent's words: others may come)"`
	ExitCode        *int   `json:"exit_code" doc:"null while it runs"`
	Output          string `json:"output" doc:"its output so far: the last 16 KiB"`
	OutputTruncated bool   `json:"output_truncated" doc:"the output was longer: its start is left out"`
}

// EventFiles is a set of files the agent changed.
type EventFiles struct {
	Status  string            `json:"status" doc:"in_progress, completed or failed"`
	Changes []EventFileChange `json:"changes"`
}

// EventFileChange is one changed file.
type EventFileChange struct {
	Path string `json:"path"`
	Kind string `json:"kind" doc:"add, delete or update"`
}

// EventTodos is the agent's to-do list.
type EventTodos struct {
	Items []EventTodo `json:"items"`
}

// EventTodo is one step of the to-do list.
type EventTodo struct {
	Text      string `json:"text"`
	Completed bool   `json:"completed"`
}

// EventToolCall is a call of a tool of an MCP server.
type EventToolCall struct {
	Server string  `json:"server"`
	Tool   string  `json:"tool"`
	Status string  `json:"status" doc:"in_progress, completed or failed"`
	Error  *string `json:"error" doc:"why it failed; null otherwise"`
}

// EventWebSearch is a web search.
type EventWebSearch struct {
	Query string `json:"query"`
}

// EventUsage counts the tokens of a turn.
type EventUsage struct {
	InputTokens           int64  `json:"input_tokens"`
	CachedInputTokens     int64  `json:"cached_input_tokens"`
	OutputTokens          int64  `json:"output_tokens"`
	ReasoningOutputTokens *int64 `json:"reasoning_output_tokens,omitempty" doc:"when the agent reports it"`
}

// EventErrorInfo is an error the agent reported.
type EventErrorInfo struct {
	Message string `json:"message"`
}

// parseEvent reads one log line (its LF excluded) as an event. ok is
// false for a line that is not a JSON object with a string "type". A known
// event whose shape this server does not expect is kept raw, as is an
// unknown one, so a newer agent degrades to raw entries, never to gaps.
func parseEvent(line []byte) (ev RunEvent, ok bool) {
	line = bytes.TrimSpace(line) // a CR before the LF, too
	if len(line) == 0 || line[0] != '{' {
		return RunEvent{}, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) != nil {
		return RunEvent{}, false
	}
	var typ string
	if raw, found := fields["type"]; !found || json.Unmarshal(raw, &typ) != nil {
		return RunEvent{}, false
	}
	if normalise(typ, fields, &ev) {
		return ev, true
	}
	return RunEvent{Type: kindRaw, Raw: bytes.Clone(line)}, true
}

// normalise fills ev from a known event; false for an unknown event or
// one not shaped as expected.
func normalise(typ string, fields map[string]json.RawMessage, ev *RunEvent) bool {
	switch typ {
	case "thread.started":
		ev.Type, ev.Phase = kindThread, "started"
		return decode(fields["thread_id"], &ev.ThreadID)
	case "turn.started":
		ev.Type, ev.Phase = kindTurn, "started"
		return true
	case "turn.completed":
		var u struct {
			InputTokens           *int64 `json:"input_tokens"`
			CachedInputTokens     *int64 `json:"cached_input_tokens"`
			OutputTokens          *int64 `json:"output_tokens"`
			ReasoningOutputTokens *int64 `json:"reasoning_output_tokens"`
		}
		if !decode(fields["usage"], &u) || u.InputTokens == nil || u.OutputTokens == nil {
			return false
		}
		ev.Type, ev.Phase = kindTurn, "completed"
		ev.Usage = &EventUsage{InputTokens: *u.InputTokens, CachedInputTokens: orZero(u.CachedInputTokens),
			OutputTokens: *u.OutputTokens, ReasoningOutputTokens: u.ReasoningOutputTokens}
		return true
	case "turn.failed":
		ev.Type, ev.Phase = kindTurn, "failed"
		var e struct {
			Message *string `json:"message"`
		}
		if !decode(fields["error"], &e) || e.Message == nil {
			return false
		}
		ev.Error = &EventErrorInfo{Message: *e.Message}
		return true
	case "error":
		ev.Type = kindError
		var msg string
		if !decode(fields["message"], &msg) {
			return false
		}
		ev.Error = &EventErrorInfo{Message: msg}
		return true
	case "item.started", "item.updated", "item.completed":
		ev.Phase = strings.TrimPrefix(typ, "item.")
		return normaliseItem(fields["item"], ev)
	}
	return false
}

// codexItem is the union of the item shapes normaliseItem reads; fields
// that an item type lacks stay nil.
type codexItem struct {
	ID               *string `json:"id"`
	Type             *string `json:"type"`
	Text             *string `json:"text"`
	Message          *string `json:"message"`
	Command          *string `json:"command"`
	AggregatedOutput *string `json:"aggregated_output"`
	ExitCode         *int    `json:"exit_code"`
	Status           *string `json:"status"`
	Query            *string `json:"query"`
	Server           *string `json:"server"`
	Tool             *string `json:"tool"`
	// Fields whose shape differs between item types are read per type.
	Changes json.RawMessage `json:"changes"`
	Items   json.RawMessage `json:"items"`
	Error   json.RawMessage `json:"error"`
}

// normaliseItem fills ev from an item.* event's item.
func normaliseItem(raw json.RawMessage, ev *RunEvent) bool {
	var it codexItem
	if !decode(raw, &it) || it.ID == nil || it.Type == nil {
		return false
	}
	ev.ItemID = *it.ID
	switch *it.Type {
	case "agent_message", "reasoning":
		if it.Text == nil {
			return false
		}
		ev.Type, ev.Text = kindAgentMessage, it.Text
		if *it.Type == "reasoning" {
			ev.Type = kindReasoning
		}
		return true
	case "command_execution":
		if it.Command == nil || it.Status == nil {
			return false
		}
		out, cut := tail(orZero(it.AggregatedOutput), maxEventOutput)
		ev.Type = kindCommand
		ev.Command = &EventCommand{Command: *it.Command, Status: *it.Status, ExitCode: it.ExitCode,
			Output: out, OutputTruncated: cut}
		return true
	case "file_change":
		var changes []struct {
			Path *string `json:"path"`
			Kind *string `json:"kind"`
		}
		if it.Status == nil || !decode(it.Changes, &changes) {
			return false
		}
		files := &EventFiles{Status: *it.Status, Changes: make([]EventFileChange, 0, len(changes))}
		for _, c := range changes {
			if c.Path == nil || c.Kind == nil {
				return false
			}
			files.Changes = append(files.Changes, EventFileChange{Path: *c.Path, Kind: *c.Kind})
		}
		ev.Type, ev.Files = kindFileChange, files
		return true
	case "todo_list":
		var items []struct {
			Text      *string `json:"text"`
			Completed *bool   `json:"completed"`
		}
		if !decode(it.Items, &items) {
			return false
		}
		todos := &EventTodos{Items: make([]EventTodo, 0, len(items))}
		for _, i := range items {
			if i.Text == nil {
				return false
			}
			todos.Items = append(todos.Items, EventTodo{Text: *i.Text, Completed: orZero(i.Completed)})
		}
		ev.Type, ev.Todos = kindTodoList, todos
		return true
	case "mcp_tool_call":
		if it.Server == nil || it.Tool == nil || it.Status == nil {
			return false
		}
		call := &EventToolCall{Server: *it.Server, Tool: *it.Tool, Status: *it.Status}
		if len(it.Error) > 0 && string(it.Error) != "null" {
			var e struct {
				Message *string `json:"message"`
			}
			if !decode(it.Error, &e) || e.Message == nil {
				return false
			}
			call.Error = e.Message
		}
		ev.Type, ev.ToolCall = kindToolCall, call
		return true
	case "web_search":
		if it.Query == nil {
			return false
		}
		ev.Type, ev.Search = kindWebSearch, &EventWebSearch{Query: *it.Query}
		return true
	case "error":
		if it.Message == nil {
			return false
		}
		ev.Type, ev.Error = kindError, &EventErrorInfo{Message: *it.Message}
		return true
	}
	return false
}

// decode unmarshals a field that must be present.
func decode(raw json.RawMessage, v any) bool {
	return len(raw) > 0 && string(raw) != "null" && json.Unmarshal(raw, v) == nil
}

// orZero is *p, or T's zero value for nil.
func orZero[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// tail returns the last max bytes of s at most, starting on a rune, and
// whether it cut any.
func tail(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	cut := len(s) - max
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return s[cut:], true
}

// eventScanner finds the events of a log read in pieces, in order, with
// their offsets. It holds the reduced form of an unfinished line, at most
// maxEventReduced bytes, whatever the log.
type eventScanner struct {
	offset int64 // the log offset after the bytes fed so far
	start  int64 // the offset of the line being read
	line   lineReducer
	skip   bool // discarding up to the next LF: a line that is no event, or a start inside a line
}

// newEventScanner scans a log from byte offset from; mid says that from
// is inside a line (the byte before it is not an LF), whose rest is not
// an event and is skipped.
func newEventScanner(from int64, mid bool) *eventScanner {
	return &eventScanner{offset: from, start: from, skip: mid,
		line: lineReducer{maxString: maxEventString, maxSize: maxEventReduced}}
}

// feed scans the log bytes p, which follow those fed before. emit gets
// each event; when it returns false, feed stops at once and returns false
// (the scanner is then done with).
func (s *eventScanner) feed(p []byte, emit func(RunEvent) bool) bool {
	for len(p) > 0 {
		lf := bytes.IndexByte(p, '\n')
		if s.skip {
			if lf < 0 {
				s.offset += int64(len(p))
				return true
			}
			s.offset += int64(lf + 1)
			p, s.skip, s.start = p[lf+1:], false, s.offset
			continue
		}
		n := len(p) // the line's bytes in p
		if lf >= 0 {
			n = lf
		}
		room := maxEventLine - (s.offset - s.start) // the line is too long at maxEventLine
		long := int64(n) >= room
		if long {
			n = int(room)
		}
		res := s.line.write(p[:n])
		s.offset += int64(n)
		p = p[n:]
		if long && res == reduceOK && s.line.started() {
			res = reduceTooLarge
		}
		if res != reduceOK || long {
			// No event: skip the rest of the line, after saying so if it
			// looks like one. The entry's cursor is inside the line, which
			// a page or stream resumed there skips.
			big := res == reduceTooLarge
			s.skip = true
			s.line.reset()
			if big && !emit(RunEvent{Type: kindOversized, Offset: s.start, Cursor: cursorAt(s.start + 1)}) {
				return false
			}
			continue
		}
		if lf < 0 {
			return true
		}
		s.offset++
		p = p[1:]
		start := s.start
		s.start = s.offset
		if !s.event(start, emit) {
			return false
		}
	}
	return true
}

// event emits the event of the line read from offset start, if it is
// one, and readies the scanner for the next line; false when emit is.
func (s *eventScanner) event(start int64, emit func(RunEvent) bool) bool {
	doc, ok := s.line.finish()
	var ev RunEvent
	if ok {
		ev, ok = parseEvent(doc)
		ev.Truncated = s.line.cut
	}
	s.line.reset()
	if !ok {
		return true
	}
	ev.Offset, ev.Cursor = start, cursorAt(s.offset)
	return emit(ev)
}

// finish ends the scan at the end of a finished log: an unfinished last
// line is whole.
func (s *eventScanner) finish(emit func(RunEvent) bool) {
	if s.skip || s.offset == s.start {
		return
	}
	start := s.start
	s.start = s.offset
	s.event(start, emit)
}

// inLine reports whether the scanner is inside a line that may still be
// an event.
func (s *eventScanner) inLine() bool { return !s.skip && s.offset > s.start }

// resume is the offset a later scan continues from: the start of the
// unfinished line, or, while skipping, the bytes fed so far (a start
// inside a line, which that scan skips again).
func (s *eventScanner) resume() int64 {
	if s.skip {
		return s.offset
	}
	return s.start
}

// cursorAt is the wire form of a position in the timeline: a log offset.
func cursorAt(off int64) string { return strconv.FormatInt(off, 10) }

// parseCursor reads a cursor; ok is false for anything cursorAt cannot
// have made.
func parseCursor(s string) (off int64, ok bool) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	off, err := strconv.ParseInt(s, 10, 64)
	return off, err == nil
}
