// Package configs embeds the per-environment settings files into the binary,
// so `slipway` runs from anywhere with no files beside it.
package configs

import "embed"

// Files holds default.yaml and one file per environment (local, test,
// production), layered in that order by platform/settings.
//
//go:embed *.yaml
var Files embed.FS
