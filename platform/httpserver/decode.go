package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Validator is implemented by request types that check their own fields.
type Validator interface {
	Validate() []derrors.FieldError
}

// Decode reads the JSON object body of c into dst strictly: the media type
// must be JSON (415), the body a JSON object (400), with no unknown fields
// (422), no string anywhere in it holding NUL (422, see NULReason) and, when
// dst is a Validator, valid fields (422).
func Decode(c *fiber.Ctx, dst any) error {
	ct := c.Get(fiber.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != fiber.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
		return derrors.New(derrors.CodeUnsupportedMediaType,
			"request body must be application/json")
	}
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 || body[0] != '{' {
		return derrors.New(derrors.CodeInvalidJSON, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return derrors.New(derrors.CodeInvalidJSON, "request body must hold exactly one JSON object")
	}
	fields := nulFields(dst)
	if v, ok := dst.(Validator); ok {
		for _, f := range v.Validate() {
			if !slices.ContainsFunc(fields, func(g derrors.FieldError) bool { return g.Field == f.Field }) {
				fields = append(fields, f)
			}
		}
	}
	if len(fields) > 0 {
		return derrors.Validation(fields...)
	}
	return nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return derrors.New(derrors.CodeInvalidJSON, "request body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return derrors.InvalidField(field, fmt.Sprintf("must be a %s", jsonKind(typ.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return derrors.InvalidField(name, "unknown field")
	}
	return derrors.New(derrors.CodeInvalidJSON, "request body is not valid JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	}
	return "number"
}
