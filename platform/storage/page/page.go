// Package page is the cursor pagination every list uses: items ordered by
// (created_at, id), and an opaque cursor naming the last item of a page.
package page

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// Limits of a page size.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Cursor is the position after which the next page starts: the last item's
// creation time and id. The zero Cursor means "from the start".
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// IsZero reports whether c is the start of the list.
func (c Cursor) IsZero() bool { return c.ID == "" }

// Before reports whether an item at (createdAt, id) sorts before c, that is,
// whether it belongs to an earlier page. Items after c have
// (createdAt, id) > (c.CreatedAt, c.ID).
func (c Cursor) Before(createdAt time.Time, id string) bool {
	if !createdAt.Equal(c.CreatedAt) {
		return createdAt.Before(c.CreatedAt)
	}
	return id <= c.ID
}

// Request is a page request: at most Limit items after After.
type Request struct {
	Limit int
	After Cursor
}

// Result is one page of items and the cursor of the next one (zero when none).
type Result[T any] struct {
	Items []T
	Next  Cursor
}

type wireCursor struct {
	T int64  `json:"t"`
	I string `json:"i"`
}

// ErrBadCursor is returned for a cursor that was not made by Encode.
var ErrBadCursor = errors.New("malformed cursor")

// Encode makes the opaque form of c, or "" for the zero cursor.
func Encode(c Cursor) string {
	if c.IsZero() {
		return ""
	}
	b, _ := json.Marshal(wireCursor{T: c.CreatedAt.UnixNano(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode parses an opaque cursor; "" is the zero cursor.
func Decode(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	if len(s) > 256 {
		return Cursor{}, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, ErrBadCursor
	}
	var w wireCursor
	if err := json.Unmarshal(b, &w); err != nil || w.I == "" || len(w.I) > 64 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{CreatedAt: time.Unix(0, w.T).UTC(), ID: w.I}, nil
}
