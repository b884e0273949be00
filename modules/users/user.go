package users

import (
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/platform/auth"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/validate"
)

// IDPrefix starts every user id: "usr_01j…", or "usr_" and the subject for
// users of an identity provider.
const IDPrefix ids.Prefix = "usr"

// User is a stored user.
type User struct {
	ID           string   `json:"id"`
	Email        string   `json:"email"` // normalised: trimmed, lower case
	DisplayName  string   `json:"display_name"`
	PasswordHash string   `json:"password_hash,omitempty"` // empty for external (Cognito) users
	Groups       []string `json:"groups"`                  // granted in Slipway (by root, or `users create`)
	// ExternalGroups come from the identity provider's token (Cognito's
	// cognito:groups), refreshed on each request; they add to Groups.
	ExternalGroups []string  `json:"external_groups,omitempty"`
	Disabled       bool      `json:"disabled"`
	External       bool      `json:"external"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Limits of user fields.
const (
	MaxEmailLen       = 254
	MaxDisplayNameLen = 100
)

// NormalizeEmail is the form emails are stored and compared in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// checkEmail returns a reason when email is not acceptable, "" when it is.
func checkEmail(email string) string {
	switch {
	case email == "":
		return "is required"
	case len(email) > MaxEmailLen:
		return "is longer than 254 characters"
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		return "is not a valid email address"
	}
	return ""
}

func checkPassword(pw string) string {
	switch {
	case len(pw) < auth.MinPasswordLen:
		return "must be at least 8 characters"
	case len(pw) > auth.MaxPasswordLen:
		return "must be at most 256 bytes"
	}
	return ""
}

func checkDisplayName(name string) string { return validate.Label(name, MaxDisplayNameLen) }

// checkGroups returns a FieldError for unknown or repeated groups.
func checkGroups(field string, groups []string) []derrors.FieldError {
	seen := map[string]bool{}
	for _, g := range groups {
		if !slices.Contains(identity.KnownGroups, g) {
			return []derrors.FieldError{{Field: field, Reason: "unknown group " + g + " (known: operator, root)"}}
		}
		if seen[g] {
			return []derrors.FieldError{{Field: field, Reason: "group " + g + " is repeated"}}
		}
		seen[g] = true
	}
	return nil
}

// EffectiveGroups is every group u belongs to: granted here or by the
// identity provider, sorted, without repeats.
func (u *User) EffectiveGroups() []string {
	out := make([]string, 0, len(u.Groups)+len(u.ExternalGroups))
	out = append(out, u.Groups...)
	out = append(out, u.ExternalGroups...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Principal returns the auth view of u.
func (u *User) Principal() identity.Principal {
	return identity.Principal{ID: u.ID, Email: u.Email, Groups: u.EffectiveGroups()}
}

// knownGroups keeps the groups Slipway gives meaning to, dropping the rest of
// what an identity provider sends (its other groups mean nothing here).
func knownGroups(groups []string) []string {
	out := []string{}
	for _, g := range groups {
		if slices.Contains(identity.KnownGroups, g) && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}
