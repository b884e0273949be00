#!/usr/bin/env bash
# Fetches the pinned Codex CLI (configs/agent/codex.env) into this machine's
# cache, once: the end-to-end Codex test imports it into its agent image from
# there and skips without it (fails under CI=true). A cached tarball is
# checked again on every call; one whose sha256 is not the pin's is deleted
# and the script fails. Quiet on success; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "codex.sh: $*" >&2; }

# The pin, read as data: the file is KEY=value lines, never sourced.
pin() { sed -n "s/^$1=//p" configs/agent/codex.env | tail -n 1; }
version="$(pin CODEX_VERSION)"
url="$(pin CODEX_TARBALL)"
sum="$(pin CODEX_SHA256)"
if [ -z "$version" ] || [ -z "$url" ] || [ -z "$sum" ]; then
  log "configs/agent/codex.env lacks CODEX_VERSION, CODEX_TARBALL or CODEX_SHA256"
  exit 1
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/slipway"
file="$cache/codex-$version-linux-x64.tgz"

verify() { echo "$sum  $1" | sha256sum --check --status; }

if [ -f "$file" ]; then
  if verify "$file"; then exit 0; fi
  log "$file is not the pinned build (sha256 differs); deleting it"
  rm -f "$file"
  exit 1
fi

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.codex.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "fetching Codex $version (about 170 MB) into $cache"
if command -v curl >/dev/null 2>&1; then
  curl -fsSL --retry 3 -o "$tmp/codex.tgz" "$url"
else
  # npm names the tarball of the platform package after it.
  npm pack --silent --pack-destination "$tmp" "@openai/codex@$version-linux-x64" >/dev/null
  mv "$tmp"/openai-codex-*.tgz "$tmp/codex.tgz"
fi
if ! verify "$tmp/codex.tgz"; then
  log "the download from $url is not the pinned build (sha256 differs); nothing kept"
  exit 1
fi
# Rename within one directory: a concurrent reader sees no file or the whole one.
mv "$tmp/codex.tgz" "$file"
