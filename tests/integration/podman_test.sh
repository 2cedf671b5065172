#!/usr/bin/env bash
# Integration test of cairn-overlayfs as containers/storage's overlay `mount_program` under
# rootless podman and buildah. Run as an UNPRIVILEGED user with an /etc/subuid and
# /etc/subgid range. In an isolated configuration (HOME, XDG_* and TMPDIR under a temp dir;
# storage.conf with driver "overlay", graphroot/runroot inside the temp dir and
# mount_program = the program under test; no registries, no short-name prompts, cgroupfs,
# file events logger, --network=none), it:
#   1. imports the busybox rootfs tarball ($CAIRN_BUSYBOX_TAR) with `podman import`;
#   2. runs a container of it that prints things of the image (/bin count, /etc/passwd),
#      and one as uid 65534 (reads allowed, writes to root's directories denied, files it
#      creates owned by it);
#   3. builds with `buildah bud` a Dockerfile FROM that image whose RUNs delete base files,
#      create files, chmod base files, replace a base directory and rename a base file;
#      then checks with `podman run` that the result is seen, that `podman diff` reports the
#      deletions, and that the committed layer (`podman save`) holds the deletions as
#      whiteouts (.wh.NAME entries), the new files and the changed modes;
#   4. lists the built image's whole filesystem (type, mode, uid, gid, size, mtime-is-zero,
#      symlink target) from inside a container;
#   5. checks that once the containers are gone no mount program process and no FUSE mount of
#      the store is left, then tears the store down (`podman system reset`; `podman unshare
#      rm -rf` of what it left, if anything; the rootless pause process ended) and checks
#      that nothing is left (no store, no process naming it, no new candidate process).
# The whole sequence runs once with the candidate ($CAIRN_OVERLAYFS, else `cairn-overlayfs`
# in PATH) and once with the reference /usr/bin/fuse-overlayfs ($CAIRN_REFERENCE_OVERLAYFS)
# in a separate store, and the outputs of 2-4 and the layer listing of both are compared.
# Without the reference the comparisons are skipped.
# Prints one TAP line per assertion; exits 1 when any assertion failed, 77 (with the reason
# on stderr) when podman, buildah, newuidmap/newgidmap, a subordinate id range, or a usable
# /dev/fuse is missing, when run as root, or when CAIRN_BUSYBOX_TAR is unset or missing.
# Packages (Debian): podman buildah uidmap fuse3 fuse-overlayfs (reference) runc|crun.
# Usage: CAIRN_OVERLAYFS=build/src/cairn-overlayfs CAIRN_BUSYBOX_TAR=busybox.tar \
#          tests/integration/podman_test.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$(dirname "$0")/tap.sh"

skip_all() {
  echo "SKIP: $1" >&2
  echo "1..0 # SKIP $1"
  exit 77
}

uid=$(id -u)
user=$(id -un)
[ "$uid" -ne 0 ] || skip_all "rootless podman needs an unprivileged user (CI runs this as cairn-ci)"
busybox=${CAIRN_BUSYBOX_TAR:-}
[ -n "$busybox" ] || skip_all "CAIRN_BUSYBOX_TAR is not set"
[ -r "$busybox" ] || skip_all "CAIRN_BUSYBOX_TAR ($busybox) is missing or unreadable"
case $busybox in /*) ;; *) busybox="$PWD/$busybox" ;; esac
for tool in podman buildah newuidmap newgidmap; do
  command -v "$tool" >/dev/null || skip_all "$tool is not installed (apt-get install podman buildah uidmap)"
done
# has_range FILE: FILE (/etc/subuid, /etc/subgid) gives this user a range of ids.
has_range() { awk -F: -v u="$user" -v i="$uid" '($1 == u || $1 == i) && $3 > 0 { found = 1 } END { exit !found }' "$1" 2>/dev/null; }
has_range /etc/subuid || skip_all "$user has no range in /etc/subuid"
has_range /etc/subgid || skip_all "$user has no range in /etc/subgid"
if [ ! -c /dev/fuse ] || [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ]; then
  skip_all "/dev/fuse is missing or not readable and writable by $user (chmod 0666 /dev/fuse)"
fi

candidate=${CAIRN_OVERLAYFS:-$(command -v cairn-overlayfs || true)}
if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then
  echo "Bail out! no cairn-overlayfs: set CAIRN_OVERLAYFS or put cairn-overlayfs in PATH" >&2
  exit 1
fi
case $candidate in /*) ;; *) candidate="$PWD/$candidate" ;; esac
reference=${CAIRN_REFERENCE_OVERLAYFS:-/usr/bin/fuse-overlayfs}
[ -x "$reference" ] || reference=""

# Nothing from the caller's environment may point podman or buildah elsewhere.
unset CONTAINER_HOST CONTAINER_CONNECTION CONTAINERS_STORAGE_CONF CONTAINERS_CONF_OVERRIDE \
  STORAGE_DRIVER STORAGE_OPTS BUILDAH_ISOLATION BUILDAH_LAYERS BUILDAH_FORMAT \
  REGISTRY_AUTH_FILE DOCKER_CONFIG DBUS_SESSION_BUS_ADDRESS

base_tmp=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$base_tmp/cairn-podman-test.XXXXXX")
chmod 0700 "$tmp"
# The candidate's processes by name (as pgrep sees it: at most 15 characters), so that one
# that rewrites its command line is still found; those running before the test don't count.
candidate_name=$(basename "$candidate" | cut -c1-15)
pgrep -u "$uid" -x "$candidate_name" >"$tmp/candidate-baseline" || true
cleanup() {
  local root pid
  for root in "$tmp"/cand "$tmp"/ref; do
    [ -d "$root" ] || continue
    while read -r pid || [ -n "$pid" ]; do # pause.pid has no final newline
      kill_pause "$pid"
    done < <(cat "$root/run/libpod/tmp/pause.pid" "$root/pause-pids" 2>/dev/null || true)
  done
  # whatever of the test still runs (a mount program that never exited, a conmon)
  for pid in $(pgrep -u "$uid" -f -- "$tmp/" || true) $(candidate_pids); do
    if [ "$pid" -ne $$ ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  sleep 0.5
  rm -rf "$tmp" 2>/dev/null || unshare_rm "$tmp"
}
# kill_pause PID: ends PID if it is a rootless pause process of this user (catatonit, or
# podman's own "pause"), not whatever process may have reused the number.
kill_pause() {
  [ -O "/proc/$1" ] || return 0
  case $(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true) in
    *catatonit* | *pause*) kill "$1" 2>/dev/null || true ;;
  esac
}
# candidate_pids: the pids of the processes named like the candidate, not running before the
# test, that have the test's directory in their command line or environment.
candidate_pids() {
  local pid
  for pid in $(pgrep -u "$uid" -x "$candidate_name" || true); do
    grep -qxF "$pid" "$tmp/candidate-baseline" && continue
    grep -qaF "$tmp/" "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null && echo "$pid"
  done
  return 0
}
# unshare_rm PATH: removes PATH from inside a fresh user namespace (as its root, mapped to
# this user), for what belongs to subordinate ids or is read-only to this user; no pause
# process is left behind (buildah's namespace ends with the command).
unshare_rm() {
  local home="$base_tmp/cairn-podman-test-rm.$$"
  mkdir -p "$home/run" && chmod 0700 "$home/run"
  env -u CONTAINERS_CONF -u CONTAINERS_REGISTRIES_CONF HOME="$home" XDG_CONFIG_HOME="$home/.config" \
    XDG_DATA_HOME="$home/.local/share" XDG_RUNTIME_DIR="$home/run" TMPDIR="$base_tmp" \
    timeout 60 buildah unshare rm -rf "$1" >/dev/null 2>&1 || true
  rm -rf "$1" "$home" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
start_time=$(date +%s)

# The busybox tarball's own facts that the checks expect.
tar -tf "$busybox" >"$tmp/members.raw"
sed 's|^\./||' "$tmp/members.raw" >"$tmp/members"
for member in etc/passwd etc/group etc/nsswitch.conf bin/vi bin/busybox sbin/; do
  grep -qxF "$member" "$tmp/members" ||
    { echo "Bail out! $busybox has no $member: not the busybox test rootfs" >&2; exit 1; }
done
bin_count=$(grep -c '^bin/[^/]\+$' "$tmp/members")
passwd_member=$(grep -m1 -xE '(\./)?etc/passwd' "$tmp/members.raw")
tar -xOf "$busybox" "$passwd_member" >"$tmp/passwd"
group_member=$(grep -m1 -xE '(\./)?etc/group' "$tmp/members.raw")
tar -xOf "$busybox" "$group_member" >"$tmp/group"
group_first=$(head -n1 "$tmp/group")

mkdir -p "$tmp/context"
cat >"$tmp/context/Dockerfile" <<'EOF'
FROM localhost/cairn-test/busybox:1
RUN rm /etc/nsswitch.conf /bin/vi
RUN echo built-by-buildah >/etc/cairn-new && mkdir -p /opt/cairn && echo layered >/opt/cairn/data
RUN chmod 0600 /etc/passwd && chmod 4755 /bin/busybox && chmod 0700 /home
RUN rm -rf /sbin && mkdir /sbin && echo replaced >/sbin/cairn-tool
RUN mv /etc/group /etc/group.moved && cp -p /etc/group.moved /etc/group
EOF
# What a container of the built image prints about those changes.
cat >"$tmp/built-expected" <<EOF
absent /etc/nsswitch.conf
absent /bin/vi
built-by-buildah
layered
600 /etc/passwd
4755 /bin/busybox
700 /home
cairn-tool
$group_first
$group_first
EOF
# shellcheck disable=SC2016 # the container's shell expands these
built_script='for f in /etc/nsswitch.conf /bin/vi; do
  if [ -e "$f" ] || [ -L "$f" ]; then echo "present $f"; else echo "absent $f"; fi
done
cat /etc/cairn-new /opt/cairn/data
stat -c "%a %n" /etc/passwd /bin/busybox /home
ls /sbin
head -n1 /etc/group.moved; head -n1 /etc/group'
# shellcheck disable=SC2016 # the container's shell expands these
user_script='id -u; ls /bin | wc -l
cat /etc/passwd >/dev/null && echo readable
ls /root >/dev/null 2>&1 || echo root-denied
touch /etc/cairn-denied 2>/dev/null || echo etc-denied
echo hi >/tmp/nobody-file && ls -ln /tmp/nobody-file | awk "{ print \$1, \$3, \$4 }"'
# A canonical listing of the container's filesystem: path|type|mode|uid|gid|size|mtime|link,
# without the runtime's mounts; directory sizes are the backing filesystem's, not compared;
# mtimes only as "0" (kept from the tarball) or "t" (set at build or run time).
find_script='find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run \
  -o -path /etc/hosts -o -path /etc/resolv.conf -o -path /etc/hostname \) -prune \
  -o -exec stat -c "%n|%F|%a|%u|%g|%s|%Y|%N" {} +'

# --- helpers --------------------------------------------------------------------------------
# use_store LABEL MOUNT_PROGRAM: points HOME, the XDG directories, TMPDIR and the containers
# configuration at $tmp/LABEL, whose storage uses MOUNT_PROGRAM. Sets $root, $graphroot.
use_store() {
  root="$tmp/$1"
  graphroot="$root/storage/graph"
  export HOME="$root/home"
  export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
  export XDG_CACHE_HOME="$HOME/.cache" XDG_RUNTIME_DIR="$root/run" TMPDIR="$root/tmp"
  export CONTAINERS_CONF="$XDG_CONFIG_HOME/containers/containers.conf"
  export CONTAINERS_REGISTRIES_CONF="$XDG_CONFIG_HOME/containers/registries.conf"
  [ -d "$root" ] && return 0
  mkdir -p "$XDG_CONFIG_HOME/containers" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR" "$TMPDIR"
  chmod 0700 "$XDG_RUNTIME_DIR"
  # Not CONTAINERS_STORAGE_CONF: podman 4.3 then ignores graphroot/runroot for rootless use.
  cat >"$XDG_CONFIG_HOME/containers/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$graphroot"
runroot = "$root/storage/run"

[storage.options.overlay]
mount_program = "$2"
EOF
  cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  cat >"$CONTAINERS_REGISTRIES_CONF" <<'EOF'
unqualified-search-registries = []
short-name-mode = "disabled"
EOF
  cat >"$XDG_CONFIG_HOME/containers/policy.json" <<'EOF'
{"default": [{"type": "insecureAcceptAnything"}]}
EOF
}

# tool COMMAND ARGS...: runs podman or buildah (under a timeout: a mount program that never
# returns would hang them); output in $tmp/out and $tmp/err, exit status in $status.
tool() {
  status=0
  timeout -k 10 60 "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}
save_out() { cp "$tmp/out" "$root/$1"; }
same_as() {
  if [ ! -e "$2" ]; then echo "$2 was not produced" >"$tmp/diff"; return 1; fi
  diff -u "$1" "$2" >"$tmp/diff" 2>&1 && return 0
  echo "(expected: $1, got: $2)" >>"$tmp/diff"
  return 1
}
has_line() { grep -qxF -e "$2" "$1" || { echo "no line '$2' in $1" >"$tmp/diff"; cat "$1" >>"$tmp/diff"; return 1; }; }
# no_process_left: no process of this user has the store in its command line (a mount
# program, conmon, a container), waiting up to 5 s for them to exit.
no_process_left() {
  local _
  for _ in $(seq 25); do
    pgrep -u "$uid" -f -- "$root/" >/dev/null || return 0
    sleep 0.2
  done
  pgrep -a -u "$uid" -f -- "$root/" >"$tmp/diff"
  return 1
}
# pause_pid: the pid of podman's rootless pause process (which holds its user and mount
# namespaces), one line, or nothing.
pause_pid() {
  local pid
  pid=$(cat "$XDG_RUNTIME_DIR/libpod/tmp/pause.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then echo "$pid"; fi
}
process_gone() {
  local _
  for _ in $(seq 25); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.2
  done
  ps -o pid,stat,args -p "$1" >"$tmp/diff" 2>&1
  return 1
}
# lacks FILE ERE: no line of FILE matches ERE (check shows the lines that do).
lacks() { ! grep -E -e "$2" "$1" >"$tmp/diff"; }
# layer_lacks ERE: no entry of the new layer is named by ERE (anchored).
layer_lacks() { lacks "$root/layer.out" " ($1)( -> .*)?\$"; }
# status_and_empty FILE: the last command succeeded and FILE is empty.
status_and_empty() {
  [ "$status" -eq 0 ] && [ ! -s "$1" ] && return 0
  cp "$1" "$tmp/diff"
  return 1
}
# no_new_candidate: no process named like the candidate, not running before the test, that
# has the test's directory in its command line or its environment (podman and buildah pass
# theirs, HOME and XDG_RUNTIME_DIR, to the mount program), waiting up to 5 s for them to
# exit. Processes of other tests of the same user do not count.
no_new_candidate() {
  local _ pid
  for _ in $(seq 25); do
    : >"$tmp/diff"
    for pid in $(candidate_pids); do
      ps -o pid=,args= -p "$pid" >>"$tmp/diff" || true
    done
    [ -s "$tmp/diff" ] || return 0
    sleep 0.2
  done
  return 1
}
gone() { [ ! -e "$1" ] || { ls -la "$1" >"$tmp/diff" 2>&1; return 1; }; }

# --- the sequence, once per mount program -----------------------------------------------------
# run_image LABEL IMAGE: step 2, a container of the imported image.
run_image() {
  tool podman run --rm --network=none --pull=never "$2" sh -c 'ls /bin | wc -l; cat /etc/passwd'
  check "$1: podman run of the imported image" status_is 0
  save_out run.out
  { echo "$bin_count"; cat "$tmp/passwd"; } >"$tmp/run-expected"
  check "$1: the container sees the image's /bin ($bin_count entries) and /etc/passwd" \
    same_as "$tmp/run-expected" "$root/run.out"
  # As another user: the mount must allow other users (allow_other), check permissions, and
  # create files as the caller.
  tool podman run --rm --network=none --pull=never --user 65534:65534 "$2" sh -c "$user_script"
  check "$1: podman run of the imported image as uid 65534" status_is 0
  save_out user.out
  printf '%s\n' 65534 "$bin_count" readable root-denied etc-denied '-rw-r--r-- 65534 65534' >"$tmp/user-expected"
  check "$1: uid 65534 reads what it may, is denied what it may not, owns what it creates" \
    same_as "$tmp/user-expected" "$root/user.out"
}

# inspect_built LABEL IMAGE: step 3's checks of the built image and step 4, its listing.
inspect_built() {
  local label=$1 built=$2 layer=""
  tool podman run --rm --network=none --pull=never "$built" sh -c "$built_script"
  check "$label: podman run of the built image" status_is 0
  save_out built.out
  check "$label: the built image lacks the deleted files, has the new ones and the new modes" \
    same_as "$tmp/built-expected" "$root/built.out"
  tool podman diff "$built"
  check "$label: podman diff of the built image" status_is 0
  LC_ALL=C sort "$tmp/out" >"$root/diff.out"
  check "$label: podman diff reports /bin/vi deleted" has_line "$root/diff.out" "D /bin/vi"
  check "$label: podman diff reports /etc/nsswitch.conf deleted" has_line "$root/diff.out" "D /etc/nsswitch.conf"
  check "$label: podman diff reports /etc/cairn-new added" has_line "$root/diff.out" "A /etc/cairn-new"

  # The committed layer: the last layer of a docker-archive save.
  mkdir -p "$root/save"
  tool podman save --format docker-archive -o "$root/save/built.tar" "$built"
  check "$label: podman save of the built image" status_is 0
  if [ "$status" -eq 0 ] && tar -xf "$root/save/built.tar" -C "$root/save" manifest.json; then
    layer=$(sed -n 's/.*"Layers":\[\([^]]*\)\].*/\1/p' "$root/save/manifest.json" | tr ',' '\n' | tail -n1 | tr -d '"')
  fi
  : >"$root/layer.out"
  if [ -n "$layer" ] && tar -xf "$root/save/built.tar" -C "$root/save" "$layer"; then
    # perms owner size name (no times); directories' sizes are 0 in a tar anyway
    tar -tvf "$root/save/$layer" |
      awk '{ name = $6; for (i = 7; i <= NF; i++) name = name " " $i; print $1, $2, $3, name }' |
      sed 's| \./| |' | LC_ALL=C sort >"$root/layer.out"
  fi
  check "$label: the new layer holds /bin/vi's deletion as a whiteout" grep -qE ' bin/\.wh\.vi$' "$root/layer.out"
  check "$label: the new layer holds /etc/nsswitch.conf's deletion as a whiteout" \
    grep -qE ' etc/\.wh\.nsswitch\.conf$' "$root/layer.out"
  check "$label: the new layer has no bin/vi nor etc/nsswitch.conf entry" \
    layer_lacks 'bin/vi|etc/nsswitch\.conf'
  check "$label: the new layer has the new file" grep -qE '^-rw-r--r-- 0/0 17 etc/cairn-new$' "$root/layer.out"
  check "$label: the new layer has /etc/passwd with mode 0600" grep -qE '^-rw------- 0/0 [0-9]+ etc/passwd$' "$root/layer.out"
  check "$label: the new layer has /bin/busybox setuid" grep -qE '^-rwsr-xr-x 0/0 [0-9]+ bin/busybox$' "$root/layer.out"
  check "$label: the new layer whites out the replaced /sbin's files" grep -qE ' sbin/(\.wh\.init|\.wh\.\.wh\.\.opq)$' "$root/layer.out"
  check "$label: the new layer does not repeat untouched base files" \
    layer_lacks 'etc/hosts|bin/cat|usr/bin/wc'

  # 4. the built image's whole filesystem, seen from a container
  tool podman run --rm --network=none --pull=never "$built" sh -c "$find_script"
  check "$label: podman run lists the built image's filesystem" status_is 0
  awk -F'|' -v OFS='|' '$2 == "directory" { $6 = "-" } { $7 = ($7 == "0" ? "0" : "t"); print }' "$tmp/out" |
    LC_ALL=C sort >"$root/find.out"
  check "$label: the listing has /etc/cairn-new" grep -q "^/etc/cairn-new|regular file|644|0|0|17|t|" "$root/find.out"
  check "$label: the listing has no /bin/vi" lacks "$root/find.out" "^/bin/vi[|]"
  check "$label: chmod kept /bin/busybox's size and tarball mtime" \
    grep -q "^/bin/busybox|regular file|4755|0|0|[0-9]*|0|" "$root/find.out"
}

# sequence LABEL MOUNT_PROGRAM: steps 1-5 on the store $tmp/LABEL; the outputs to compare land
# in $tmp/LABEL/*.out.
sequence() {
  local label=$1 program=$2 image=localhost/cairn-test/busybox:1 built=localhost/cairn-test/built:1
  local pause label_start
  label_start=$(date +%s)
  use_store "$label" "$program"
  echo "# $label: mount_program = $program"

  tool podman unshare true
  if [ "$status" -ne 0 ] && [ "$label" = cand ]; then
    cat "$tmp/err" >&2
    skip_all "rootless podman cannot set up its user namespace here (newuidmap, subuid range?)"
  fi
  check "$label: podman unshare works" status_is 0
  tool podman info --format '{{.Store.GraphRoot}} {{.Store.GraphDriverName}}'
  check "$label: podman uses the isolated overlay store" has_line "$tmp/out" "$graphroot overlay"

  # 1. import
  tool podman import "$busybox" "$image"
  check "$label: podman import of the busybox rootfs" status_is 0
  if [ "$status" -eq 0 ]; then
    run_image "$label" "$image"
    tool buildah bud --network none --pull=never -t "$built" "$tmp/context"
    check "$label: buildah bud of a Dockerfile FROM the imported image" status_is 0
    if [ "$status" -eq 0 ]; then
      inspect_built "$label" "$built"
    else
      skip "$label: the checks of the built image" "the build failed"
    fi
  else
    skip "$label: the checks of containers and builds" "the import failed"
  fi

  # 5. nothing left behind while the store still exists, then the teardown
  tool podman ps -a -q
  check "$label: no container is left" status_and_empty "$tmp/out"
  check "$label: no mount program (nor other process of the store) runs once the containers are gone" no_process_left
  tool podman unshare cat /proc/self/mountinfo
  grep -F " $root/" "$tmp/out" | grep -E ' - fuse[. ]' >"$root/mounts.out" || true
  check "$label: no FUSE mount of the store is left in podman's user namespace" \
    status_and_empty "$root/mounts.out"

  pause_pid >>"$root/pause-pids"
  tool podman system reset --force
  check "$label: podman system reset" status_is 0
  check "$label: podman system reset removed the graphroot" gone "$graphroot"
  if [ -e "$graphroot" ] || [ -e "$root/storage/run" ]; then
    tool podman unshare rm -rf "$graphroot" "$root/storage/run"
    pause_pid >>"$root/pause-pids"
  fi
  while read -r pause; do
    kill_pause "$pause"
    check "$label: the rootless pause process $pause has ended" process_gone "$pause"
  done <"$root/pause-pids"
  # What reset leaves (the user's own files: home, run, tmp) goes without a user namespace.
  rm -rf "${root:?}/home" "${root:?}/run" "${root:?}/tmp" "${root:?}/storage" 2>/dev/null || true
  if [ -e "$root/storage" ]; then unshare_rm "$root/storage"; fi
  check "$label: the store is removed" gone "$root/storage"
  check "$label: no process of the store is left after the teardown" no_process_left
  if [ "$label" = cand ]; then
    check "$label: no $candidate_name process started by the test is left" no_new_candidate
  fi
  echo "# $label: $(($(date +%s) - label_start)) s"
}

sequence cand "$candidate"
if [ -n "$reference" ]; then
  sequence ref "$reference"
  for result in run user built diff layer find; do
    check "candidate and reference agree on $result.out" same_as "$tmp/ref/$result.out" "$tmp/cand/$result.out"
  done
else
  skip "candidate and reference agree" "no reference fuse-overlayfs (apt-get install fuse-overlayfs)"
fi
echo "# took $(($(date +%s) - start_time)) s"
finish
