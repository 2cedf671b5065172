#!/usr/bin/env bash
# Integration test of cairn's overlay as a user sees it: `cairn mount` of an imported
# busybox image with an upper layer directory inside a user namespace (copy-up, metacopy of
# a chmod, whiteouts, the security.cairn.owner interface, the record written at unmount,
# the upper remounted as a layer), bad input to `cairn mount` and `cairn-overlayfs`, and
# SIGKILL of the serving process: outside a user namespace (through fusermount3) it leaves
# no mount and no process behind, inside one the mount ends with the namespace.
# Needs unprivileged user namespaces and a usable /dev/fuse (exits 77 otherwise), the
# busybox rootfs tar in $CAIRN_BUSYBOX_TAR and the binaries $CAIRN_BINARY and
# $CAIRN_OVERLAYFS (else `cairn` / `cairn-overlayfs` in PATH).
# Usage: CAIRN_BINARY=build/src/cairn CAIRN_OVERLAYFS=build/src/cairn-overlayfs \
#        CAIRN_BUSYBOX_TAR=/tmp/busybox.tar tests/integration/mount_test.sh
set -uo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn
overlayfs=${CAIRN_OVERLAYFS:-$(command -v cairn-overlayfs || true)}
[ -x "$overlayfs" ] || { echo "Bail out! no cairn-overlayfs: set CAIRN_OVERLAYFS" >&2; exit 1; }
case $overlayfs in /*) ;; *) overlayfs="$PWD/$overlayfs" ;; esac
require_overlay_basics

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-mount-test.XXXXXX")
cleanup() {
  fusermount3 -u -z "$tmp/plain/m" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
isolate_home
# shellcheck disable=SC2154  # $cairn is set by require_cairn
export CAIRN_BINARY=$cairn CAIRN_OVERLAYFS=$overlayfs

# ns SCRIPT: runs a shell script in a new user + mount namespace (root = this user).
ns() {
  status=0
  unshare -Urm bash -c "$1" >"$tmp/out" 2>"$tmp/err" || status=$?
}
out_has() { grep -qF -- "$1" "$tmp/out"; }
err_has() { grep -qF -- "$1" "$tmp/err"; }
file_has() { grep -qF -- "$2" "$1"; }
# no_process PATTERN: no process has PATTERN in its command line (within a few seconds).
no_process() {
  for _ in $(seq 30); do
    pgrep -f -- "$1" >/dev/null || return 0
    sleep 0.1
  done
  return 1
}

"$cairn" import "$CAIRN_BUSYBOX_TAR" bb >/dev/null 2>"$tmp/err"
check "the busybox rootfs imports" test $? -eq 0

# --- changes through cairn mount --upper -----------------------------------------------
mkdir -p "$tmp/m"
ns "
set -e
cd '$tmp'
\"\$CAIRN_BINARY\" mount --upper up bb m
echo hello > m/tmp/new
chmod 4711 m/bin/busybox
rm m/bin/vi
rm -r m/etc
mkdir m/etc && echo rebuilt > m/etc/only
setfattr -n security.cairn.owner -v 33:44 m/tmp/new
stat -c 'new %U %s' m/tmp/new
stat -c 'busybox %a %s' m/bin/busybox
test ! -e m/bin/vi && echo 'vi gone'
ls m/etc
touch m/.wh.x 2>/dev/null || echo 'wh refused'
\"\$CAIRN_BINARY\" umount m
"
check "a mount with an upper serves and unmounts (status $status)" status_is 0
check "a new file is written" out_has "new nobody 6"
check "chmod of a lower file keeps its size" out_has "busybox 4711 $(tar -xOf "$CAIRN_BUSYBOX_TAR" ./bin/busybox 2>/dev/null | wc -c || echo 0)"
check "a deleted lower file is gone" out_has "vi gone"
check "a recreated directory shows only its new content" out_has "only"
check "a name beginning with .wh. cannot be created" out_has "wh refused"
check "the upper record has the whiteout" file_has "$tmp/up/meta.jsonl" '"p":"bin/vi"'
check "the chmod is a metacopy (no data copied)" test "$(stat -c %s "$tmp/up/root/bin/busybox" 2>/dev/null)" = 0
check "the record marks the metacopy" file_has "$tmp/up/meta.jsonl" '"c":true'
check "security.cairn.owner is recorded" file_has "$tmp/up/meta.jsonl" '"g":44,"m":33188,"p":"tmp/new","u":33'
check "the recreated directory is opaque" file_has "$tmp/up/meta.jsonl" '"o":true'

ns "
cd '$tmp'
\"\$CAIRN_BINARY\" mount bb up m || exit 1
stat -c 'busybox %a %s' m/bin/busybox
m/bin/busybox true && echo 'busybox runs'
ls m/etc
test -e m/bin/vi || echo 'vi still gone'
touch m/x 2>/dev/null || echo 'read-only'
\"\$CAIRN_BINARY\" umount m
"
check "the upper mounts as a layer above the image (status $status)" status_is 0
check "the metacopy serves the lower data" out_has "busybox runs"
check "the whiteout still hides" out_has "vi still gone"
check "a mount without --upper is read-only" out_has "read-only"

# --- open files: shared writable mmap, locks, fallocate, unlink while open, close -------
if command -v python3 >/dev/null; then
  cat >"$tmp/files.py" <<'PY'
import fcntl, mmap, os, sys
m = sys.argv[1]
fd = os.open(m + "/etc/passwd", os.O_RDWR)
mm = mmap.mmap(fd, 4, mmap.MAP_SHARED)
mm[0:4] = b"ROOT"; mm.flush(); mm.close()
print("mmap", open(m + "/etc/passwd").read(4))
fcntl.flock(fd, fcntl.LOCK_EX); fcntl.lockf(fd, fcntl.LOCK_EX, 1)
os.posix_fallocate(fd, 0, 1 << 20)
print("size", os.fstat(fd).st_size)
os.unlink(m + "/etc/passwd")
print("unlinked", os.path.exists(m + "/etc/passwd"), os.fstat(fd).st_nlink, os.pread(fd, 4, 0).decode())
os.close(fd)
print("closed")
PY
  ns "
cd '$tmp'
rm -rf up2; \"\$CAIRN_BINARY\" mount --upper up2 bb m || exit 1
python3 '$tmp/files.py' m
\"\$CAIRN_BINARY\" umount m
"
  check "a shared writable mapping writes through (status $status)" out_has "mmap ROOT"
  check "fallocate extends the file" out_has "size 1048576"
  check "an unlinked open file stays readable" out_has "unlinked False 0 ROOT"
  check "closing it after the unlink succeeds" out_has "closed"
else
  skip "open-file semantics (mmap, locks, unlink while open)" "python3 is not installed"
fi

# --- bad input -----------------------------------------------------------------------------
ns "cd '$tmp'; \"\$CAIRN_BINARY\" mount no-such-image m"
check "cairn mount of an unknown image fails" status_is 1
check "... saying which" err_has "no such image: no-such-image"
mkdir -p "$tmp/plaindir"
ns "cd '$tmp'; \"\$CAIRN_BINARY\" mount plaindir m"
check "cairn mount of a plain directory explains the layer format" err_has "not a cairn layer (it has no root/)"
ns "cd '$tmp'; \"\$CAIRN_BINARY\" mount bb missing-mountpoint"
check "cairn mount on a missing mount point fails" status_is 1
check "... naming it" err_has "missing-mountpoint"
ns "\"\$CAIRN_OVERLAYFS\" -o upperdir=/tmp m"
check "cairn-overlayfs without layers fails" err_has "no layers"
ns "cd '$tmp'; mkdir -p l u; \"\$CAIRN_OVERLAYFS\" -o lowerdir=l,upperdir=u m"
check "cairn-overlayfs with an upperdir but no workdir says so" err_has "needs a workdir"
ns "cd '$tmp'; mkdir -p l u w; \"\$CAIRN_OVERLAYFS\" -o lowerdir=l,upperdir=u,workdir=w,frobnicate,,volatile m && ls -a m && umount m"
check "cairn-overlayfs ignores unknown options with a warning" err_has "unknown option frobnicate ignored"
check "... and mounts anyway (status $status)" status_is 0
"$overlayfs" --help >"$tmp/out" 2>&1
check "cairn-overlayfs --help shows the usage" out_has "Usage: cairn-overlayfs"
"$overlayfs" --version >"$tmp/out" 2>&1
check "cairn-overlayfs --version names itself" out_has "cairn-overlayfs"

# --- SIGKILL of the server ---------------------------------------------------------------
# Inside a user namespace: the mount lives in the namespace and goes with it.
ns "
cd '$tmp'
\"\$CAIRN_BINARY\" mount -f bb m & server=\$!
for _ in \$(seq 50); do mountpoint -q m && break; sleep 0.1; done
mountpoint -q m && echo mounted
kill -KILL \$server; wait \$server 2>/dev/null
ls m >/dev/null 2>&1 || echo 'dead mount fails cleanly'
"
check "a killed server's mount answers with an error, not a hang" out_has "dead mount fails cleanly"
check "... and the namespace held it (nothing in our mount table)" \
  bash -c "! grep -q '$tmp/m' /proc/self/mountinfo"

# SIGTERM (fuse-overlayfs's way to stop it) ends every serving thread, also after a burst
# of requests that set one polling, and unmounts.
ns "
cd '$tmp'; mkdir -p tl tu tw tm; echo t >tl/f
\"\$CAIRN_OVERLAYFS\" -f -o lowerdir=tl,upperdir=tu,workdir=tw tm & server=\$!
for _ in \$(seq 50); do mountpoint -q tm && break; sleep 0.1; done
cat tm/f >/dev/null; for i in \$(seq 200); do echo \$i >tm/n\$i; done
kill -TERM \$server
( sleep 5; kill -KILL \$server 2>/dev/null ) & dog=\$!
wait \$server; st=\$?
kill \$dog 2>/dev/null
[ \$st -ne 137 ] && echo \"ended on SIGTERM (status \$st)\" || echo 'still serving after 5 s'
mountpoint -q tm && echo 'still mounted' || echo 'unmounted'
"
check "SIGTERM ends cairn-overlayfs with all its threads" out_has "ended on SIGTERM"
check "... and unmounts" out_has "unmounted"

# Outside one (fusermount3 with auto_unmount): no stale mount, no process behind.
if command -v fusermount3 >/dev/null && [ -u "$(command -v fusermount3)" ]; then
  mkdir -p "$tmp/plain/l" "$tmp/plain/m"
  echo x >"$tmp/plain/l/f"
  "$overlayfs" -f -o lowerdir="$tmp/plain/l" "$tmp/plain/m" 2>"$tmp/err" &
  server=$!
  for _ in $(seq 50); do grep -q " $tmp/plain/m " /proc/self/mountinfo && break; sleep 0.1; done
  check "cairn-overlayfs mounts outside a user namespace" grep -q " $tmp/plain/m " /proc/self/mountinfo
  check "... and serves" test "$(cat "$tmp/plain/m/f" 2>/dev/null)" = x
  kill -KILL "$server"
  wait "$server" 2>/dev/null
  for _ in $(seq 50); do grep -q " $tmp/plain/m " /proc/self/mountinfo || break; sleep 0.1; done
  check "SIGKILL of the server leaves no mount" bash -c "! grep -q ' $tmp/plain/m ' /proc/self/mountinfo"
  check "... and no process behind" no_process "$tmp/plain/m"
else
  skip "SIGKILL outside a user namespace leaves no mount" "no setuid fusermount3"
fi

finish
