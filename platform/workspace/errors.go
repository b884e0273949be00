package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slipwayhq/slipway/platform/derrors"
)

var (
	// ErrPatchTooLarge means the agent's changes make a patch larger than
	// Config.MaxPatchBytes; the patch is not returned.
	ErrPatchTooLarge = errors.New("patch too large")
	// ErrRemoved means the workspace was already removed.
	ErrRemoved = errors.New("workspace removed")
)

// CloneReason says why a clone failed, in terms a user can act on.
type CloneReason string

// The reasons a clone fails.
const (
	ReasonRefused        CloneReason = "refused"          // URL or branch refused before git ran (wraps ErrURLNotAllowed)
	ReasonNotFound       CloneReason = "not_found"        // no repository at the URL
	ReasonBranchNotFound CloneReason = "branch_not_found" // the repository has no such branch
	ReasonAuthRequired   CloneReason = "auth_required"    // credentials needed or refused
	ReasonUnreachable    CloneReason = "unreachable"      // DNS, connection or TLS failure; a retry may work
	ReasonTimeout        CloneReason = "timeout"          // ctx deadline or Config.CloneTimeout
	ReasonCanceled       CloneReason = "canceled"         // ctx canceled
	ReasonTooLarge       CloneReason = "too_large"        // the clone does not fit the workspace limits (wraps *LimitError)
	ReasonOther          CloneReason = "other"
)

// CloneError is a failed Prepare clone. Its Error and Message never hold
// credentials: URL is redacted and git's output is stripped of user
// information and of host paths. errors.Is matches derrors.ErrNotFound for
// ReasonNotFound and ReasonBranchNotFound, derrors.ErrUnavailable for
// ReasonUnreachable, and the cause (ErrURLNotAllowed, context errors).
type CloneError struct {
	Reason CloneReason
	URL    string // redacted
	Branch string // as requested; "" for the default branch
	Detail string // git's last error lines, redacted; for logs
	Err    error  // the cause
}

// Message is the sentence to show the user as the run's error.
func (e *CloneError) Message() string {
	switch e.Reason {
	case ReasonRefused:
		return fmt.Sprintf("repository %s cannot be cloned: %s", e.URL, strings.TrimPrefix(e.causeText(), ErrURLNotAllowed.Error()+": "))
	case ReasonNotFound:
		return fmt.Sprintf("repository %s not found", e.URL)
	case ReasonBranchNotFound:
		return fmt.Sprintf("branch %q not found in repository %s", e.Branch, e.URL)
	case ReasonAuthRequired:
		return fmt.Sprintf("repository %s requires credentials, or refused the ones given", e.URL)
	case ReasonUnreachable:
		return fmt.Sprintf("could not reach repository %s: %s", e.URL, e.Detail)
	case ReasonTimeout:
		return fmt.Sprintf("cloning repository %s timed out", e.URL)
	case ReasonCanceled:
		return fmt.Sprintf("cloning repository %s was canceled", e.URL)
	case ReasonTooLarge:
		return fmt.Sprintf("repository %s does not fit within the workspace limits", e.URL)
	default:
		if e.Detail == "" {
			return fmt.Sprintf("could not clone repository %s", e.URL)
		}
		return fmt.Sprintf("could not clone repository %s: %s", e.URL, e.Detail)
	}
}

func (e *CloneError) causeText() string {
	if e.Err == nil {
		return string(e.Reason)
	}
	return e.Err.Error()
}

// Error describes the failure for logs: URL, branch, reason and git's
// redacted output.
func (e *CloneError) Error() string {
	s := fmt.Sprintf("clone %s", e.URL)
	if e.Branch != "" {
		s += fmt.Sprintf(" branch %q", e.Branch)
	}
	s += ": " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	} else if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *CloneError) Unwrap() error { return e.Err }

// Is maps reasons onto the shared error categories.
func (e *CloneError) Is(target error) bool {
	switch target {
	case derrors.ErrNotFound:
		return e.Reason == ReasonNotFound || e.Reason == ReasonBranchNotFound
	case derrors.ErrUnavailable:
		return e.Reason == ReasonUnreachable
	}
	return false
}

// classify reads git's error output (LC_ALL=C) for the reason a clone failed.
func classify(stderr string, ctxErr error) CloneReason {
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(ctxErr, context.Canceled):
		return ReasonCanceled
	}
	has := func(subs ...string) bool {
		lower := strings.ToLower(stderr)
		for _, s := range subs {
			if strings.Contains(lower, strings.ToLower(s)) {
				return true
			}
		}
		return false
	}
	switch {
	case has("not found in upstream origin", "could not find remote branch"):
		return ReasonBranchNotFound
	case has("transport '") && has("not allowed"):
		return ReasonRefused
	case has("terminal prompts disabled", "could not read username", "could not read password",
		"authentication failed", "permission denied (", "host key verification failed",
		"returned error: 401", "returned error: 403", "access denied"):
		return ReasonAuthRequired
	case has("repository not found", "does not appear to be a git repository",
		"returned error: 404", "not found"):
		return ReasonNotFound
	case has("could not resolve host", "could not resolve hostname", "failed to connect",
		"connection refused", "connection timed out", "network is unreachable",
		"no route to host", "ssl certificate problem", "certificate verification failed",
		"ssl_connect", "tls connection", "connection reset", "empty reply from server"):
		return ReasonUnreachable
	}
	return ReasonOther
}

// gitError is a git command that failed: its sub-command, exit status and the
// tail of its error output (already redacted).
type gitError struct {
	cmd    string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("git %s: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("git %s: %v: %s", e.cmd, e.err, e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }
