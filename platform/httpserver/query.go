package httpserver

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// PageQuery documents the pagination parameters every list takes; embed it in
// an operation's Query struct.
type PageQuery struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

// ParsePage reads limit and cursor; a bad value is a 422 naming the parameter.
func ParsePage(c *fiber.Ctx) (page.Request, error) {
	req := page.Request{Limit: page.DefaultLimit}
	n, err := ParseLimit(c)
	if err != nil {
		return req, err
	}
	req.Limit = n
	cur, err := page.Decode(c.Query("cursor"))
	if err != nil {
		return req, derrors.InvalidField("cursor", "is not a cursor this server issued")
	}
	req.After = cur
	return req, nil
}

// ParseLimit reads the page size, limit, for a list whose cursor is not a
// page.Cursor; a bad value is a 422 naming it.
func ParseLimit(c *fiber.Ctx) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return page.DefaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > page.MaxLimit {
		return page.DefaultLimit, derrors.InvalidField("limit", "must be an integer from 1 to 100")
	}
	return n, nil
}

// NextCursor is the wire form of a next-page cursor: null at the end.
func NextCursor(c page.Cursor) *string {
	if c.IsZero() {
		return nil
	}
	s := page.Encode(c)
	return &s
}

// ParseBool reads an optional boolean query parameter; a bad value is a 422.
func ParseBool(c *fiber.Ctx, name string) (bool, error) {
	raw := c.Query(name)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, derrors.InvalidField(name, "must be true or false")
	}
	return b, nil
}

// Page is the body of every list: {"items": [...], "next_cursor": "…" | null}.
// In the OpenAPI document Page[ProjectResponse] is the schema PageProjectResponse.
type Page[W any] struct {
	Items      []W     `json:"items"`
	NextCursor *string `json:"next_cursor" doc:"pass as cursor for the next page; null on the last"`
}

// NewPage converts one page of stored items to its wire form.
func NewPage[T, W any](res page.Result[T], wire func(*T) W) Page[W] {
	out := Page[W]{Items: make([]W, 0, len(res.Items)), NextCursor: NextCursor(res.Next)}
	for i := range res.Items {
		out.Items = append(out.Items, wire(&res.Items[i]))
	}
	return out
}
