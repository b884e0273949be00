package runs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// HeaderIdempotencyKey names the header that makes run creation retry-safe.
const HeaderIdempotencyKey = "Idempotency-Key"

// RunResponse is the wire form of a run; unknown values are null.
type RunResponse struct {
	ID             string     `json:"id" doc:"Run id (run_…)"`
	ProjectID      string     `json:"project_id"`
	RepositoryID   string     `json:"repository_id"`
	Status         Status     `json:"status" enum:"queued,preparing,running,succeeded,failed,canceled,timed_out,interrupted"`
	Prompt         string     `json:"prompt"`
	Branch         *string    `json:"branch" doc:"null: the repository's default branch, until the clone names it"`
	TimeoutSeconds int        `json:"timeout_seconds"`
	ExitCode       *int       `json:"exit_code"`
	Error          *string    `json:"error"`
	Warnings       []string   `json:"warnings" doc:"Things to know about a finished run, such as \"the patch contains the value of secret NAME\"; empty for most runs"`
	CreatedAt      time.Time  `json:"created_at"`
	StartedAt      *time.Time `json:"started_at"`
	FinishedAt     *time.Time `json:"finished_at"`
	LogTruncated   bool       `json:"log_truncated" doc:"the agent's output reached the log's cap (runs.max_log_bytes): the log ends with a marker line, the rest was discarded"`
}

func response(r *Run) RunResponse {
	return RunResponse{ID: r.ID, ProjectID: r.ProjectID, RepositoryID: r.RepositoryID, Status: r.Status,
		Prompt: r.Prompt, Branch: nullable(r.Branch), TimeoutSeconds: r.TimeoutSeconds, ExitCode: r.ExitCode,
		Error: nullable(r.Error), Warnings: nonNil(r.Warnings), CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		LogTruncated: r.LogTruncated}
}

// CreateRunRequest is the body of POST /v1/repositories/{repository_id}/runs.
type CreateRunRequest struct {
	Prompt         string `json:"prompt" minLength:"1" maxLength:"65536" doc:"what the agent should do, in at most runs.max_prompt_bytes bytes of UTF-8 (64 KiB by default); reaches it as $SLIPWAY_PROMPT"`
	Branch         string `json:"branch,omitempty" maxLength:"255" doc:"branch to clone; default: the repository's default branch"`
	TimeoutSeconds *int   `json:"timeout_seconds,omitempty" minimum:"1" doc:"limit on the agent's run time; default and maximum from settings"`
}

// ListRunsQuery are the query parameters of GET /v1/runs.
type ListRunsQuery struct {
	httpserver.PageQuery
	ProjectID    string `query:"project_id" doc:"only runs of this project"`
	RepositoryID string `query:"repository_id" doc:"only runs of this repository"`
	Status       string `query:"status" enum:"queued,preparing,running,succeeded,failed,canceled,timed_out,interrupted"`
	All          bool   `query:"all" doc:"operator or root: every user's runs"`
}

// LogsQuery are the query parameters of GET /v1/runs/{run_id}/logs.
type LogsQuery struct {
	Follow bool `query:"follow" doc:"stream as server-sent events until the run ends: data: lines (one event per batch, its id the byte offset after it), event: partial for a piece of a line longer than 16 KiB (join it to the line the next event continues), keep-alive comments, then event: end"`
}

// EventsQuery are the query parameters of GET /v1/runs/{run_id}/events.
type EventsQuery struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"page size: events at most (a page also reads about 1 MiB of the log, and on to the end of an event line it is in, so it may hold fewer, even none, and still have a next page)"`
	Cursor string `query:"cursor" doc:"where to start: next_cursor of the previous page, or an event's cursor; with follow=true, where the stream starts (Last-Event-ID wins)"`
	Follow bool   `query:"follow" doc:"stream the events as server-sent events until the run ends: one event each (data: the event's JSON, id: its cursor), keep-alive comments, then event: end with the run's final status"`
}

// ContainerResponse is a managed container.
type ContainerResponse struct {
	ID         string    `json:"id"`
	RunID      string    `json:"run_id"`
	InstanceID string    `json:"instance_id"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
}

// ContainerList lists the managed containers.
type ContainerList struct {
	Items []ContainerResponse `json:"items"`
}

// CleanupResponse says how many containers the clean-up removed.
type CleanupResponse struct {
	Removed int `json:"removed"`
}

// Routes are the runs module's operations.
type Routes struct{ svc *Service }

// NewRoutes builds the routes.
func NewRoutes(svc *Service) *Routes { return &Routes{svc: svc} }

// Operations lists the routes.
func (r *Routes) Operations() []httpserver.Operation {
	tags := []string{"runs"}
	admin := []string{"admin"}
	return []httpserver.Operation{
		{Method: http.MethodPost, Path: "/repositories/:repository_id/runs", ID: "createRun", Tags: tags, Access: httpserver.User,
			Summary: "Queue an agent run on a repository", Request: CreateRunRequest{},
			Headers: []httpserver.Header{{Name: HeaderIdempotencyKey,
				Description: "up to 255 printable characters; a retry with the same key and body returns the same run, another body is a 409"}},
			Responses: []httpserver.Response{
				{Status: 202, Body: RunResponse{}, Description: "queued"},
				{Status: 200, Body: RunResponse{}, Description: "the run this Idempotency-Key made earlier"}},
			Errors: []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeForbidden, derrors.CodeConflict, derrors.CodeQuotaExceeded}, Handler: r.create},
		{Method: http.MethodGet, Path: "/runs", ID: "listRuns", Tags: tags, Access: httpserver.User,
			Summary: "List the caller's runs (all=true: every run, operator)", Query: ListRunsQuery{},
			Responses: []httpserver.Response{{Status: 200, Body: httpserver.Page[RunResponse]{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeForbidden}, Handler: r.list},
		{Method: http.MethodGet, Path: "/runs/:run_id", ID: "getRun", Tags: tags, Access: httpserver.User,
			Summary:   "Get a run",
			Responses: []httpserver.Response{{Status: 200, Body: RunResponse{}}},
			Errors:    []derrors.Code{derrors.CodeNotFound}, Handler: r.get},
		{Method: http.MethodPost, Path: "/runs/:run_id/cancel", ID: "cancelRun", Tags: tags, Access: httpserver.User,
			Summary:   "Cancel a run: a queued one at once, an active one by stopping its container",
			Responses: []httpserver.Response{{Status: 202, Body: RunResponse{}}},
			Errors:    []derrors.Code{derrors.CodeNotFound, derrors.CodeForbidden, derrors.CodeRunFinished}, Handler: r.cancel},
		{Method: http.MethodGet, Path: "/runs/:run_id/logs", ID: "getRunLogs", Tags: tags, Access: httpserver.User,
			Summary: "The run's log so far, whole or a byte range of it, or (follow=true) a server-sent event stream until it ends", Query: LogsQuery{},
			Headers: []httpserver.Header{
				{Name: "Range", Description: "without follow: one byte range, bytes=first-last, bytes=first- or bytes=-suffix; other forms are ignored (200, the whole log). The log only grows, so bytes once served never change"},
				{Name: "Last-Event-ID", Description: "with follow=true: resume after this event id (a byte offset)"}},
			Responses: []httpserver.Response{
				{Status: 200, ContentType: "text/plain", Description: "the log so far; Accept-Ranges: bytes",
					Headers: []httpserver.Header{{Name: "Accept-Ranges", Description: "bytes"}}},
				{Status: 200, ContentType: "text/event-stream", Description: "follow=true: data: lines, partial events, keep-alive comments, then event: end with the final status"},
				{Status: 206, ContentType: "text/plain", Description: "the byte range asked for, cut at the log's end",
					Headers: []httpserver.Header{{Name: "Content-Range", Description: "bytes first-last/size"}, {Name: "Accept-Ranges", Description: "bytes"}}}},
			Errors: []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeRangeNotSatisfiable, derrors.CodeRateLimited}, Handler: r.logs},
		{Method: http.MethodGet, Path: "/runs/:run_id/events", ID: "getRunEvents", Tags: tags, Access: httpserver.User,
			Summary: "The agent's event timeline (messages, commands, changed files, token usage), a page at a time, or (follow=true) a server-sent event stream until the run ends",
			Query:   EventsQuery{},
			Headers: []httpserver.Header{
				{Name: "Last-Event-ID", Description: "with follow=true: resume after the event with this id (its cursor)"}},
			Responses: []httpserver.Response{
				{Status: 200, Body: httpserver.Page[RunEvent]{}, Description: "a page of events, oldest first; next_cursor is null once the run has finished and the page reached the end of its log, and never null while it runs (its events so far end there)"},
				{Status: 200, ContentType: "text/event-stream", Description: "follow=true: one event per timeline entry (data: a RunEvent as JSON, id: its cursor), keep-alive comments, then event: end with the final status"}},
			Errors: []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeRateLimited}, Handler: r.events},
		{Method: http.MethodGet, Path: "/runs/:run_id/patch", ID: "getRunPatch", Tags: tags, Access: httpserver.User,
			Summary:   "The agent's changes as a git diff, once the run has finished",
			Responses: []httpserver.Response{{Status: 200, ContentType: "text/x-diff", Description: "the patch; empty when nothing changed"}},
			Errors:    []derrors.Code{derrors.CodeNotFound}, Handler: r.patch},
		{Method: http.MethodGet, Path: "/admin/containers", ID: "listContainers", Tags: admin, Access: httpserver.Operator,
			Summary:   "Managed agent containers on this instance's Docker host",
			Responses: []httpserver.Response{{Status: 200, Body: ContainerList{}}},
			Handler:   r.containers},
		{Method: http.MethodPost, Path: "/admin/containers/cleanup", ID: "cleanupContainers", Tags: admin, Access: httpserver.Operator,
			Summary:   "Remove managed containers that belong to no active run",
			Responses: []httpserver.Response{{Status: 200, Body: CleanupResponse{}}},
			Handler:   r.cleanup},
	}
}

func (r *Routes) create(c *fiber.Ctx) error {
	var req CreateRunRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	run, replayed, err := r.svc.Create(c.UserContext(), httpserver.Caller(c), CreateInput{
		RepositoryID: c.Params("repository_id"), Prompt: req.Prompt, Branch: req.Branch,
		TimeoutSeconds: req.TimeoutSeconds, IdempotencyKey: c.Get(HeaderIdempotencyKey),
	})
	if err != nil {
		return err
	}
	if replayed {
		c.Set("Idempotent-Replayed", "true")
		return c.Status(http.StatusOK).JSON(response(run))
	}
	return c.Status(http.StatusAccepted).JSON(response(run))
}

func (r *Routes) list(c *fiber.Ctx) error {
	req, err := httpserver.ParsePage(c)
	if err != nil {
		return err
	}
	all, err := httpserver.ParseBool(c, "all")
	if err != nil {
		return err
	}
	res, err := r.svc.List(c.UserContext(), httpserver.Caller(c), ListInput{All: all, ProjectID: c.Query("project_id"),
		RepositoryID: c.Query("repository_id"), Status: c.Query("status"), Page: req})
	if err != nil {
		return err
	}
	return c.JSON(httpserver.NewPage(res, response))
}

func (r *Routes) get(c *fiber.Ctx) error {
	run, err := r.svc.Get(c.UserContext(), httpserver.Caller(c), c.Params("run_id"))
	if err != nil {
		return err
	}
	return c.JSON(response(run))
}

func (r *Routes) cancel(c *fiber.Ctx) error {
	run, err := r.svc.Cancel(c.UserContext(), httpserver.Caller(c), c.Params("run_id"))
	if err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(response(run))
}

func (r *Routes) logs(c *fiber.Ctx) error {
	follow, err := httpserver.ParseBool(c, "follow")
	if err != nil {
		return err
	}
	if follow {
		return r.follow(c)
	}
	id := c.Params("run_id")
	size, err := r.svc.LogSize(c.UserContext(), httpserver.Caller(c), id)
	if err != nil {
		return err
	}
	off, n, partial, err := parseRange(c.Get(fiber.HeaderRange), size)
	if err != nil {
		return err
	}
	// The body is read as the client takes it, after the handler returns:
	// on the instance's lifetime, not the request's.
	rc, err := r.svc.OpenLog(r.svc.lifetime(), id, off, n)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	if partial {
		c.Status(http.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size))
	}
	// Each read of the body gives the client FollowWriteTimeout to take
	// what the one before sent; the connection closes after the body, so
	// the deadline never reaches another response.
	c.Response().Header.SetConnectionClose()
	c.Response().SetBodyStream(&paced{r: rc, conn: c.Context().Conn(), timeout: r.svc.tuning.FollowWriteTimeout}, int(n))
	return nil
}

// parseRange reads a Range header against a log of size bytes: the offset
// and length to send, and whether that is a part (206). A header that is not
// one byte range is ignored, as RFC 9110 allows; a byte range the log does
// not reach is 416.
func parseRange(h string, size int64) (off, n int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	num := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	unsatisfiable := derrors.RangeNotSatisfiable("log", size)
	switch {
	case first == "": // bytes=-suffix: the last suffix bytes
		k, ok := num(last)
		if !ok {
			return 0, size, false, nil
		}
		if k == 0 || size == 0 {
			return 0, 0, false, unsatisfiable
		}
		k = min(k, size)
		return size - k, k, true, nil
	default:
		a, ok := num(first)
		if !ok {
			return 0, size, false, nil
		}
		b := size - 1
		if last != "" {
			if b, ok = num(last); !ok || b < a {
				return 0, size, false, nil
			}
		}
		if a >= size {
			return 0, 0, false, unsatisfiable
		}
		b = min(b, size-1)
		return a, b - a + 1, true, nil
	}
}

// paced is a response body that moves the connection's write deadline on at
// each read, so that a client that stops reading is dropped after timeout
// instead of holding a worker and a store reader forever.
type paced struct {
	r       io.ReadCloser
	conn    net.Conn
	timeout time.Duration
}

func (p *paced) Read(b []byte) (int, error) {
	_ = p.conn.SetWriteDeadline(time.Now().Add(p.timeout))
	return p.r.Read(b)
}

func (p *paced) Close() error {
	_ = p.conn.SetWriteDeadline(time.Now().Add(p.timeout)) // the last flush
	return p.r.Close()
}

// follow streams the log as server-sent events.
func (r *Routes) follow(c *fiber.Ctx) error {
	id := c.Params("run_id")
	caller := httpserver.Caller(c)
	if _, err := r.svc.Get(c.UserContext(), caller, id); err != nil {
		return err
	}
	var from int64
	if raw := c.Get("Last-Event-ID"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return derrors.InvalidField("Last-Event-ID", "must be an event id this stream sent")
		}
		from = n
	}
	return r.stream(c, func(ctx context.Context, w *bufio.Writer) error { return r.svc.follow(ctx, id, from, w) })
}

func (r *Routes) events(c *fiber.Ctx) error {
	follow, err := httpserver.ParseBool(c, "follow")
	if err != nil {
		return err
	}
	limit, err := httpserver.ParseLimit(c)
	if err != nil {
		return err
	}
	id, caller := c.Params("run_id"), httpserver.Caller(c)
	if follow {
		field, cursor := "cursor", c.Query("cursor")
		if raw := c.Get("Last-Event-ID"); raw != "" {
			field, cursor = "Last-Event-ID", raw
		}
		from, mid, err := r.svc.EventsFrom(c.UserContext(), caller, id, field, cursor)
		if err != nil {
			return err
		}
		return r.stream(c, func(ctx context.Context, w *bufio.Writer) error {
			return r.svc.followEvents(ctx, id, from, mid, w)
		})
	}
	page, err := r.svc.Events(c.UserContext(), caller, id, EventsInput{Cursor: c.Query("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(httpserver.Page[RunEvent]{Items: page.Items, NextCursor: page.Next})
}

// stream answers with a server-sent event stream that run writes on the
// hijacked connection, once the caller has one of its streams free (429
// otherwise). run gets the instance's lifetime and must not touch c.
func (r *Routes) stream(c *fiber.Ctx, run func(ctx context.Context, w *bufio.Writer) error) error {
	slot, err := r.svc.acquireFollow(httpserver.Caller(c))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	// The stream is written on the hijacked connection, not through
	// SetBodyStreamWriter, so its lifetime is the run's and the server's
	// rather than a request's: a body stream holds a fasthttp worker and
	// the graceful shutdown for as long as it lasts. The headers set so far
	// (request id, CORS) are written here, framed by closing the connection.
	var hdr fasthttp.ResponseHeader
	c.Response().Header.CopyTo(&hdr)
	hdr.SetContentLength(-1)
	hdr.Del(fiber.HeaderTransferEncoding)
	hdr.SetConnectionClose()
	head := append([]byte(nil), hdr.Header()...)
	ctx := r.svc.lifetime()
	timeout := r.svc.tuning.FollowWriteTimeout
	// fasthttp skips the hijack when the connection fails first: the slot
	// must not stay taken then.
	var started sync.Mutex
	hijacked, abandoned := false, false
	abandon := time.AfterFunc(time.Minute, func() {
		started.Lock()
		defer started.Unlock()
		if !hijacked {
			abandoned = true
			slot()
		}
	})
	c.Context().HijackSetNoResponse(true)
	// The stream outlives the handler and must not touch c. It ends with
	// the run, when a write fails (the client left: at the latest at the
	// next keep-alive), when a write does not finish within the write
	// timeout (the client stopped reading), or when the server stops.
	c.Context().Hijack(func(conn net.Conn) {
		abandon.Stop()
		started.Lock()
		hijacked = true
		gone := abandoned
		started.Unlock()
		if gone {
			return
		}
		defer slot()
		w := bufio.NewWriterSize(&deadlineWriter{conn: conn, timeout: timeout}, followChunk)
		if _, err := w.Write(head); err != nil {
			return
		}
		_ = run(ctx, w)
	})
	return nil
}

// deadlineWriter gives each write to the connection timeout to finish.
type deadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.conn.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.conn.Write(p)
}

func (r *Routes) patch(c *fiber.Ctx) error {
	b, err := r.svc.Patch(c.UserContext(), httpserver.Caller(c), c.Params("run_id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/x-diff; charset=utf-8")
	return c.Send(b)
}

func (r *Routes) containers(c *fiber.Ctx) error {
	list, err := r.svc.Containers(c.UserContext())
	if err != nil {
		return err
	}
	out := ContainerList{Items: make([]ContainerResponse, 0, len(list))}
	for _, k := range list {
		out.Items = append(out.Items, ContainerResponse{ID: k.ID, RunID: k.RunID, InstanceID: k.InstanceID,
			State: k.State, CreatedAt: k.CreatedAt})
	}
	return c.JSON(out)
}

func (r *Routes) cleanup(c *fiber.Ctx) error {
	n, err := r.svc.Cleanup(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(CleanupResponse{Removed: n})
}
