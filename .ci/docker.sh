#!/usr/bin/env bash
# Makes a Docker engine available to the platform/containers tests on a fresh
# Debian machine (CI runs it as root): installs docker.io (with tini, used as
# the containers' init) and busybox-static (the tests' image is built from
# /bin/busybox, no registry needed), starts dockerd when nothing answers, and
# waits, for a bounded time, until it does. Safe to run again.
set -euo pipefail

readonly WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-90}"
readonly LOG=/var/log/dockerd.log

log() { echo "docker.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (apt-get and dockerd)"
  exit 1
fi

packages=()
command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  packages+=(busybox-static)
fi
if [ "${#packages[@]}" -gt 0 ]; then
  log "installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}"
fi
if ! command -v docker-init >/dev/null 2>&1; then
  log "docker-init (tini) is missing; containers are started with an init process"
  exit 1
fi

answers() { timeout 10 docker info >/dev/null 2>&1; }

if ! answers; then
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
  else
    log "starting dockerd (log: $LOG)"
    # setsid: the daemon must outlive this script and the CI step's shell.
    setsid dockerd >>"$LOG" 2>&1 </dev/null &
  fi
fi

deadline=$((SECONDS + WAIT_SECONDS))
until answers; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "dockerd did not answer within ${WAIT_SECONDS}s; last lines of $LOG:"
    tail -n 40 "$LOG" >&2 || true
    exit 1
  fi
  sleep 1
done
log "docker $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') is ready"
