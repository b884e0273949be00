// Package configs embeds the per-environment settings files into the binary,
// so `slipway` runs from anywhere with no files beside it.
package configs

import "embed"

// Files holds default.yaml and one file per environment (local, test,
// production), layered in that order by platform/settings.
//
//go:embed *.yaml
var Files embed.FS

// CodexPin is agent/codex.env: the Codex CLI build agent images carry
// (CODEX_VERSION, CODEX_TARBALL, CODEX_SHA256 lines), embedded so that
// tests which import that build check it against the same pin as CI.
//
//go:embed agent/codex.env
var CodexPin string
