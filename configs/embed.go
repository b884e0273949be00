// Package configs embeds the per-environment settings files into the binary,
// so `slipway` runs from anywhere with no files beside it.
package configs

import "embed"

// Files holds default.yaml and one file per environment (local, test,
// production), layered in that order by platform/settings.
//
//go:embed *.yaml
var Files embed.FS

// Agent holds agent/codex.env (the pinned Codex CLI: CODEX_VERSION,
// CODEX_TARBALL, CODEX_SHA256) and agent/config.toml (the Codex
// configuration of the production agent image), so that tests which run
// that build do it with the same pin and configuration as CI and
// production.
//
//go:embed agent/codex.env agent/config.toml
var Agent embed.FS
