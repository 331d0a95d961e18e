#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock: installs Debian's docker.io (dockerd) and
# docker-compose when missing and, when no engine runs, starts dockerd in the background (it keeps
# running after this script; its log is /var/log/switchboard-dockerd.log). Storage: overlay2, falling
# back to vfs where the kernel refuses overlay mounts. Networking: Docker's default bridge + iptables NAT;
# published ports bind 127.0.0.1 unless a port mapping names another address.
# Prints the time each step took. Run as root (CI is).
set -euo pipefail
LOG=/var/log/switchboard-dockerd.log
t0=$(date +%s)
say() { echo "ensure-docker: $* ($(( $(date +%s) - t0 )) s)" >&2; }

answers() { docker info >/dev/null 2>&1; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the Docker suites need: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  say "installed ${missing[*]}"
fi

if answers; then say "engine already running"; exit 0; fi

start() {
  # setsid: the engine is not a child of the test run, so it outlives it (the next run reuses it).
  # --ip: published ports without an explicit address (testcontainers') bind 127.0.0.1, not every interface.
  setsid dockerd --storage-driver="$1" --ip=127.0.0.1 >>"$LOG" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 60); do
    answers && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

for driver in overlay2 vfs; do
  if start "$driver"; then say "dockerd started (storage driver $driver)"; exit 0; fi
  echo "dockerd with $driver did not come up; last log lines:" >&2
  tail -5 "$LOG" >&2 || true
  kill "$pid" 2>/dev/null || true
  sleep 1
done
exit 1
