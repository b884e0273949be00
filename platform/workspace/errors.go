package workspace

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
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
	ReasonRedirect       CloneReason = "redirect"         // the remote redirected; redirects are refused
	ReasonRemoteError    CloneReason = "remote_error"     // the remote answered with an HTTP error
	ReasonUnreachable    CloneReason = "unreachable"      // DNS, connection or TLS failure; a retry may work
	ReasonTimeout        CloneReason = "timeout"          // ctx deadline or Config.CloneTimeout
	ReasonCanceled       CloneReason = "canceled"         // ctx canceled
	ReasonTooLarge       CloneReason = "too_large"        // the clone does not fit the workspace limits (wraps *LimitError)
	ReasonOther          CloneReason = "other"
)

// CloneError is a failed Prepare clone. Its Error and Message never hold
// credentials nor anything the remote wrote: URL is redacted, and Detail is
// Slipway's own phrase for what git reported, never git's text, which can
// quote the remote (a server's error page, "remote:" lines, an ERR packet,
// an ssh banner). errors.Is matches derrors.ErrNotFound for ReasonNotFound
// and ReasonBranchNotFound, derrors.ErrUnavailable for ReasonUnreachable,
// and the cause (ErrURLNotAllowed, context errors).
type CloneError struct {
	Reason CloneReason
	URL    string // redacted
	Branch string // as requested; "" for the default branch
	Detail string // what failed, in Slipway's words ("the remote answered HTTP 500"); may be ""
	Err    error  // the cause
	// Output is git's last error lines, without credentials or host
	// paths, for operators' logs only: it may quote the remote, so it is
	// in neither Error nor Message.
	Output string
}

// Message is the sentence to show the user as the run's error.
func (e *CloneError) Message() string {
	with := func(s string) string {
		if e.Detail == "" {
			return s
		}
		return s + ": " + e.Detail
	}
	switch e.Reason {
	case ReasonRefused:
		return fmt.Sprintf("repository %s cannot be cloned: %s", e.URL, strings.TrimPrefix(e.causeText(), ErrURLNotAllowed.Error()+": "))
	case ReasonNotFound:
		return fmt.Sprintf("repository %s not found", e.URL)
	case ReasonBranchNotFound:
		return fmt.Sprintf("branch %q not found in repository %s", e.Branch, e.URL)
	case ReasonAuthRequired:
		return fmt.Sprintf("repository %s requires authentication, or refused the credentials given", e.URL)
	case ReasonRedirect:
		return fmt.Sprintf("repository %s cannot be cloned: the remote redirected to another location; redirects are refused", e.URL)
	case ReasonRemoteError:
		return with(fmt.Sprintf("repository %s could not be cloned", e.URL))
	case ReasonUnreachable:
		return with(fmt.Sprintf("could not connect to repository %s", e.URL))
	case ReasonTimeout:
		return fmt.Sprintf("cloning repository %s timed out", e.URL)
	case ReasonCanceled:
		return fmt.Sprintf("cloning repository %s was canceled", e.URL)
	case ReasonTooLarge:
		return fmt.Sprintf("repository %s does not fit within the workspace limits", e.URL)
	default:
		return with(fmt.Sprintf("could not clone repository %s", e.URL))
	}
}

func (e *CloneError) causeText() string {
	if e.Err == nil {
		return string(e.Reason)
	}
	return e.Err.Error()
}

// Error describes the failure for logs: URL, branch, reason and detail.
func (e *CloneError) Error() string {
	s := fmt.Sprintf("clone %s", e.URL)
	if e.Branch != "" {
		s += fmt.Sprintf(" branch %q", e.Branch)
	}
	s += ": " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
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

// httpStatusRE finds the HTTP status git reports for a failed request.
var httpStatusRE = regexp.MustCompile(`(?i)the requested url returned error: ([0-9]{3})`)

// classify reads git's error output (LC_ALL=C) for the reason a clone failed
// and names what failed in Slipway's own words: the detail never copies the
// output. Lines the remote wrote ("remote: …") and whatever follows "remote
// error:" are not read, so a remote cannot choose the reason. (Over ssh the
// remote's own error output reaches git's unmarked; there it can, but still
// never appears in the message.)
func classify(output string, ctxErr error) (CloneReason, string) {
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return ReasonTimeout, ""
	case errors.Is(ctxErr, context.Canceled):
		return ReasonCanceled, ""
	}
	var ours []string
	for _, l := range strings.Split(strings.ToLower(output), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "remote:") {
			continue
		}
		if i := strings.Index(l, "remote error:"); i >= 0 {
			l = l[:i+len("remote error:")]
		}
		ours = append(ours, l)
	}
	own := strings.Join(ours, "\n")
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(own, s) {
				return true
			}
		}
		return false
	}
	if m := httpStatusRE.FindStringSubmatch(own); m != nil {
		code, _ := strconv.Atoi(m[1])
		switch {
		case code >= 300 && code < 400:
			return ReasonRedirect, ""
		case code == 401 || code == 403 || code == 407:
			return ReasonAuthRequired, fmt.Sprintf("the remote answered HTTP %d", code)
		case code == 404 || code == 410:
			return ReasonNotFound, ""
		default:
			return ReasonRemoteError, fmt.Sprintf("the remote answered HTTP %d", code)
		}
	}
	switch {
	case has("not found in upstream origin", "could not find remote branch"):
		return ReasonBranchNotFound, ""
	case has("transport '") && has("not allowed"):
		return ReasonRefused, ""
	case has("terminal prompts disabled", "could not read username", "could not read password",
		"authentication failed", "permission denied (", "access denied"):
		return ReasonAuthRequired, ""
	case has("host key verification failed"):
		return ReasonAuthRequired, "the host key is not known"
	case has("repository not found", "does not appear to be a git repository", "not found"):
		return ReasonNotFound, ""
	case has("could not resolve host", "could not resolve hostname"):
		return ReasonUnreachable, "the host name did not resolve"
	case has("connection refused", "failed to connect", "couldn't connect"):
		return ReasonUnreachable, "the connection was refused"
	case has("timed out"):
		return ReasonUnreachable, "the connection timed out"
	case has("network is unreachable", "no route to host"):
		return ReasonUnreachable, "the network is unreachable"
	case has("ssl certificate problem", "certificate verification failed", "certificate verify failed"):
		return ReasonUnreachable, "the remote's TLS certificate is not trusted"
	case has("ssl_connect", "tls connection", "gnutls_handshake", "ssl routines"):
		return ReasonUnreachable, "the TLS handshake failed"
	case has("connection reset", "empty reply from server", "connection closed", "kex_exchange_identification",
		"recv failure", "send failure"):
		return ReasonUnreachable, "the connection was cut"
	case has("remote error:"):
		return ReasonOther, "the remote reported an error"
	case has("protocol error", "invalid server response", "not valid: is this a git repository",
		"unexpected", "bad pack header", "expected flush", "expected response end packet"):
		return ReasonOther, "the remote did not answer as a git server"
	}
	return ReasonOther, ""
}

// gitError is a git command that failed: its sub-command, exit status and the
// tail of its error output (already redacted).
type gitError struct {
	cmd    string
	stderr string   // for logs
	lines  []string // the same, line by line and whole
	err    error
}

func (e *gitError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("git %s: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("git %s: %v: %s", e.cmd, e.err, e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }
