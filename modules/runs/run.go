package runs

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// The prefixes of the ids this module makes: runs ("run_01j…") and the
// process starts that work them ("ins_01j…").
const (
	IDPrefix         ids.Prefix = "run"
	InstanceIDPrefix ids.Prefix = "ins"
)

// Status is where a run is in its life.
type Status string

// The statuses of a run.
const (
	StatusQueued      Status = "queued"
	StatusPreparing   Status = "preparing"
	StatusRunning     Status = "running"
	StatusSucceeded   Status = "succeeded"
	StatusFailed      Status = "failed"
	StatusCanceled    Status = "canceled"
	StatusTimedOut    Status = "timed_out"
	StatusInterrupted Status = "interrupted"
)

// Statuses lists every status, in life order.
var Statuses = []Status{StatusQueued, StatusPreparing, StatusRunning, StatusSucceeded,
	StatusFailed, StatusCanceled, StatusTimedOut, StatusInterrupted}

// ActiveStatuses are the statuses that count against a user's quota.
var ActiveStatuses = []Status{StatusQueued, StatusPreparing, StatusRunning}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// Terminal reports whether s is final.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusCanceled, StatusTimedOut, StatusInterrupted:
		return true
	}
	return false
}

// Active reports whether a run in s is waiting or working.
func (s Status) Active() bool { return s.Valid() && !s.Terminal() }

// CanMove reports whether a run may go from one status to another.
func CanMove(from, to Status) bool {
	switch from {
	case StatusQueued:
		return to == StatusPreparing || to == StatusCanceled
	case StatusPreparing:
		return to == StatusRunning || (to.Terminal() && to != StatusSucceeded)
	case StatusRunning:
		return to.Terminal()
	}
	return false
}

// Run is a stored run.
type Run struct {
	ID             string `json:"id"`
	ProjectID      string `json:"project_id"`
	RepositoryID   string `json:"repository_id"`
	OwnerID        string `json:"owner_id"`
	Status         Status `json:"status"`
	Prompt         string `json:"prompt"`
	Branch         string `json:"branch"`
	TimeoutSeconds int    `json:"timeout_seconds"`
	// IdempotencyKey and RequestHash make a retried create return this run.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
	ExitCode       *int   `json:"exit_code,omitempty"`
	Error          string `json:"error,omitempty"`
	// Warnings are things the user should know about a finished run, such
	// as a secret's value in its patch.
	Warnings []string `json:"warnings,omitempty"`
	// CancelRequested asks the instance working the run to stop it.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// InstanceID is the instance that claimed the run; ContainerID its container.
	InstanceID  string `json:"instance_id,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	// LogTruncated says the agent's output reached runs.max_log_bytes: the
	// log ends with a marker line and the rest was discarded.
	LogTruncated bool       `json:"log_truncated,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
}

// Instance is one process start of the server that works runs.
type Instance struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// BootID identifies the running kernel; with Hostname it tells whether
	// PID can be checked from here.
	BootID      string    `json:"boot_id"`
	PID         int       `json:"pid"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// Limits of a run request; the prompt's is runs.max_prompt_bytes.
const (
	MaxBranchLen           = workspace.MaxBranchLen
	MaxIdempotencyKeyBytes = 255
)

// checkPrompt returns why a prompt is not acceptable, or "".
func checkPrompt(p string, maxBytes int) string {
	switch {
	case strings.TrimSpace(p) == "":
		return "must not be empty"
	case len(p) > maxBytes:
		return fmt.Sprintf("must be at most %d bytes (runs.max_prompt_bytes)", maxBytes)
	case !utf8.ValidString(p):
		return "must be valid UTF-8"
	case strings.ContainsRune(p, 0):
		return "must not contain NUL characters"
	}
	return ""
}

// checkIdempotencyKey returns why an Idempotency-Key is not acceptable, or "".
func checkIdempotencyKey(k string) string {
	if len(k) > MaxIdempotencyKeyBytes {
		return "must be at most 255 characters"
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "must be printable ASCII"
		}
	}
	return ""
}
