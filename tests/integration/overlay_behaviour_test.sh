#!/usr/bin/env bash
# Behaviour test of cairn's FUSE overlay filesystem (cairn-overlayfs) against the kernel's
# overlayfs, the reference.
#
# Every scenario builds two identical pairs of lower layers (plain directories: files, dirs,
# symlinks, hard links, fifos, sparse files, kernel-format whiteouts made with `mknod c 0 0`
# and an opaque directory marked with user.overlay.opaque=y; lower2 lies on top of lower1),
# mounts one pair with the kernel's overlayfs (`mount -t overlay -o userxattr,...`) and the
# other with the candidate, each in its own user and mount namespace (`unshare -Urm`, plus a
# pid namespace, so that no process of a run can outlive it), runs the same operations on
# both merged views and compares
#   - what the operations observed (outputs, error reasons, stat results),
#   - a canonical listing of the merged view: path, type, mode, uid, gid, size (rdev for
#     devices), nlink, symlink target, sha256 of the content, and hard-link groups as
#     classes of equal inode numbers (never the raw numbers),
#   - the same listing of the upper directory after the unmount, with a line for each opaque
#     directory whatever the namespace of its xattr (user.overlay., trusted.overlay.,
#     user.fuseoverlayfs.): the upper directory is what a commit turns into a layer,
#   - the merged view after a remount with the listing before the unmount (state that lives
#     only in a daemon's memory shows up there).
# Left out: directory sizes and link counts (a merged directory has nlink 1 on the kernel's
# overlay), the link count and inode of whiteouts (the kernel links them all to one), the
# workdir, and the content of files over 64 MiB beyond their first and last MiB (the sparse
# scenarios read their data regions back themselves).
#
# Scenarios: whiteouts (rm of lower files), opaque (rm -rf of a lower dir, made again),
# recreate (the old names in such a dir), rename (mv of lower files and dirs; the kernel
# answers EXDEV for dirs and mv copies), hardlinks (link counts and inode classes after a
# copy-up), rmtree (rm -rf of lower trees), metadata (chmod, chown, touch -d), timestamps
# (mtime kept by copy-up, cp -p, touch), dirtimes (a copied-up directory's mtime), symlinks,
# fifo, fifocopyup, sparse (truncate -s 2G, a write at 2 GiB), sparsecopyup (a 1 GiB sparse
# lower file), concurrent (writers appending to the same and to distinct files), bigdir
# (100,000 entries: create, list, count, remove), whnames (names beginning with .wh.: the
# kernel makes them, cairn must refuse), perms (uid 1000 against root's 0644 lower file and
# more; needs a subordinate id range for `unshare --map-auto`, else it is skipped).
#
# Candidate: $CAIRN_OVERLAYFS, else `cairn-overlayfs` in PATH. It is called the way
# fuse-overlayfs is, `CANDIDATE -o lowerdir=L2:L1,upperdir=U,workdir=W MERGED`, must
# daemonize, and is unmounted with `umount MERGED` inside the namespace.
# Environment:
#   CANDIDATE_IS_CAIRN=1 (default): also assert what holds for cairn only (.wh. names are
#     refused); 0 records the candidate's behaviour instead.
#   CANDIDATE_DEVIATIONS: known deviations of a candidate, space- or comma-separated; each
#     turns the assertions that it breaks into TAP TODO items (reported, not counted):
#       hardlinks            hard links are not kept the kernel's way after a copy-up
#       stale-lookups        a removed lower dir's entries are found in the dir made anew
#       dir-mtimes           a copied-up directory's mtime is not kept in the upper dir
#       fifo-copy-up         the copy-up of a fifo fails and leaves a regular file
#       sparse-copy-up       the copy-up of a sparse file fills its holes
#       aufs-opaque-markers  opaque upper dirs also hold .wh..wh..opq and .wh..opq (these
#                            are then left out of the upper comparison)
#       redundant-opaque     dirs with no lower dir beneath are marked opaque (such marks
#                            are then left out of the upper comparison)
#       slow-big-dirs        the bigdir scenario does not finish in its time limit
#     "fuse-overlayfs" stands for all of these (fuse-overlayfs 1.10 shows each), and is the
#     default when CANDIDATE_IS_CAIRN=0 and the candidate is named fuse-overlayfs; else the
#     default is none. CANDIDATE_BREAKS_HARDLINKS=1 adds hardlinks.
#   OVERLAY_BIG_DIR_ENTRIES (default 100000); OVERLAY_BIG_DIR_FACTOR (default 8) and
#   OVERLAY_BIG_DIR_TIMEOUT (default 90): the candidate's run of bigdir may take FACTOR times
#   the kernel's run, at least 30 s and at most TIMEOUT s (the kernel's run gets TIMEOUT s);
#   OVERLAY_SCENARIOS (default: all, space-separated),
#   OVERLAY_KEEP=1 (keep the temporary directory, to look at the listings).
# Needs: unprivileged user namespaces, overlayfs mountable in a user namespace (Linux 5.11+),
# read-write /dev/fuse, setfattr/getfattr (package attr), util-linux (unshare, setpriv),
# procps (pgrep, pkill), and for the perms scenario newuidmap/newgidmap (package uidmap) and
# a range in /etc/subuid and /etc/subgid. Exits 77 when one of the first ones is missing,
# 1 when an assertion failed. Runs in about 2 to 3 minutes (the bigdir limit included).
# Usage: CAIRN_OVERLAYFS=build/src/cairn-overlayfs tests/integration/overlay_behaviour_test.sh
#   against fuse-overlayfs: CAIRN_OVERLAYFS=/usr/bin/fuse-overlayfs CANDIDATE_IS_CAIRN=0 ...
set -euo pipefail
self=$(readlink -f "$0")
# shellcheck source-path=SCRIPTDIR source=tap.sh disable=SC1091
. "$(dirname "$self")/tap.sh"

export LC_ALL=C TZ=UTC
big_entries=${OVERLAY_BIG_DIR_ENTRIES:-100000}
stamp=@1600000000

# ===== helpers that run inside the namespaces ================================================

# note KEY VALUE...: an observation that must be the same on both backends.
note() {
  local key=$1
  shift
  printf '%s: %s\n' "$key" "$*" >>"$obs"
}
# info TEXT...: an observation recorded for the report only (printed as a TAP comment).
info() { printf '%s\n' "$*" >>"$infof"; }
# measure KEY NUMBER: a number that must be roughly the same on both backends.
measure() { printf '%s %s\n' "$1" "$2" >>"$measuref"; }
# reason TEXT: the last line's text after its last ": " (the strerror part of a message).
reason() {
  local last
  last=$(printf '%s\n' "$1" | tail -n 1)
  printf '%s' "${last##*: }"
}
# outcome COMMAND...: "ok", or "fails: REASON".
outcome() {
  local err
  if err=$("$@" 2>&1 >/dev/null); then
    printf ok
  else
    printf 'fails: %s' "$(reason "$err")"
  fi
}
# try KEY COMMAND...: notes the command's outcome.
try() {
  local key=$1
  shift
  note "$key" "$(outcome "$@")"
}
# try_info KEY COMMAND...: records the command's outcome for the report only.
try_info() {
  local key=$1
  shift
  info "$key: $(outcome "$@")"
}
short_sha() { sha256sum | cut -c1-16; }
kib() { echo $(($(stat -c '%b * %B' "$1") / 1024)); }
# shellcheck disable=SC2012 # ls is what is tested: its listing, in its order
ls_a() { ls -A "$@" 2>&1 | tr '\n' ' '; }

# listing DIR: the canonical listing of the tree under DIR (see the header).
listing() {
  local dir=$1 f
  (
    cd "$dir"
    find . -type f -size -65537k -print0 2>/dev/null | xargs -0 -r sha256sum >"$scratch/sha" || true
    { find . -type f -size +65536k -print0 2>/dev/null || true; } | while IFS= read -r -d '' f; do
      printf '%s  %s\n' "sampled:$({ head -c 1048576 "$f"; tail -c 1048576 "$f"; } | sha256sum | cut -c1-64)" "$f"
    done >>"$scratch/sha"
    find . \( -type c -o -type b \) -exec stat -c '%t:%T %n' {} + >"$scratch/rdev" 2>/dev/null || true
    find . -printf '%y\t%m\t%U\t%G\t%s\t%n\t%i\t%l\t%p\n' 2>/dev/null >"$scratch/find" || true
  )
  awk -F '\t' -v sha="$scratch/sha" -v rdev="$scratch/rdev" '
    BEGIN {
      while ((getline line < sha) > 0) { h = line; sub(/  .*/, "", h); p = substr(line, length(h) + 3); hash[p] = h }
      while ((getline line < rdev) > 0) { r = line; sub(/ .*/, "", r); p = substr(line, length(r) + 2); dev[p] = r }
    }
    {
      type = $1; size = $5; nlink = $6; p = $9
      if (type == "d") { size = "-"; nlink = "-" }
      if (type == "c" || type == "b") size = "rdev=" dev[p]
      # The kernel makes whiteouts as hard links to one shared whiteout: not a hard link
      # that a layer keeps.
      whiteout = (type == "c" && size == "rdev=0:0")
      if (whiteout) nlink = "-"
      content = (type == "f") ? hash[p] : "-"
      target = (type == "l") ? $8 : "-"
      print p "\t" type "\t" $2 "\t" $3 "\t" $4 "\t" size "\t" nlink "\t" target "\t" content
      if (type != "d" && !whiteout) { members[$7] = ($7 in members) ? members[$7] SUBSEP p : p; count[$7]++ }
    }
    END {
      for (i in count) if (count[i] > 1) {
        n = split(members[i], m, SUBSEP)
        for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (m[b] < m[a]) { t = m[a]; m[a] = m[b]; m[b] = t }
        g = m[1]; for (a = 2; a <= n; a++) g = g " " m[a]
        print "hard-link group\t" g
      }
    }' "$scratch/find" | sort
}

# upper_listing DIR: listing DIR plus one line per opaque directory, whatever the namespace of
# its opaque xattr.
upper_listing() {
  listing "$1"
  (cd "$1" || exit 0; getfattr -R -h -d -m - . 2>/dev/null || true) | awk '
    /^# file: / { p = substr($0, 9); if (p != "." && substr(p, 1, 2) != "./") p = "./" p; next }
    /^(user|trusted)\.(overlay|fuseoverlayfs)\.opaque="y"$/ { print p "\topaque" }' | sort
}

mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# others_alive: some process of this pid namespace other than this shell is still alive
# (zombies excepted). Builtins only, so that the check does not see itself.
others_alive() {
  local d pid stat
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = "$$" ] && continue
    stat=""
    read -r stat <"$d/stat" 2>/dev/null || continue
    stat=${stat##*) }
    [ "${stat%% *}" = Z ] && continue
    return 0
  done
  return 1
}

# mount_backend BACKEND DIR: mounts DIR/merged with BACKEND, and waits for the mount to show.
mount_backend() {
  local backend=$1 d=$2 i
  case $backend in
    kernel)
      mount -t overlay overlay -o "userxattr,lowerdir=$d/lower2:$d/lower1,upperdir=$d/upper,workdir=$d/work" \
        "$d/merged" 2>>"$d/mount.err" || return 1 ;;
    candidate)
      "$OVERLAY_CANDIDATE" -o "lowerdir=$d/lower2:$d/lower1,upperdir=$d/upper,workdir=$d/work" \
        "$d/merged" 2>>"$d/mount.err" || return 1 ;;
  esac
  for ((i = 0; i < 50; i++)); do
    mounted "$d/merged" && return 0
    sleep 0.1
  done
  echo "the $backend mount did not appear on $d/merged" >>"$d/mount.err"
  return 1
}

# unmount DIR PREFIX: umount DIR/merged, then waits up to 10 s for the daemon to exit; notes
# PREFIX-unmounted and PREFIX-daemon-exited in DIR/state.
unmount() {
  local d=$1 prefix=$2 i
  if umount "$d/merged" 2>>"$d/umount.err"; then
    echo "$prefix-unmounted" >>"$d/state"
  else
    umount -l "$d/merged" 2>/dev/null || true
  fi
  for ((i = 0; i < 100; i++)); do
    others_alive || break
    sleep 0.1
  done
  others_alive || echo "$prefix-daemon-exited" >>"$d/state"
}

# inside BACKEND SCENARIO DIR: runs in the namespaces. Mounts DIR/merged with the backend,
# runs the scenario's operations there, lists the merged view, unmounts, waits for the
# daemon to go, lists the upper directory, then mounts again and lists the merged view once
# more. The kernel run also lists the directories of the lower layers' own merged view (a
# read-only overlay of the lower layers alone): opacity matters only where there is one.
inside() {
  local backend=$1 scenario=$2 d=$3
  obs=$d/obs.txt infof=$d/info.txt measuref=$d/measure.txt scratch=$d
  : >"$obs"
  : >"$infof"
  : >"$measuref"
  : >"$d/state"
  local t0
  t0=$(date +%s%N)
  mount_backend "$backend" "$d" || { cat "$d/mount.err" >&2; exit 3; }
  echo mounted >>"$d/state"
  (set +e; cd "$d/merged" && "ops_$scenario") >"$d/ops.log" 2>&1 || true
  echo operated >>"$d/state"
  listing "$d/merged" >"$d/visible.txt"
  unmount "$d" first
  if declare -F "upper_ops_$scenario" >/dev/null; then
    (set +e; cd "$d/upper" && "upper_ops_$scenario") >>"$d/ops.log" 2>&1 || true
  fi
  upper_listing "$d/upper" >"$d/upper.txt"
  echo listed >>"$d/state"
  mount_backend "$backend" "$d" || { cat "$d/mount.err" >&2; exit 4; }
  listing "$d/merged" >"$d/visible-remount.txt"
  unmount "$d" second
  if [ "$backend" = kernel ]; then
    mount -t overlay overlay -o "ro,userxattr,lowerdir=$d/lower2:$d/lower1" "$d/merged"
    (cd "$d/merged" && find . -type d) | sort >"$d/lowerdirs.txt"
    umount "$d/merged"
  fi
  echo "took $((($(date +%s%N) - t0) / 1000000)) ms" >"$d/elapsed"
  echo finished >>"$d/state"
}

# build SCENARIO DIR...: builds the layers of the scenario in each DIR (inside a user
# namespace: whiteouts need mknod, and ownership other than root needs the id mapping).
build() {
  local scenario=$1 d
  shift
  for d in "$@"; do
    mkdir -p "$d/lower1" "$d/lower2" "$d/upper" "$d/work" "$d/merged"
    (
      cd "$d"
      base_layers
      "build_$scenario"
      find lower1 lower2 -exec touch -h -d "$stamp" {} +
      if declare -F "restamp_$scenario" >/dev/null; then "restamp_$scenario"; fi
    )
  done
}

# The layers every scenario starts from. lower2 lies on top of lower1: it overrides
# etc/hostname, whites out etc/group and var/gone, and makes usr/share opaque.
base_layers() {
  mkdir -p lower1/etc lower1/bin lower1/usr/share/doc lower1/usr/share/old lower1/var/gone/sub \
    lower2/etc lower2/usr/share/new lower2/var
  printf 'root:x:0:0:root:/root:/bin/sh\n' >lower1/etc/passwd
  printf 'root:x:0:\n' >lower1/etc/group
  echo lower1 >lower1/etc/hostname
  printf '#!/bin/sh\necho tool\n' >lower1/bin/tool
  chmod 0755 lower1/bin/tool
  echo doc >lower1/usr/share/doc/readme
  echo old >lower1/usr/share/old/file
  echo gone >lower1/var/gone/sub/file
  ln -s etc/passwd lower1/passwd-link
  echo lower2 >lower2/etc/hostname
  echo added >lower2/etc/added
  echo new >lower2/usr/share/new/readme
  mknod lower2/etc/group c 0 0
  mknod lower2/var/gone c 0 0
  setfattr -n user.overlay.opaque -v y lower2/usr/share
}

# ===== scenarios ===============================================================================
# build_X runs in a backend's directory (lower1, lower2); ops_X runs in the merged view;
# upper_ops_X (optional) runs in the upper directory after the unmount.

# --- whiteouts: rm of lower files --------------------------------------------------------------
build_whiteouts() {
  mkdir -p lower1/data
  for i in 1 2 3; do echo "data $i" >"lower1/data/f$i"; done
}
ops_whiteouts() {
  note ls-before "$(ls_a . etc data)"
  try rm-lower1-file rm etc/passwd
  try rm-lower2-file rm etc/added
  try rm-overridden-file rm etc/hostname
  try rm-symlink rm passwd-link
  try rm-whited-out rm etc/group
  try stat-whited-out-dir stat var/gone
  try rm-under-opaque rm usr/share/doc/readme
  try rm-in-opaque-dir rm usr/share/new/readme
  try rm-all-in-dir rm data/f1 data/f2 data/f3
  try create-then-rm sh -c 'echo tmp >etc/tmpfile && rm etc/tmpfile'
  try recreate-over-whiteout sh -c 'echo again >etc/passwd'
  note passwd "$(cat etc/passwd)"
  try stat-removed stat etc/added
  note ls-after "$(ls_a . etc data usr/share usr/share/new var)"
}

# --- opaque directories: rm -rf of a lower dir and mkdir again ----------------------------------
build_opaque() {
  mkdir -p lower1/app/lib lower2/app/bin
  echo lib >lower1/app/lib/libx
  echo bin >lower2/app/bin/run
  echo conf >lower1/app/conf
}
ops_opaque() {
  try rm-rf-merged-dir rm -rf app
  try recreate-dir mkdir app
  note ls-recreated "$(ls_a app)"
  try new-content sh -c 'echo fresh >app/conf && mkdir app/etc && echo mine >app/etc/x'
  note ls-new "$(ls_a app app/etc)"
  note conf "$(cat app/conf)"
  try rm-rf-opaque-lower rm -rf usr/share
  try recreate-share mkdir -p usr/share/doc
  note ls-share "$(ls_a usr/share usr/share/doc)"
  try mkdir-over-whiteout mkdir var/gone
  note ls-gone "$(ls_a var/gone)"
  try emptied-dir sh -c 'rm bin/tool && rmdir bin && mkdir bin'
  note ls-bin "$(ls_a bin)"
  try rm-rf-etc rm -rf etc
  try mkdir-etc mkdir etc
  note ls-etc "$(ls_a etc)"
  note ls-root "$(ls_a .)"
}

# --- a removed lower directory made again, and the names it had ------------------------------
build_recreate() {
  mkdir -p lower1/app/lib lower2/app/bin lower1/data/sub
  echo lib >lower1/app/lib/libx
  echo bin >lower2/app/bin/run
  echo conf >lower1/app/conf
  echo f >lower1/data/sub/f
}
ops_recreate() {
  try rm-rf rm -rf app
  try mkdir mkdir app
  note ls-app "$(ls_a app)"
  try mkdir-old-name mkdir app/lib
  try stat-old-file stat app/lib/libx
  try stat-old-dir stat app/bin
  try create-old-file sh -c 'echo mine >app/lib/libx'
  note libx "$(cat app/lib/libx)"
  try rmdir-emptied sh -c 'rm data/sub/f && rmdir data/sub'
  try mkdir-emptied mkdir data/sub
  try stat-emptied-file stat data/sub/f
  note ls-data "$(ls_a data data/sub)"
}

# --- rename of lower files and directories --------------------------------------------------
build_rename() {
  mkdir -p lower1/tree/sub lower2/tree lower1/dest
  echo a >lower1/tree/a
  echo b >lower2/tree/b
  echo deep >lower1/tree/sub/deep
  echo victim >lower1/dest/victim
}
ops_rename() {
  try mv-file-in-dir mv etc/hostname etc/hostname.old
  try mv-file-across-dirs mv etc/passwd usr/passwd
  try mv-lower2-file mv etc/added bin/added
  try mv-symlink mv passwd-link link2
  note link2 "$(readlink link2)"
  try mv-merged-dir mv tree moved-tree
  try stat-old-dir stat tree
  note moved-tree "$(ls_a moved-tree moved-tree/sub)"
  note moved-content "$(cat moved-tree/a moved-tree/b moved-tree/sub/deep | tr '\n' ' ')"
  try mkdir-old-name mkdir tree
  note ls-new-tree "$(ls_a tree)"
  try mv-opaque-child-dir mv usr/share/new usr/share/renamed
  try mv-upper-dir sh -c 'mkdir updir && echo u >updir/f && mv updir updir2'
  note updir2 "$(ls_a updir2)"
  try mv-over-lower-file sh -c 'echo replaced >newfile && mv newfile dest/victim'
  note victim "$(cat dest/victim)"
  try mv-onto-whited-out-name mv usr/share/renamed/readme etc/group
  note group "$(cat etc/group)"
  try mv-dir-into-itself mv bin bin/sub
  try mv-lower-dir-top mv bin sbin
  note ls-root "$(ls_a . etc usr usr/share sbin)"
}

# --- hard links after copy-up ---------------------------------------------------------------
build_hardlinks() {
  mkdir -p lower1/hl lower1/hl2
  echo pair >lower1/hl/a
  ln lower1/hl/a lower1/hl/b
  echo triple >lower1/hl/c
  ln lower1/hl/c lower1/hl/d
  ln lower1/hl/c lower1/hl2/e
}
# links N1 N2: "nlink1 nlink2 same|different".
links() {
  local s
  [ "$(stat -c %i "$1")" = "$(stat -c %i "$2")" ] && s=same || s=different
  echo "$(stat -c %h "$1") $(stat -c %h "$2") inode:$s"
}
ops_hardlinks() {
  note a-b-before "$(links hl/a hl/b)"
  note c-e-before "$(links hl/c hl2/e)"
  try append sh -c 'echo more >>hl/a'
  note a-b-after-append "$(links hl/a hl/b)"
  note b-content "$(tr '\n' ' ' <hl/b)"
  try chmod-linked chmod 0600 hl/d
  note c-d-after-chmod "$(links hl/c hl/d)"
  note d-e-after-chmod "$(links hl/d hl2/e)"
  note modes "$(stat -c '%n %a' hl/c hl/d hl2/e | tr '\n' ' ')"
  try new-link ln hl/c hl/new
  note c-new "$(links hl/c hl/new)"
  try new-link-of-upper sh -c 'echo up >hl/up && ln hl/up hl/up2'
  note up-up2 "$(links hl/up hl/up2)"
}

# --- rm -rf of lower trees ------------------------------------------------------------------
build_rmtree() {
  mkdir -p lower1/tree/a lower1/tree/b/c/d lower2/tree/a lower2/tree/x lower1/tree2/sub
  for i in 1 2 3; do echo "$i" >"lower1/tree/a/$i"; done
  echo e >lower1/tree/b/c/d/e
  echo four >lower2/tree/a/4
  echo x >lower2/tree/x/y
  ln -s a lower1/tree/link
  mknod lower2/tree/a/2 c 0 0
  echo s >lower1/tree2/sub/s
}
ops_rmtree() {
  try modify-in-tree2 sh -c 'echo u >tree2/sub/new && chmod 0600 tree2/sub/s'
  try rm-rf-tree rm -rf tree
  try stat-tree stat tree
  try rm-rf-tree2 rm -rf tree2
  try rm-rf-usr rm -rf usr
  try file-over-dir sh -c 'echo file >tree'
  note tree "$(cat tree)"
  try mkdir-tree2 mkdir -p tree2/sub
  note ls-tree2 "$(ls_a tree2 tree2/sub)"
  try rm-rf-var rm -rf var
  note ls-root "$(ls_a .)"
}

# --- metadata: chmod, chown, touch -d ----------------------------------------------------------
build_metadata() {
  mkdir -p lower1/meta
  echo content >lower1/meta/file
  echo content2 >lower1/meta/file2
}
ops_metadata() {
  try chmod-file chmod 0600 etc/passwd
  try chmod-setuid chmod 4755 bin/tool
  try chmod-dir chmod 0700 usr/share
  try chmod-via-symlink chmod 0640 passwd-link
  try chown-file chown 0:0 etc/hostname
  try chown-symlink chown -h 0:0 passwd-link
  try touch-d touch -d '2001-02-03 04:05:06.5' etc/added
  try touch-m touch -m -d '2003-01-01' meta/file
  try touch-a touch -a -d '2004-01-01' meta/file2
  note stat "$(stat -c '%n %a %u %g %.9Y' etc/passwd bin/tool usr/share etc/hostname etc/added meta/file | tr '\n' ' ')"
  note file2-mtime "$(stat -c '%.9Y' meta/file2)"
  note contents "$(cat etc/passwd bin/tool etc/hostname etc/added meta/file | short_sha)"
  note link "$(stat -c '%N %h' passwd-link)"
}
upper_ops_metadata() {
  note upper-stat "$(stat -c '%n %a %u %g %.9Y' etc/passwd bin/tool usr/share etc/hostname etc/added meta/file | tr '\n' ' ')"
}

# --- timestamps: mtime kept by copy-up, cp -p and touch ---------------------------------------
build_timestamps() {
  mkdir -p lower1/t
  echo t >lower1/t/file
}
restamp_timestamps() {
  touch -d @1600000000.123456789 lower1/etc/passwd lower1/t/file
}
ops_timestamps() {
  note lower-mtimes "$(stat -c '%n %.9Y' etc/passwd t/file etc | tr '\n' ' ')"
  try cp-p cp -p etc/passwd etc/passwd.copy
  note cp-p-mtime "$(stat -c '%.9Y' etc/passwd.copy)"
  try chmod-copy-up chmod 0600 t/file
  note chmod-keeps-mtime "$(stat -c '%.9Y' t/file)"
  try touch-d touch -d @1234567890.25 etc/hostname
  note touch-d-mtime "$(stat -c '%.9Y' etc/hostname)"
  try touch-h-symlink touch -h -d @1111111111 passwd-link
  note symlink-mtime "$(stat -c '%.9Y' passwd-link)"
  local before
  before=$(date +%s)
  try append-updates sh -c 'echo x >>bin/tool'
  local m
  m=$(stat -c %Y bin/tool)
  if [ "$m" -ge $((before - 2)) ] && [ "$m" -le $(($(date +%s) + 2)) ]; then note append-mtime now; else note append-mtime "$m (not now)"; fi
  note untouched "$(stat -c '%n %.9Y' usr/share/new/readme etc/added | tr '\n' ' ')"
}
upper_ops_timestamps() {
  note upper-mtimes "$(stat -c '%n %.9Y' etc/passwd.copy t/file etc/hostname passwd-link | tr '\n' ' ')"
}

# --- directory times: kept by a copy-up, set by touch -------------------------------------
build_dirtimes() {
  mkdir -p lower1/t/sub lower1/meta
  echo s >lower1/t/sub/file
  echo m >lower1/meta/file
}
restamp_dirtimes() { touch -d @1500000000.5 lower1/t/sub; }
ops_dirtimes() {
  try chmod-in-subdir chmod 0600 t/sub/file
  note parent-dir-mtime-after-copy-up "$(stat -c '%.9Y' t/sub)"
  try touch-d-dir touch -d '2002-03-04 05:06:07' meta
  note touched-dir-mtime "$(stat -c '%.9Y' meta)"
}
upper_ops_dirtimes() {
  note upper-dir-mtimes "$(stat -c '%n %.9Y' t/sub meta | tr '\n' ' ')"
}

# --- symlinks -----------------------------------------------------------------------------------
build_symlinks() {
  ln -s /etc/passwd lower1/abs
  ln -s etc/passwd lower1/rel
  ln -s nowhere lower1/dangling
  ln -s usr/share/new lower1/dirlink
  ln -s rel lower1/chain
  ln -s loop2 lower1/loop1
  ln -s loop1 lower1/loop2
  ln -s etc/hostname lower2/rel2
}
ops_symlinks() {
  note targets "$(for l in abs rel dangling dirlink chain loop1 rel2; do printf '%s->%s ' "$l" "$(readlink "$l")"; done)"
  note via-rel "$(cat rel)"
  note via-chain "$(cat chain)"
  note via-rel2 "$(cat rel2)"
  note via-dirlink "$(ls_a dirlink/)"
  try cat-dangling cat dangling
  try cat-loop cat loop1
  try new-symlink ln -s etc/hostname newlink
  try replace-lower-symlink ln -sfn etc/added rel
  try rm-lower-symlink rm dangling
  try rename-symlink mv chain chain2
  try touch-h touch -h -d @1234567890 dirlink
  note dirlink-mtime "$(stat -c '%.9Y' dirlink)"
  try write-through-symlink sh -c 'echo via >>dirlink/readme'
  note readme "$(tr '\n' ' ' <usr/share/new/readme)"
  try readlink-f readlink -f chain2
  note targets-after "$(for l in rel newlink chain2 dirlink; do printf '%s->%s ' "$l" "$(readlink "$l")"; done)"
}

# --- fifos --------------------------------------------------------------------------------------
build_fifo() {
  mkfifo lower1/lowerfifo
  chmod 0640 lower1/lowerfifo
}
# through_fifo FIFO: writes a line into FIFO and reads it back.
through_fifo() {
  (echo "through $1" >"$1") &
  timeout 5 head -n 1 "$1"
  wait
}
ops_fifo() {
  try mkfifo mkfifo newfifo
  note types "$(stat -c '%n %F %a' newfifo lowerfifo | tr '\n' ' ')"
  note new-fifo "$(through_fifo newfifo 2>&1)"
  note lower-fifo "$(through_fifo lowerfifo 2>&1)"
  try mkfifo-in-lower-dir mkfifo etc/fifo
  try rm-fifo rm newfifo
}
# --- the copy-up of a fifo --------------------------------------------------------------------
build_fifocopyup() { build_fifo; }
ops_fifocopyup() {
  try chmod-lower-fifo chmod 0600 lowerfifo
  note after-chmod "$(stat -c '%n %F %a' lowerfifo)"
  note lower-fifo-after "$(through_fifo lowerfifo 2>&1)"
}

# --- sparse files -------------------------------------------------------------------------------
build_sparse() { :; }
# region FILE MIB LENGTH: sha of LENGTH bytes at MIB MiB.
region() { dd if="$1" bs=1M skip="$2" count=1 status=none | head -c "$3" | short_sha; }
ops_sparse() {
  try truncate-2g truncate -s 2G sparse2g
  note sparse2g "$(stat -c %s sparse2g) $(region sparse2g 1024 1048576)"
  measure sparse2g-kib "$(kib sparse2g)"
  try write-at-2g sh -c 'yes 0123456789abcdef | head -c 1048576 | dd of=offset bs=1M seek=2048 conv=notrunc status=none'
  note offset "$(stat -c %s offset) data:$(region offset 2048 1048576) hole:$(region offset 1000 1048576)"
  measure offset-kib "$(kib offset)"
  try extend sh -c 'echo end >>sparse2g'
  note sparse2g-extended "$(stat -c %s sparse2g) $(tail -c 4 sparse2g)"
  measure sparse2g-extended-kib "$(kib sparse2g)"
}
upper_ops_sparse() {
  measure upper-sparse2g-kib "$(kib sparse2g)"
  measure upper-offset-kib "$(kib offset)"
}

# --- the copy-up of a sparse lower file ----------------------------------------------------------
build_sparsecopyup() {
  truncate -s 1G lower1/lowersparse
  printf head | dd of=lower1/lowersparse conv=notrunc status=none
  printf middle | dd of=lower1/lowersparse bs=1M seek=512 conv=notrunc status=none
}
ops_sparsecopyup() {
  try append-lower-sparse sh -c 'echo appended >>lowersparse'
  note lowersparse "$(stat -c %s lowersparse) head:$(region lowersparse 0 4) middle:$(region lowersparse 512 6) hole:$(region lowersparse 700 1048576) tail:$(tail -c 9 lowersparse | short_sha)"
  measure lowersparse-kib "$(kib lowersparse)"
}
upper_ops_sparsecopyup() {
  measure upper-lowersparse-kib "$(kib lowersparse)"
}

# --- concurrent writers -----------------------------------------------------------------------
build_concurrent() {
  echo "lower line" >lower1/shared.log
  for w in 1 2 3 4; do echo "lower $w" >"lower1/lower.$w"; done
}
ops_concurrent() {
  local w i n=500
  for w in 1 2 3 4; do
    if [ $((w % 2)) = 1 ]; then # one open, many appends
      (for ((i = 1; i <= n; i++)); do echo "writer $w line $i"; done >>shared.log) &
    else # one open per append
      (for ((i = 1; i <= n; i++)); do echo "writer $w line $i" >>shared.log; done) &
    fi
    (for ((i = 1; i <= n; i++)); do echo "own $w line $i" >>"own.$w"; done) &
    (for ((i = 1; i <= n; i++)); do echo "lower $w line $i" >>"lower.$w"; done) &
  done
  wait
  note shared "lines $(wc -l <shared.log) first: $(head -n 1 shared.log)"
  for w in 1 2 3 4; do
    note "writer-$w" "$(grep -c "^writer $w line " shared.log) in order: $(grep "^writer $w line " shared.log | sort -t ' ' -k4,4n -c && echo yes)"
  done
  note garbled "$(grep -cvE '^(lower line|writer [1-4] line [0-9]+)$' shared.log)"
  note sorted "$(sort shared.log | short_sha)"
  note own "$(cat own.1 own.2 own.3 own.4 | short_sha)"
  note lower "$(cat lower.1 lower.2 lower.3 lower.4 | short_sha)"
  sort -o shared.log shared.log # the order of the writers' lines is arbitrary
}

# --- a directory with many entries ------------------------------------------------------------
build_bigdir() {
  mkdir -p lower1/big lower2/big
  for i in $(seq -w 0 99); do : >"lower1/big/l$i"; done
  for i in 0 1 2 3 4 5 6 7 8 9; do
    mknod "lower2/big/l0$i" c 0 0
    : >"lower2/big/m0$i"
  done
}
ops_bigdir() {
  local i t n=$OVERLAY_BIG_ENTRIES
  t=$(date +%s%N)
  for ((i = 0; i < n; i++)); do
    : >"big/f$i"
    # (progress, for a run killed at its time limit)
    if [ $((i % 20000)) = 19999 ]; then info "created $((i + 1)) entries after $((($(date +%s%N) - t) / 1000000)) ms"; fi
  done
  info "create $n entries: $((($(date +%s%N) - t) / 1000000)) ms"
  t=$(date +%s%N)
  note count-find "$(find big -mindepth 1 | wc -l)"
  # shellcheck disable=SC2012 # ls is what is tested
  note count-ls "$(ls -A big | wc -l)"
  # shellcheck disable=SC2012
  note names "$(ls -A big | sort | short_sha)"
  info "list and count: $((($(date +%s%N) - t) / 1000000)) ms"
  try stat-one stat big/f77777
  try stat-whited-out stat big/l05
  t=$(date +%s%N)
  try rm-rf rm -rf big
  info "rm -rf: $((($(date +%s%N) - t) / 1000000)) ms"
  try stat-removed stat big
  note ls-root "$(ls_a .)"
}

# --- names beginning with .wh. ----------------------------------------------------------------
build_whnames() {
  echo plain >lower1/plainfile
  echo src >lower1/renamesrc
  echo hidden >lower1/aufs-hidden
  echo marker >lower2/.wh.aufs-hidden # a regular file: no whiteout in the kernel's format
  mkdir lower1/sub
}
ops_whnames() {
  info "lower regular file .wh.aufs-hidden: ls shows: $(ls_a . | tr ' ' '\n' | grep -E 'aufs-hidden' | tr '\n' ' ')"
  try_info create touch .wh.created
  try_info create-in-subdir touch sub/.wh.created
  try_info mkdir mkdir .wh.dir
  try_info symlink ln -s plainfile .wh.symlink
  try_info mkfifo mkfifo .wh.fifo
  try_info hardlink ln plainfile .wh.hardlink
  try_info rename mv renamesrc .wh.renamed
  try_info opq touch .wh..wh..opq
  info "visible: $(ls_a . sub)"
  listing . >"$scratch/visible-wh.txt"
  upper_listing "$scratch/upper" >"$scratch/upper-wh.txt"
  note plainfile "$(cat plainfile)"
  # Undo what was made, so that the rest of the trees can be compared.
  rm -rf .wh.created sub/.wh.created .wh.dir .wh.symlink .wh.fifo .wh.hardlink .wh..wh..opq
  if [ -e .wh.renamed ]; then mv .wh.renamed renamesrc; fi
  info "visible after the cleanup: $(ls_a . sub)"
}

# --- permission checks of a non-owner (needs the full id mapping) ------------------------------
build_perms() {
  echo root data >lower1/rootfile
  chmod 0644 lower1/rootfile
  echo secret >lower1/secret
  chmod 0600 lower1/secret
  mkdir -p lower1/rootdir lower1/tmp lower1/home/user lower1/chowndir/sub
  echo f >lower1/rootdir/file
  chmod 1777 lower1/tmp
  echo r >lower1/tmp/rootowned
  echo own >lower1/home/user/own
  chown -R 1000:1000 lower1/home/user
  echo c >lower1/chownme
  echo c >lower1/chowndir/sub/f
}
as1000() { setpriv --reuid=1000 --regid=1000 --clear-groups -- "$@"; }
ops_perms() {
  try write-root-file as1000 sh -c 'echo x >>rootfile'
  try truncate-root-file as1000 truncate -s 0 rootfile
  try read-root-file as1000 cat rootfile
  try read-secret as1000 cat secret
  try create-in-rootdir as1000 touch rootdir/new
  try rm-in-rootdir as1000 rm -f rootdir/file
  try chmod-root-file as1000 chmod 0666 rootfile
  try touch-root-file as1000 touch -d @1 rootfile
  try rm-sticky as1000 rm -f tmp/rootowned
  try create-in-tmp as1000 sh -c 'echo mine >tmp/mine'
  try append-own as1000 sh -c 'echo more >>home/user/own'
  try mkdir-own as1000 mkdir home/user/newdir
  try chown-as-user as1000 chown 0 home/user/own
  try chown-by-root chown 1000:1000 chownme
  try chown-dir-by-root chown -R 1000:1000 chowndir
  note owners "$(stat -c '%n %u:%g %a' rootfile secret tmp/mine home/user/own home/user/newdir chownme chowndir chowndir/sub/f | tr '\n' ' ')"
  note rootfile "$(cat rootfile)"
}

# ===== the entry points inside the namespaces ==================================================
case ${1:-} in
  --inside)
    shift
    inside "$@"
    exit 0 ;;
  --build)
    shift
    build "$@"
    exit 0 ;;
  --probe) # --probe DIR: can the kernel overlay, and then the candidate, mount here?
    d=$2
    mkdir -p "$d/l" "$d/u" "$d/w" "$d/m" "$d/cu" "$d/cw" "$d/cm"
    echo probe >"$d/l/f"
    mount -t overlay overlay -o "userxattr,lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" || exit 10
    [ "$(cat "$d/m/f")" = probe ] || exit 10
    umount "$d/m"
    mknod "$d/l/wh" c 0 0 || exit 12
    setfattr -n user.overlay.opaque -v y "$d/l" || exit 13
    "$OVERLAY_CANDIDATE" -o "lowerdir=$d/l,upperdir=$d/cu,workdir=$d/cw" "$d/cm" || exit 11
    for ((i = 0; i < 50; i++)); do mounted "$d/cm" && break; sleep 0.1; done
    [ "$(cat "$d/cm/f")" = probe ] || exit 11
    umount "$d/cm" || exit 11
    exit 0 ;;
esac

# ===== the driver (outside the namespaces) ======================================================
start_time=$(date +%s)
candidate=${CAIRN_OVERLAYFS:-$(command -v cairn-overlayfs || true)}
is_cairn=${CANDIDATE_IS_CAIRN:-1}
big_timeout=${OVERLAY_BIG_DIR_TIMEOUT:-90}
# A FUSE filesystem pays a few request round trips per create and per unlink that the
# kernel's overlay does not; the limit is there to catch what grows worse than linearly
# (fuse-overlayfs's rm -rf of this directory takes more than an hour).
big_factor=${OVERLAY_BIG_DIR_FACTOR:-8}
scenarios=${OVERLAY_SCENARIOS:-"whiteouts opaque recreate rename hardlinks rmtree metadata timestamps dirtimes symlinks fifo fifocopyup sparse sparsecopyup concurrent bigdir whnames perms"}

skip_all() {
  echo "1..0 # SKIP $1"
  echo "overlay_behaviour_test: skipped: $1" >&2
  exit 77
}
if [ -z "$candidate" ]; then
  skip_all "no candidate: set CAIRN_OVERLAYFS or put cairn-overlayfs in PATH"
fi
case $candidate in */*) ;; *) candidate=$(command -v "$candidate" || echo "$candidate") ;; esac
case $candidate in /*) ;; *) candidate="$PWD/$candidate" ;; esac
[ -x "$candidate" ] || skip_all "the candidate $candidate is not an executable file"

# Known deviations of the candidate (see the header): each turns the assertions it breaks
# into TODO items.
fuse_overlayfs_deviations="hardlinks stale-lookups dir-mtimes fifo-copy-up sparse-copy-up aufs-opaque-markers redundant-opaque slow-big-dirs"
default_deviations=""
if [ "$is_cairn" != 1 ] && [ "$(basename "$candidate")" = fuse-overlayfs ]; then default_deviations=fuse-overlayfs; fi
deviations=" $(echo "${CANDIDATE_DEVIATIONS-$default_deviations}" | tr ',' ' ') "
if [ "${CANDIDATE_BREAKS_HARDLINKS:-0}" = 1 ]; then deviations+=" hardlinks "; fi
# cairn keeps hard links through copy-up as ext4 does, where the kernel's overlay (without
# index=on) splits them: the kernel is no reference there, ext4's semantics are (checked
# explicitly below).
if [ "$is_cairn" = 1 ]; then deviations+=" hardlinks "; fi
case $deviations in *" fuse-overlayfs "*) deviations+=" $fuse_overlayfs_deviations " ;; esac
deviations=" $(for dev in $deviations; do [ "$dev" = fuse-overlayfs ] || echo "$dev"; done | sort -u | tr '\n' ' ')"
deviation() { case $deviations in *" $1 "*) return 0 ;; esac; return 1; }
describe_deviation() {
  case $1 in
    hardlinks) echo "hard links after a copy-up differ from the kernel's (which, without index=on, splits them)" ;;
    sparse-copy-up) echo "the candidate fills the holes of a sparse file that it copies up" ;;
    stale-lookups) echo "the candidate still finds a removed lower directory's entries after the directory is made again" ;;
    dir-mtimes) echo "the candidate does not keep a copied-up directory's mtime in the upper directory" ;;
    fifo-copy-up) echo "the candidate fails the copy-up of a fifo and leaves a regular file" ;;
    aufs-opaque-markers) echo "the candidate also writes .wh..wh..opq and .wh..opq into opaque directories" ;;
    redundant-opaque) echo "the candidate marks directories opaque that have no lower directory beneath" ;;
    slow-big-dirs) echo "the candidate does not get through $big_entries entries in $(big_dir_limit) s" ;;
    *) echo "known deviation $1" ;;
  esac
}
echo "# candidate: $candidate; known deviations:${deviations% }$([ -n "${deviations// /}" ] || echo " none")"

for tool in unshare setpriv timeout setfattr getfattr pgrep pkill; do
  command -v "$tool" >/dev/null 2>&1 || skip_all "$tool is not installed (setfattr/getfattr: package attr; unshare/setpriv: util-linux; pgrep/pkill: procps)"
done
unshare -Urm true 2>/dev/null || skip_all "unprivileged user namespaces are not available (unshare -Urm fails)"
unshare -Urmpf --kill-child --mount-proc true 2>/dev/null || skip_all "unshare -Urmpf --mount-proc fails here"
[ -c /dev/fuse ] || skip_all "/dev/fuse does not exist"
if [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ]; then
  skip_all "/dev/fuse is not readable and writable by $(id -un) (its mode is $(stat -c %a /dev/fuse))"
fi
export OVERLAY_CANDIDATE=$candidate OVERLAY_BIG_ENTRIES=$big_entries

# The full id mapping (perms scenario, and the cleanup of what it made).
full_map_why=""
me=$(id -un)
if ! grep -qE "^($me|$(id -u)):" /etc/subuid 2>/dev/null || ! grep -qE "^($me|$(id -g)|$(id -gn)):" /etc/subgid 2>/dev/null; then
  full_map_why="$me has no subordinate id range in /etc/subuid and /etc/subgid"
elif ! command -v newuidmap >/dev/null 2>&1; then
  full_map_why="newuidmap is not installed (package uidmap)"
elif [ "$(unshare -Urm --map-auto cat /proc/self/uid_map 2>/dev/null | wc -l)" -lt 2 ]; then
  full_map_why="unshare --map-auto cannot map a subordinate id range here"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-overlay-test.XXXXXX")
runners=()
cleanup() {
  local pid
  # A run still going (the test was interrupted): TERM to its timeout, which kills unshare,
  # and with it the namespaces, within 5 s.
  for pid in "${runners[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
  done
  for pid in "${runners[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${OVERLAY_KEEP:-0}" = 1 ]; then
    echo "# kept $tmp" >&2
    return
  fi
  # What the perms scenario made belongs to subordinate ids: remove it as root of a namespace.
  if [ -z "$full_map_why" ]; then
    unshare -Urm --map-auto rm -rf "$tmp" 2>/dev/null || true
  else
    unshare -Urm rm -rf "$tmp" 2>/dev/null || true
  fi
  if [ -e "$tmp" ]; then
    chmod -R u+rwX "$tmp" 2>/dev/null || true
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ns_start LIMIT MAPPING LOG COMMAND...: starts COMMAND (this script, in one of its modes)
# in the background in new user, mount and pid namespaces (MAPPING root: only root is
# mapped, to the caller; full: also the caller's subordinate ids), killed with all of its
# namespaces after LIMIT seconds. Its output goes to LOG.out and LOG.err; its pid is
# appended to $runners (ns_wait PID waits for it).
ns_start() {
  local limit=$1 mapping=$2 log=$3
  shift 3
  local map=()
  if [ "$mapping" = full ]; then map=(--map-auto); fi
  # (the subshell, not this shell, reports a kill at the time limit)
  (timeout -k 5 "$limit" unshare -Urm "${map[@]}" -pf --kill-child --mount-proc "$@" \
    </dev/null >"$log.out" 2>"$log.err"; exit $?) 2>/dev/null &
  runners+=("$!")
}
# ns_wait PID: waits for the run PID; its exit status goes to $status.
ns_wait() {
  status=0
  wait "$1" || status=$?
  local pid rest=()
  for pid in "${runners[@]}"; do [ "$pid" = "$1" ] || rest+=("$pid"); done
  runners=("${rest[@]}")
}
# ns LIMIT MAPPING COMMAND...: ns_start and ns_wait; the output goes to $tmp/ns.out and
# $tmp/ns.err.
ns() {
  ns_start "$1" "$2" "$tmp/ns" "${@:3}"
  ns_wait "${runners[-1]}"
}

ns 30 root bash "$self" --probe "$tmp/probe"
case $status in
  0) ;;
  10) skip_all "the kernel cannot mount overlayfs (userxattr) in a user namespace (Linux 5.11+): $(tail -n 1 "$tmp/ns.err")" ;;
  12) skip_all "mknod of a whiteout (c 0 0) is refused in a user namespace: $(tail -n 1 "$tmp/ns.err")" ;;
  13) skip_all "user.* xattrs cannot be set under ${TMPDIR:-/tmp}: $(tail -n 1 "$tmp/ns.err")" ;;
  11)
    echo "Bail out! the candidate $candidate cannot mount a trivial overlay: $(tail -n 3 "$tmp/ns.err")"
    exit 1 ;;
  *)
    echo "Bail out! the probe mount failed ($status): $(tail -n 3 "$tmp/ns.err")"
    exit 1 ;;
esac
unshare -Urm rm -rf "$tmp/probe"

# --- predicates -----------------------------------------------------------------------------------
k="" c="" filter=""
# redundant_opacity UPPER-LISTING: the opaque lines of the listing that hide nothing: no
# lower directory lies at that path (per the kernel run's lowerdirs.txt, the lower layers'
# own merged view), or an opaque ancestor hides it already.
redundant_opacity() {
  awk -F '\t' -v dirs="$k/lowerdirs.txt" '
    BEGIN { while ((getline line < dirs) > 0) lower[line] = 1 }
    $2 == "opaque" { opaque[$1] = 1 }
    END {
      for (p in opaque) {
        hidden = !(p in lower)
        for (a = p; !hidden && sub(/\/[^\/]*$/, "", a) && a != "";) if (a in opaque) hidden = 1
        if (hidden) print p "\topaque"
      }
    }' "$1" 2>/dev/null | sort
}
# normalized FILE: FILE with the scenario's $filter applied (a sed script) and, for known
# deviations, the AUFS opaque markers and the redundant opaque marks left out.
normalized() {
  local markers=0
  if deviation aufs-opaque-markers; then markers=1; fi
  : >"$tmp/redundant"
  if deviation redundant-opaque; then redundant_opacity "$1" >"$tmp/redundant"; fi
  awk -F '\t' -v markers="$markers" -v redundant="$tmp/redundant" '
    BEGIN { while ((getline line < redundant) > 0) skip[line] = 1 }
    markers && ($1 ~ /\/\.wh\.\.wh\.\.opq$/ || $1 ~ /\/\.wh\.\.opq$/) { next }
    $0 in skip { next }
    { print }' "$1" | sed -e "$filter"
}
# same FILE: the kernel's and the candidate's FILE are equal, normalized.
same() {
  normalized "$k/$1" >"$tmp/kernel.$1" 2>/dev/null || echo "(no $1)" >"$tmp/kernel.$1"
  normalized "$c/$1" >"$tmp/candidate.$1" 2>/dev/null || echo "(no $1)" >"$tmp/candidate.$1"
  diff -u --label "kernel $1" --label "candidate $1" "$tmp/kernel.$1" "$tmp/candidate.$1" >"$tmp/diff"
}
# same_after_remount DIR: the merged view of DIR after a remount is the one before the unmount.
same_after_remount() {
  diff -u --label "before the unmount" --label "after a remount" <(sed -e "$filter" "$1/visible.txt" 2>&1) \
    <(sed -e "$filter" "$1/visible-remount.txt" 2>&1) >"$tmp/diff"
}
# no_extra_opacity: the candidate's upper has no AUFS opaque marker and no opaque directory
# without a lower directory beneath it.
no_extra_opacity() {
  if [ ! -f "$c/upper.txt" ]; then
    echo "no upper listing" >"$tmp/diff"
    return 1
  fi
  {
    awk -F '\t' '$1 ~ /\/\.wh\.\.wh\.\.opq$/ || $1 ~ /\/\.wh\.\.opq$/ { print "AUFS opaque marker: " $1 }' "$c/upper.txt"
    redundant_opacity "$c/upper.txt" | sed 's/\topaque$//; s/^/opaque, with nothing beneath to hide: /'
  } >"$tmp/diff"
  [ ! -s "$tmp/diff" ]
}
# run_ok DIR: the run in DIR got through all of its steps.
run_ok() {
  status=$(cat "$1/status" 2>/dev/null || echo none)
  grep -qx finished "$1/state" 2>/dev/null && [ "$status" = 0 ] && return 0
  {
    echo "exit status $status (124/137: killed at the time limit); steps: $(tr '\n' ' ' <"$1/state" 2>/dev/null)"
    tail -n 20 "$1/run.err" 2>/dev/null
  } >"$tmp/diff"
  return 1
}
# state_has DIR STEP...: the run in DIR reached every STEP.
state_has() {
  local dir=$1 step
  shift
  for step in "$@"; do
    grep -qx -- "$step" "$dir/state" 2>/dev/null && continue
    { echo "steps: $(tr '\n' ' ' <"$dir/state" 2>/dev/null)"; cat "$dir/umount.err" 2>/dev/null; } >"$tmp/diff"
    return 1
  done
}
has_line() { # has_line FILE REGEX
  grep -qE -- "$2" "$1" 2>/dev/null && return 0
  { echo "no line matching /$2/ in $1:"; cat "$1"; } >"$tmp/diff" 2>&1
  return 1
}
lacks_line() { # lacks_line FILE REGEX
  if grep -E -- "$2" "$1" >"$tmp/diff"; then return 1; fi
  [ -f "$1" ] || { echo "no $1" >"$tmp/diff"; return 1; }
}
no_process_left() { ! pgrep -a -f -- "$tmp/" >"$tmp/diff"; }
no_mount_left() { ! grep -F -- "$tmp/" /proc/self/mountinfo >"$tmp/diff"; }
# roughly KEY: the kernel's and the candidate's measure KEY are within 2 MiB or 10 %.
roughly() {
  local a b
  a=$(awk -v key="$1" '$1 == key { print $2 }' "$k/measure.txt" 2>/dev/null)
  b=$(awk -v key="$1" '$1 == key { print $2 }' "$c/measure.txt" 2>/dev/null)
  echo "$1: kernel ${a:-?} KiB, candidate ${b:-?} KiB" >"$tmp/diff"
  [ -n "$a" ] && [ -n "$b" ] || return 1
  local d=$((a > b ? a - b : b - a)) m=$((a > b ? a : b))
  [ "$d" -le 2048 ] || [ $((d * 10)) -le "$m" ]
}

# check_unless DEVIATION DESCRIPTION COMMAND...: check, unless DEVIATION is a known
# deviation of the candidate: then the assertion is a TAP TODO item, which is reported but
# does not count as a failure.
check_unless() {
  local dev=$1 description=$2
  shift 2
  if [ -z "$dev" ] || ! deviation "$dev"; then
    check "$description" "$@"
    return
  fi
  tests=$((tests + 1))
  rm -f "$tmp/diff"
  if "$@"; then
    echo "ok $tests - $description # TODO $(describe_deviation "$dev") (but it held)"
  else
    echo "not ok $tests - $description # TODO $(describe_deviation "$dev")"
    if [ -s "$tmp/diff" ]; then sed 's/^/#   /' "$tmp/diff" | head -n 30; fi
  fi
}

show_info() {
  local backend
  for backend in kernel candidate; do
    if [ -s "$tmp/$1/$backend/info.txt" ]; then sed "s/^/# $1, $backend: /" "$tmp/$1/$backend/info.txt"; fi
  done
}

# scenario NAME MAPPING LIMIT [DEVIATION[:SCOPE] [FILTER]]: builds the layers, runs the
# scenario on both backends (each within LIMIT seconds) and compares. When DEVIATION is a
# known deviation of the candidate, the comparisons in SCOPE become TODO items: all (the
# default), obs (what the operations observed) or measures (the rough measures);
# slow-big-dirs covers the candidate's run too. FILTER is a sed script applied to both sides
# before each comparison.
scenario() {
  local name=$1 mapping=$2 limit=$3 dev=${4:-} backend key run_dev="" obs_dev="" measure_dev="" tree_dev=""
  filter=${5:-}
  k=$tmp/$name/kernel c=$tmp/$name/candidate
  case $dev in
    *:obs) obs_dev=${dev%:*} ;;
    *:measures) measure_dev=${dev%:*} ;;
    slow-big-dirs) run_dev=$dev obs_dev=$dev measure_dev=$dev tree_dev=$dev ;;
    *) obs_dev=$dev measure_dev=$dev tree_dev=$dev ;;
  esac
  mkdir -p "$k" "$c"
  ns 60 "$mapping" bash "$self" --build "$name" "$k" "$c"
  if [ "$status" -ne 0 ]; then
    echo "Bail out! building the layers of $name failed: $(tail -n 5 "$tmp/ns.err")"
    exit 1
  fi
  # Both runs at once, but for the bigdir scenario, whose time limit is about speed.
  local pids=()
  for backend in kernel candidate; do
    if [ "$name" = bigdir ] && [ "$backend" = candidate ]; then limit=$(big_dir_limit); fi
    ns_start "$limit" "$mapping" "$tmp/$name/$backend/run" bash "$self" --inside "$backend" "$name" "$tmp/$name/$backend"
    pids+=("${runners[-1]}")
    if [ "$name" = bigdir ]; then
      ns_wait "${pids[-1]}"
      echo "$status" >"$tmp/$name/$backend/status"
    fi
  done
  for backend in kernel candidate; do
    if [ "$name" != bigdir ]; then
      ns_wait "${pids[0]}"
      echo "$status" >"$tmp/$name/$backend/status"
    fi
    pids=("${pids[@]:1}")
    echo "# $name: the $backend run $(cat "$tmp/$name/$backend/elapsed" 2>/dev/null ||
      echo "did not finish (exit status $(cat "$tmp/$name/$backend/status"))")"
  done
  check "$name: the kernel overlay run completes" run_ok "$k"
  check_unless "$run_dev" "$name: the candidate run completes (mount, operations, listings, umount, remount)" run_ok "$c"
  check_unless "$run_dev" "$name: umount unmounts the candidate and its daemon exits" \
    state_has "$c" first-unmounted first-daemon-exited second-unmounted second-daemon-exited
  check_unless "$obs_dev" "$name: the operations observe the same on both" same obs.txt
  if [ -s "$k/measure.txt" ]; then
    while read -r key _; do
      check_unless "$measure_dev" "$name: $key is roughly the same on both" roughly "$key"
    done <"$k/measure.txt"
  fi
  check_unless "$tree_dev" "$name: the visible trees match" same visible.txt
  check_unless "$tree_dev" "$name: the upper directories match" same upper.txt
  # What the normalization of known opacity deviations left out, where there is any.
  if { deviation aufs-opaque-markers || deviation redundant-opaque; } && ! no_extra_opacity; then
    local opacity_dev=redundant-opaque
    if [ -n "$run_dev" ]; then opacity_dev=$run_dev; elif deviation aufs-opaque-markers; then opacity_dev=aufs-opaque-markers; fi
    check_unless "$opacity_dev" "$name: the candidate's upper has no opaque marker the kernel's has not" no_extra_opacity
  fi
  check "$name: the kernel's view after a remount is the same" same_after_remount "$k"
  check_unless "$tree_dev" "$name: the candidate's view after a remount is the same" same_after_remount "$c"
  check "$name: no process of the test is left" no_process_left
  check "$name: no mount of the test is visible outside" no_mount_left
  show_info "$name"
}

# big_dir_limit: the candidate's time limit for the bigdir scenario, in seconds: the
# kernel's time for it times $big_factor, within [30, $big_timeout].
big_dir_limit() {
  local ms limit
  ms=$(sed -n 's/^took \([0-9]*\) ms$/\1/p' "$tmp/bigdir/kernel/elapsed" 2>/dev/null)
  limit=$(((${ms:-$((big_timeout * 1000))} * big_factor + 999) / 1000))
  [ "$limit" -ge 30 ] || limit=30
  [ "$limit" -le "$big_timeout" ] || limit=$big_timeout
  echo "$limit"
}

# remove_scenario NAME: removes what the scenario made (as root of a user namespace: the perms
# scenario's files belong to subordinate ids), unless OVERLAY_KEEP=1.
remove_scenario() {
  [ "${OVERLAY_KEEP:-0}" = 1 ] && return
  ns 60 "$1" rm -rf "$tmp/$2"
}

# --- the scenarios, with checks of their own ------------------------------------------------------
for name in $scenarios; do
  case $name in
    whiteouts)
      scenario whiteouts root 60
      for b in kernel candidate; do
        check "whiteouts, $b: a removed lower file leaves a whiteout (c 0:0) in the upper dir" \
          has_line "$tmp/whiteouts/$b/upper.txt" $'^\\./etc/added\tc\t[0-7]+\t0\t0\trdev=0:0\t'
        check "whiteouts, $b: the lower2 whiteout hides etc/group" \
          has_line "$tmp/whiteouts/$b/obs.txt" '^rm-whited-out: fails: No such file or directory$'
      done ;;
    opaque)
      scenario opaque root 60
      for b in kernel candidate; do
        check "opaque, $b: the recreated directory is opaque in the upper dir" has_line "$tmp/opaque/$b/upper.txt" $'^\\./app\topaque$'
        check "opaque, $b: the recreated directory shows none of the old content" has_line "$tmp/opaque/$b/obs.txt" '^ls-recreated: $'
      done ;;
    recreate)
      scenario recreate root 60 stale-lookups
      check "recreate, kernel: an old name in the recreated directory is free" has_line "$tmp/recreate/kernel/obs.txt" '^mkdir-old-name: ok$'
      check_unless stale-lookups "recreate, candidate: an old name in the recreated directory is free" \
        has_line "$tmp/recreate/candidate/obs.txt" '^mkdir-old-name: ok$' ;;
    rename)
      scenario rename root 60
      for b in kernel candidate; do
        check "rename, $b: a renamed lower directory keeps its content" has_line "$tmp/rename/$b/obs.txt" '^moved-content: a b deep $'
        check "rename, $b: a new directory at the old name is empty" has_line "$tmp/rename/$b/obs.txt" '^ls-new-tree: $'
      done ;;
    hardlinks)
      scenario hardlinks root 60 hardlinks
      sed 's/^/# hardlinks, kernel: /' "$tmp/hardlinks/kernel/obs.txt"
      sed 's/^/# hardlinks, candidate: /' "$tmp/hardlinks/candidate/obs.txt"
      if [ "$is_cairn" = 1 ]; then
        # What ext4 answers for the same operations.
        obs="$tmp/hardlinks/candidate/obs.txt"
        check "hardlinks, cairn: an append to one name shows through the other" has_line "$obs" '^b-content: pair more $'
        check "hardlinks, cairn: the pair stays one inode with 2 links" has_line "$obs" '^a-b-after-append: 2 2 inode:same$'
        check "hardlinks, cairn: a chmod of one name changes all three" has_line "$obs" '^modes: hl/c 600 hl/d 600 hl2/e 600 $'
        check "hardlinks, cairn: the three names stay one inode" has_line "$obs" '^c-d-after-chmod: 3 3 inode:same$'
        check "hardlinks, cairn: a new link makes 4" has_line "$obs" '^c-new: 4 4 inode:same$'
        check "hardlinks, cairn: the upper keeps the group after unmount" has_line "$tmp/hardlinks/candidate/upper.txt" $'^hard-link group\t ./hl/c ./hl/d ./hl/new ./hl2/e$'
      fi ;;
    rmtree)
      scenario rmtree root 60
      for b in kernel candidate; do
        check "rmtree, $b: the removed tree is gone" has_line "$tmp/rmtree/$b/obs.txt" '^stat-tree: fails: No such file or directory$'
        check "rmtree, $b: a whiteout replaces the removed lower dir usr" has_line "$tmp/rmtree/$b/upper.txt" $'^\\./usr\tc\t'
      done ;;
    metadata) scenario metadata root 60 ;;
    timestamps)
      scenario timestamps root 60
      for b in kernel candidate; do
        check "timestamps, $b: cp -p keeps the nanosecond mtime" has_line "$tmp/timestamps/$b/obs.txt" '^cp-p-mtime: 1600000000\.123456789$'
        check "timestamps, $b: a copy-up by chmod keeps the mtime" has_line "$tmp/timestamps/$b/obs.txt" '^chmod-keeps-mtime: 1600000000\.123456789$'
        check "timestamps, $b: touch -d sets the mtime" has_line "$tmp/timestamps/$b/obs.txt" '^touch-d-mtime: 1234567890\.250000000$'
      done ;;
    dirtimes)
      scenario dirtimes root 60 dir-mtimes:obs
      check "dirtimes, kernel: the copy-up of a parent directory keeps its mtime" \
        has_line "$tmp/dirtimes/kernel/obs.txt" '^upper-dir-mtimes: t/sub 1500000000\.500000000 meta 1015218367\.000000000 $' ;;
    symlinks) scenario symlinks root 60 ;;
    fifo)
      scenario fifo root 60
      for b in kernel candidate; do
        check "fifo, $b: a lower fifo passes data" has_line "$tmp/fifo/$b/obs.txt" '^lower-fifo: through lowerfifo$'
      done ;;
    fifocopyup)
      scenario fifocopyup root 60 fifo-copy-up
      check "fifocopyup, kernel: a chmod copies a lower fifo up as a fifo" \
        has_line "$tmp/fifocopyup/kernel/upper.txt" $'^\\./lowerfifo\tp\t600\t' ;;
    sparse)
      scenario sparse root 90
      check "sparse, kernel: truncate -s 2G allocates nothing" has_line "$tmp/sparse/kernel/measure.txt" '^sparse2g-kib 0$'
      for b in kernel candidate; do sed "s/^/# sparse, $b: KiB allocated: /" "$tmp/sparse/$b/measure.txt"; done ;;
    sparsecopyup)
      scenario sparsecopyup root 90 sparse-copy-up:measures
      for b in kernel candidate; do sed "s/^/# sparsecopyup, $b: KiB allocated: /" "$tmp/sparsecopyup/$b/measure.txt"; done ;;
    concurrent)
      scenario concurrent root 90
      for b in kernel candidate; do
        check "concurrent, $b: no appended line is lost" has_line "$tmp/concurrent/$b/obs.txt" "^shared: lines $((4 * 500 + 1)) first: lower line$"
        check "concurrent, $b: no appended line is garbled" has_line "$tmp/concurrent/$b/obs.txt" "^garbled: 0$"
      done ;;
    bigdir)
      scenario bigdir root "$big_timeout" slow-big-dirs
      echo "# bigdir: the candidate's time limit was $(big_dir_limit) s ($big_factor times the kernel's, within 30 to $big_timeout s)"
      check "bigdir, kernel: all entries are counted" has_line "$tmp/bigdir/kernel/obs.txt" "^count-find: $((big_entries + 100))$" ;;
    whnames)
      # The kernel makes the .wh. names and cairn refuses them: the comparisons leave out
      # every name that the operations touch.
      # (the kernel copies plainfile and sub up for the links and names it makes there).
      scenario whnames root 60 "" '/\.wh\./d; /renamesrc/d; /aufs-hidden/d; /\/plainfile\t/d; /^\.\/sub\t/d'
      if [ "$is_cairn" = 1 ]; then
        for op in create create-in-subdir mkdir symlink mkfifo hardlink rename opq; do
          check "whnames: the candidate refuses to make a .wh. name ($op)" has_line "$tmp/whnames/candidate/info.txt" "^$op: fails: "
        done
        check "whnames: no .wh. name that the operations tried to make is visible on the candidate" \
          lacks_line "$tmp/whnames/candidate/visible-wh.txt" '/\.wh\.(created|dir|symlink|fifo|hardlink|renamed|\.wh\.\.opq)'$'\t'
        check "whnames: the candidate's upper dir holds no .wh. name but whiteout devices" \
          lacks_line "$tmp/whnames/candidate/upper-wh.txt" $'/\\.wh\\.[^\t]*\t[^c]'
      else
        skip "whnames: the candidate refuses .wh. names" "the candidate is not cairn (CANDIDATE_IS_CAIRN=0): its behaviour is recorded above"
      fi ;;
    perms)
      if [ -n "$full_map_why" ]; then
        skip "perms: permission checks of a non-owner" "$full_map_why"
        continue
      fi
      scenario perms full 60
      for b in kernel candidate; do
        check "perms, $b: uid 1000 cannot write a root-owned 0644 lower file (EACCES)" \
          has_line "$tmp/perms/$b/obs.txt" '^write-root-file: fails: Permission denied$'
        check "perms, $b: the root-owned file is unchanged" has_line "$tmp/perms/$b/obs.txt" '^rootfile: root data$'
      done ;;
    *)
      echo "Bail out! unknown scenario $name"
      exit 1 ;;
  esac
  if [ "$name" = perms ]; then remove_scenario full perms; else remove_scenario root "$name"; fi
done

echo "# $(($(date +%s) - start_time)) s"
finish
