package egress

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Events the proxy writes, one JSON object per line on its standard output.
const (
	// EventListening is the first line: the proxy accepts connections.
	EventListening = "listening"
	// EventConnection is one connection the proxy decided on.
	EventConnection = "connection"
	// EventSummary is the last line, written when the proxy stops.
	EventSummary = "summary"
)

// Outcomes of a connection.
const (
	Allowed = "allowed" // admitted and connected; the line comes when it closes
	Refused = "refused" // refused by the policy or a bound, answered 403
	Failed  = "failed"  // admitted, but the destination could not be reached (502)
)

// Decision is one line of the proxy's output. It never holds a URL path,
// a query string or a header: a CONNECT request has none, and plain HTTP
// requests, which the proxy refuses, are recorded by host and port only.
type Decision struct {
	Event   string `json:"event"`
	Outcome string `json:"outcome,omitempty"`
	// Host and Port are the destination asked for. A request target that is
	// not host:port is recorded quoted and cut short.
	Host string `json:"host,omitempty"`
	Port uint16 `json:"port,omitempty"`
	// Reason says why a connection was refused, failed or ended early.
	Reason string `json:"reason,omitempty"`
	// Addr is the address the proxy connected to.
	Addr string `json:"addr,omitempty"`
	// Out and In count the bytes from the agent to the destination and back.
	Out int64 `json:"out,omitempty"`
	In  int64 `json:"in,omitempty"`
	// Millis is how long the connection lasted.
	Millis int64 `json:"ms,omitempty"`
	// Listen is the address of a listening event.
	Listen string `json:"listen,omitempty"`
	// Unlogged counts, in the summary, the refusals past the connection
	// limit that got no line of their own.
	Unlogged int64 `json:"unlogged,omitempty"`
}

// LogPrefix starts every line the run's log gets from the egress proxy.
const LogPrefix = "[slipway egress] "

// LogLine is the decision as a line for the run's log, without the newline:
//
//	[slipway egress] allowed api.openai.com:443 (1234 B out, 5678 B in, 2.1s)
//	[slipway egress] refused example.com:443: not in the allowlist
func (d Decision) LogLine() string {
	switch d.Event {
	case EventConnection:
	case EventSummary:
		if d.Unlogged == 0 {
			return ""
		}
		return fmt.Sprintf("%s%d more connections refused past the connection limit, without a line each", LogPrefix, d.Unlogged)
	default:
		return ""
	}
	dest := d.Host
	if d.Port != 0 {
		dest = d.Host + ":" + strconv.Itoa(int(d.Port))
	}
	if d.Outcome == Allowed {
		line := fmt.Sprintf("%sallowed %s (%d B out, %d B in, %.1fs)", LogPrefix, dest, d.Out, d.In,
			float64(d.Millis)/1000)
		if d.Reason != "" {
			line += ": " + d.Reason
		}
		return line
	}
	return fmt.Sprintf("%s%s %s: %s", LogPrefix, d.Outcome, dest, d.Reason)
}

// maxShownTarget bounds how much of a malformed request target a line shows.
const maxShownTarget = 64

// shownTarget is a request target that did not parse, as a line may show
// it: quoted (no control characters reach a log) and cut short.
func shownTarget(s string) string {
	if len(s) > maxShownTarget {
		s = s[:maxShownTarget]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
		return strconv.Quote(s) + "…"
	}
	return strconv.Quote(s)
}
