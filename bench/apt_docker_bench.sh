#!/usr/bin/env bash
# The apt build of bench/build_bench.sh against docker itself: `cairn build` (rootless, as
# $BENCH_USER) and `docker build` with docker's classic builder (Debian's docker.io 20.10
# has no buildx, and its BuildKit mode fails here), on a
# private dockerd (as root: its own socket and data directory, no iptables), the same
# Debian minbase image in both, every run without cache (--no-cache), side by side with
# hyperfine (host networking for all: the private daemon has no bridge). Needs root, dockerd (docker.io), hyperfine, Debian's mirror.
# Usage: sudo bench/apt_docker_bench.sh   (environment: BENCH_USER (cairn-ci), BENCH_RUNS (3),
#        CAIRN_BINARY, CAIRN_DEBIAN_TAR)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "apt_docker_bench: needs root (it starts a private dockerd)"; exit 1; }
user=${BENCH_USER:-cairn-ci}
runs=${BENCH_RUNS:-3}
cairn=${CAIRN_BINARY:-$src/build/src/cairn}
debian=${CAIRN_DEBIAN_TAR:-/var/cache/cairn-test/debian-bookworm-minbase.tar}
for tool in dockerd docker hyperfine; do
  command -v "$tool" >/dev/null || { echo "apt_docker_bench: $tool is missing"; exit 1; }
done
work=$(mktemp -d /tmp/cairn-apt-bench.XXXXXX)
chmod 755 "$work"
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && sleep 2
  umount -R "$work/data" "$work/exec/netns/default" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sock="unix://$work/docker.sock"
dockerd --host "$sock" --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/docker.pid" \
  --iptables=false --ip6tables=false --bridge=none >"$work/dockerd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do docker -H "$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
mkdir -p "$work/ctx" "$work/store"
cat >"$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends hello
DOCKERFILE
chown -R "$user:" "$work/ctx" "$work/store"
as_user() { runuser -u "$user" -- env HOME="$work/home" "$@"; }
mkdir -p "$work/home" && chown "$user:" "$work/home"
as_user "$cairn" --root "$work/store" import "$debian" debian:bookworm -c 'CMD ["bash"]' >/dev/null
as_user "$cairn" --root "$work/store" save --format docker -o "$work/store/debian.tar" debian:bookworm
docker -H "$sock" load -i "$work/store/debian.tar" >/dev/null && rm "$work/store/debian.tar"
echo "apt_docker_bench: $(nproc) cores, $(uname -r), docker $(docker -H "$sock" version -f '{{.Server.Version}}'), $(date -u +%FT%TZ)"
hyperfine -N --runs "$runs" --export-markdown "$work/table.md" \
  -n "cairn build (rootless, $user)" \
  "runuser -u $user -- env HOME=$work/home $cairn --root $work/store build -q --no-cache --network host $work/ctx" \
  -n "docker build (classic builder, root daemon)" \
  "env DOCKER_BUILDKIT=0 docker -H $sock build -q --no-cache --network host $work/ctx"
cat "$work/table.md"
