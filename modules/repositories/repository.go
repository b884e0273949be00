package repositories

import (
	"time"

	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/validate"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// IDPrefix starts every repository id: "rep_01j…".
const IDPrefix ids.Prefix = "rep"

// Repository is a stored repository.
type Repository struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	// DefaultBranch is the branch runs start from when they name none; ""
	// means the remote's default branch, resolved at clone time.
	DefaultBranch string    `json:"default_branch"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Field limits.
const (
	MaxNameLen   = 100
	MaxURLLen    = 2048
	MaxBranchLen = workspace.MaxBranchLen
)

func checkName(name string) string { return validate.Name(name, MaxNameLen) }
