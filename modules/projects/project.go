package projects

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Project is a stored project.
type Project struct {
	ID          string    `json:"id"`
	OwnerID     string    `json:"owner_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Field limits.
const (
	MaxNameLen        = 100
	MaxDescriptionLen = 2000
)

func checkName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "must not be empty"
	case utf8.RuneCountInString(name) > MaxNameLen:
		return "must be at most 100 characters"
	case hasControl(name):
		return "must not contain control characters"
	}
	return ""
}

func checkDescription(d string) string {
	if utf8.RuneCountInString(d) > MaxDescriptionLen {
		return "must be at most 2000 characters"
	}
	return ""
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
