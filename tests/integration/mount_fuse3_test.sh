#!/usr/bin/env bash
# mount(8) through mount.fuse3, which runs cairn-overlayfs as `cairn-overlayfs SOURCE
# MOUNTPOINT -o OPTIONS` (root phase: mount(8) needs root here). mount(8) gives its helper
# a fixed PATH, so `-t fuse.cairn-overlayfs` needs an installed cairn-overlayfs; the test
# names the built one with mount.fuse3's `-t fuse PROGRAM#SOURCE` form, the same code path.
# Usage: CAIRN_OVERLAYFS=build/src/cairn-overlayfs tests/integration/mount_fuse3_test.sh
set -uo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

overlayfs=${CAIRN_OVERLAYFS:-$(command -v cairn-overlayfs || true)}
[ -x "$overlayfs" ] || { echo "Bail out! no cairn-overlayfs: set CAIRN_OVERLAYFS" >&2; exit 1; }
if [ "$(id -u)" != 0 ] || ! command -v mount.fuse3 >/dev/null; then
  echo "1..0 # SKIP needs root and mount.fuse3 (package fuse3)" >&2
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-mount-fuse3.XXXXXX")
trap 'umount -l "$tmp/m" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/l" "$tmp/u" "$tmp/w" "$tmp/m"
ln -s "$(readlink -f "$overlayfs")" "$tmp/bin/cairn-overlayfs"
echo lower >"$tmp/l/f"
mknod "$tmp/l/gone" c 0 0

status=0
mount -t fuse "$tmp/bin/cairn-overlayfs#overlay" "$tmp/m" \
  -o "lowerdir=$tmp/l,upperdir=$tmp/u,workdir=$tmp/w" >"$tmp/out" 2>"$tmp/err" || status=$?
check "mount -t fuse cairn-overlayfs#overlay mounts (status $status)" status_is 0
check "... as a fuse.cairn-overlayfs filesystem" grep -q " $tmp/m fuse.cairn-overlayfs " /proc/mounts
check "... serving the lower layer" test "$(cat "$tmp/m/f" 2>/dev/null)" = lower
check "... with its whiteouts applied" test ! -e "$tmp/m/gone"
echo upper >"$tmp/m/new"
check "... writing to the upper directory" test "$(cat "$tmp/u/new" 2>/dev/null)" = upper
umount "$tmp/m"
check "umount unmounts it" bash -c "! grep -q ' $tmp/m ' /proc/mounts"
no_server() { ! pgrep -f -- "cairn-overlayfs overlay $tmp/m" >/dev/null; }
sleep 0.3
check "... and the server is gone" no_server
finish
