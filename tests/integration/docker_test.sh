#!/usr/bin/env bash
# Root phase only: cairn's hybrid archive loads into a real docker daemon (Debian's
# docker.io, 20.10) that this test starts on a private socket and data directory, and the
# image runs. Exits 77 (skipped) as an unprivileged user or without dockerd.
set -euo pipefail
cairn=${CAIRN_BINARY:-cairn}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (CI's root phase runs it)"; exit 77; }
command -v dockerd >/dev/null || { echo "SKIP: dockerd is not installed (apt-get install docker.io)"; exit 77; }
docker_cli=/usr/bin/docker
[ -x "$docker_cli" ] || docker_cli=$(command -v docker)
busybox=${CAIRN_BUSYBOX_TAR:-}
[ -s "$busybox" ] || { echo "SKIP: CAIRN_BUSYBOX_TAR is not set"; exit 77; }

tmp=$(mktemp -d /tmp/cairn-docker-test.XXXXXX)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$daemon_pid" 2>/dev/null || true
  fi
  umount -R "$tmp/data" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export HOME="$tmp/home"
sock="unix://$tmp/docker.sock"
dockerd --host "$sock" --data-root "$tmp/data" --exec-root "$tmp/exec" --pidfile "$tmp/docker.pid" \
  --iptables=false --ip6tables=false --bridge=none >"$tmp/dockerd.log" 2>&1 &
daemon_pid=$!
docker=("$docker_cli" -H "$sock")
for _ in $(seq 100); do "${docker[@]}" version >/dev/null 2>&1 && break; sleep 0.2; done
"${docker[@]}" version >/dev/null 2>&1 || { tail -20 "$tmp/dockerd.log"; echo "SKIP: dockerd did not start"; exit 77; }

tests=0 failed=0
check() {
  tests=$((tests + 1))
  if [ "$2" = "$3" ]; then echo "ok $tests - $1"; else echo "not ok $tests - $1 (expected '$3', got '$2')"; failed=$((failed + 1)); fi
}

store="$tmp/store"
"$cairn" --root "$store" import "$busybox" cairn-test/busybox:1 -c 'CMD ["/bin/echo", "hello from cmd"]' >/dev/null
for format in hybrid docker; do
  "$cairn" --root "$store" save --format "$format" -o "$tmp/$format.tar" cairn-test/busybox:1
  out=$("${docker[@]}" load -i "$tmp/$format.tar" 2>&1 || true)
  check "docker load accepts the $format archive" "$out" "Loaded image: cairn-test/busybox:1"
  out=$("${docker[@]}" run --rm --network=none cairn-test/busybox:1 /bin/echo ok 2>&1 || true)
  check "docker runs the image loaded from the $format archive" "$out" "ok"
  out=$("${docker[@]}" run --rm --network=none cairn-test/busybox:1 2>&1 || true)
  check "the image's CMD from --change runs ($format)" "$out" "hello from cmd"
  "${docker[@]}" rmi -f cairn-test/busybox:1 >/dev/null 2>&1 || true
done
if [ -s "${CAIRN_DEBIAN_TAR:-}" ]; then
  "$cairn" --root "$store" import "$CAIRN_DEBIAN_TAR" cairn-test/debian:bookworm >/dev/null
  "$cairn" --root "$store" save -o "$tmp/debian.tar" cairn-test/debian:bookworm
  out=$("${docker[@]}" load -i "$tmp/debian.tar" 2>&1 || true)
  check "docker load accepts the Debian hybrid archive" "$out" "Loaded image: cairn-test/debian:bookworm"
  out=$("${docker[@]}" run --rm --network=none cairn-test/debian:bookworm stat -c '%U:%G %a' /etc/shadow /usr/bin/passwd 2>&1 | tr '\n' ' ' || true)
  check "owners and setuid bits survive into docker" "$out" "root:shadow 640 root:root 4755 "
fi
echo "1..$tests"
[ "$failed" -eq 0 ]
