// Package identity says who is calling: the authenticated Principal and the
// groups Slipway gives meaning to. It is a leaf (standard library only), so
// services, stores and the worker's system principal can name a caller
// without pulling in token verification or the HTTP stack.
package identity

import "slices"

// Groups.
const (
	GroupOperator = "operator"
	GroupRoot     = "root"
)

// KnownGroups lists every group Slipway gives meaning to.
var KnownGroups = []string{GroupOperator, GroupRoot}

// Principal is the authenticated caller.
type Principal struct {
	ID     string
	Email  string
	Groups []string
}

// Has reports whether p belongs to group; root implies operator.
func (p Principal) Has(group string) bool {
	if slices.Contains(p.Groups, group) {
		return true
	}
	return group == GroupOperator && slices.Contains(p.Groups, GroupRoot)
}

// IsOperator reports whether p may see every user's resources.
func (p Principal) IsOperator() bool { return p.Has(GroupOperator) }
