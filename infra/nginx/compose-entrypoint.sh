#!/bin/sh
# docker compose entrypoint of the `nginx` service: renders nginx.conf.template (the same template the
# multi-node tests use, see README.md) for the compose network, then runs nginx in the foreground.
#   LISTEN     address:port to listen on                      (default 0.0.0.0:8080)
#   UPSTREAMS  space-separated host:port of the edge nodes   (default edge-1:3000 edge-2:3000 edge-3:3000)
#   PREFIX     writable dir for pid, logs and temp files     (default /tmp/nginx)
# With --render-only it prints the rendered config and exits (used by test/deploy).
set -eu
LISTEN="${LISTEN:-0.0.0.0:8080}"
UPSTREAMS="${UPSTREAMS:-edge-1:3000 edge-2:3000 edge-3:3000}"
PREFIX="${PREFIX:-/tmp/nginx}"
TEMPLATE="${TEMPLATE:-$(dirname "$0")/nginx.conf.template}"

servers=""
for u in $UPSTREAMS; do servers="${servers}        server ${u};\n"; done

# awk -v expands the \n escapes; the upstream placeholder sits alone on its line.
render() {
  awk -v listen="$LISTEN" -v prefix="$PREFIX" -v servers="$servers" '
    /\{\{UPSTREAMS\}\}/ { printf "%s", servers; next }
    { gsub(/\{\{LISTEN\}\}/, listen); gsub(/\{\{PREFIX\}\}/, prefix); print }
  ' "$TEMPLATE"
}

if [ "${1:-}" = "--render-only" ]; then render; exit 0; fi

mkdir -p "$PREFIX"
render > "$PREFIX/nginx.conf"
if grep -q '{{[A-Z_]*}}' "$PREFIX/nginx.conf"; then echo "unrendered placeholder in $TEMPLATE" >&2; exit 1; fi
exec nginx -p "$PREFIX/" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" -g 'daemon off;'
