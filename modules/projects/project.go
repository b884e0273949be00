package projects

import (
	"time"

	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/validate"
)

// IDPrefix starts every project id: "prj_01j…".
const IDPrefix ids.Prefix = "prj"

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

func checkName(name string) string { return validate.Name(name, MaxNameLen) }

func checkDescription(d string) string { return validate.Text(d, MaxDescriptionLen) }
