#!/usr/bin/env bash
# Installs the system binaries the tests drive (redis-server, redis-cli, nginx) when they are missing.
# Optional: SWITCHBOARD_INSTALL_CHROMIUM=1 also installs Debian's Chromium (/usr/bin/chromium) for the
# browser CORS suite (test/e2e/cors-browser.test.ts); .ci/run sets it. Without it that suite skips itself
# when the binary is absent (unless CI=true, where a missing browser is a failure).
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
if [ "${SWITCHBOARD_INSTALL_CHROMIUM:-}" = 1 ] && [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "tests need: ${missing[*]} (install them, e.g. apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
# The Debian packages start services on their default ports; tests start their own on random ports.
