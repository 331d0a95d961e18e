#!/usr/bin/env bash
# Installs what the tests drive, when it is missing, and prints how long each part took:
#   - redis-server, redis-cli, nginx                     (every multi-node suite)
#   - chromium, firefox-esr                              (the browser suite, test/e2e/cors-browser.test.ts)
#   - prometheus + promtool                              (test/deploy/prometheus.test.ts)
#   - a running Docker engine (scripts/ensure-docker.sh) and the local base images
#     (scripts/local-images.sh)                          (test/deploy/compose.docker.test.ts, the store
#                                                         contract's testcontainers backend)
# Installing needs root and apt-get; elsewhere it names what is missing and fails. SWITCHBOARD_NO_DOCKER=1
# skips the Docker part (its suites then skip themselves, except under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { echo "system deps: $* ($(( $(date +%s) - t0 )) s)" >&2; t0=$(date +%s); }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || missing+=(prometheus)
if [ "${SWITCHBOARD_NO_DOCKER:-}" != 1 ]; then
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests need: ${missing[*]} (install them, e.g. apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  # The Debian packages may start services on their default ports; tests start their own on random ports.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  step "apt-get install ${missing[*]}"
fi

[ "${SWITCHBOARD_NO_DOCKER:-}" = 1 ] && exit 0
# Without a Docker engine the other suites still run; the Docker ones report why they cannot.
if bash scripts/ensure-docker.sh; then
  step "Docker engine"
  if bash scripts/local-images.sh; then step "local base images"; else echo "system deps: scripts/local-images.sh failed" >&2; fi
else
  echo "system deps: no Docker engine (the Docker suites will say why)" >&2
fi
