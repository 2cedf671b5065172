#!/usr/bin/env bash
# Build benchmark: `cairn build` against rootless buildah (`buildah bud --layers`, kernel
# overlay driver) and Charliecloud's `ch-image build`, side by side, one hyperfine run per
# case, every tool building the same Dockerfile from the same base image, offline:
#
#   busybox-cold     busybox Dockerfile (ENV, WORKDIR, two COPYs, a RUN that writes 200
#                    files and deletes a base file, USER, CMD); each run in a fresh store
#                    that holds only the imported busybox image (hyperfine --prepare), so
#                    the layer cache is empty. cairn also with --no-cache on a warm store.
#   busybox-cached   the same build again, nothing changed: every step from the cache.
#   busybox-changed  --prepare rewrites main.sh (new content, new mtime): the second COPY
#                    and every later step rebuild, the steps before stay cached.
#   debian-cold      FROM the Debian bookworm minbase image,
#                    RUN apt-get update && apt-get install -y --no-install-recommends hello
#                    (needs deb.debian.org), fresh store per run, fewer runs.
#
# Usage: bench/build_bench.sh
#   As root it installs what is missing (buildah, podman, uidmap, charliecloud, git; apt-get),
#   then re-executes itself as $BENCH_USER with a clean environment. As any other user it
#   runs as that user (who needs a range in /etc/subuid and /etc/subgid for buildah and for
#   cairn's default id mapping); a missing tool is then skipped with a message.
#
# Environment:
#   BENCH_USER          the unprivileged user, when started as root (default cairn-ci)
#   BENCH_RUNS          hyperfine --runs of the busybox cases (default 10)
#   BENCH_WARMUP        hyperfine --warmup of the busybox cases (default 1)
#   BENCH_DEBIAN_RUNS   hyperfine --runs of the Debian case (default 3; 0 skips it)
#   BENCH_CASES         which cases (default "busybox-cold busybox-cached busybox-changed
#                       debian-cold")
#   BENCH_TOOLS         which tools (default "cairn buildah ch-image")
#   BENCH_OUT_DIR       where the markdown tables go, one per case (hyperfine
#                       --export-markdown; default ${TMPDIR:-/tmp}/cairn-build-bench)
#   CAIRN_BINARY        cairn (default: build/src/cairn of this repository, else `cairn` in
#                       PATH). Started as root, a copy in /var/tmp/cairn-bench is used when
#                       $BENCH_USER cannot execute it where it is.
#   CAIRN_BUSYBOX_TAR   busybox root filesystem tar (default /var/cache/cairn-test/busybox.tar)
#   CAIRN_DEBIAN_TAR    Debian root filesystem tar (default
#                       /var/cache/cairn-test/debian-bookworm-minbase.tar)
#   BENCH_BUILDAH_OVERLAY  kernel (default: the kernel's overlayfs in buildah's user
#                       namespace; falls back to fuse-overlayfs, with a message, when that
#                       does not work) or fuse (fuse-overlayfs as mount_program)
#   BENCH_TIMEOUT       seconds one command may take before the watchdog kills it and the
#                       run fails (default 300; hyperfine itself has no timeout)
#   BENCH_KEEP          1: keep the work directory (default 0: removed at exit)
#
# Every tool gets private state in the work directory (mktemp -d under ${TMPDIR:-/tmp}):
# cairn's stores; buildah's (and podman's, which imports the base images into the same
# storage) storage.conf (CONTAINERS_STORAGE_CONF), --root, --runroot, --tmpdir, HOME and
# XDG directories, so no real user's containers storage or configuration is touched;
# ch-image's storage directory (CH_IMAGE_STORAGE) and HOME (a .gitconfig with a name: its
# build cache is a git repository). RUN steps use the host network in all three (cairn's
# default; buildah --network host; ch-image has no network namespace).
#
# Base images, offline: `cairn import TAR NAME -c 'CMD ["sh"]'`, `podman import TAR NAME
# -c 'CMD ["sh"]'` into buildah's storage, `ch-image import TAR NAME`.
#
# What differs between the tools (see bench/README.md): ch-image ignores USER and CMD (it
# warns "not supported, ignored"), has no layers (its build cache is a git repository of
# the image directory), and builds the Debian file only with --force (fakeroot: it installs
# pseudo or fakeroot from the mirror first and wraps the RUN in it), since apt-get's
# setgroups/seteuid fail in its single-id user namespace.
set -euo pipefail

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
buser=${BENCH_USER:-cairn-ci}
busybox_tar=${CAIRN_BUSYBOX_TAR:-/var/cache/cairn-test/busybox.tar}
debian_tar=${CAIRN_DEBIAN_TAR:-/var/cache/cairn-test/debian-bookworm-minbase.tar}
tools=${BENCH_TOOLS:-cairn buildah ch-image}
cases=${BENCH_CASES:-busybox-cold busybox-cached busybox-changed debian-cold}

die() { echo "build_bench: $*" >&2; exit 1; }
say() { echo "[build_bench $(date +%T)] $*" >&2; }
# shellcheck source=bench/lib.sh
. "$(dirname "$self")/lib.sh"
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

find_cairn() { # prints the cairn binary
  local c=${CAIRN_BINARY:-}
  if [ -z "$c" ]; then
    if [ -x "$repo/build/src/cairn" ]; then c=$repo/build/src/cairn
    else c=$(command -v cairn) || die "no cairn binary (build one or set CAIRN_BINARY)"; fi
  fi
  [ -f "$c" ] && [ -x "$c" ] || die "not an executable: $c (CAIRN_BINARY)"
  readlink -f "$c"
}

# ---------------------------------------------------------------------------------------
# As root: install what is missing, make the inputs reachable, re-execute as $buser.
if [ "$(id -u)" = 0 ]; then
  id "$buser" >/dev/null 2>&1 || die "user $buser missing (BENCH_USER)"
  as_buser() { setpriv --reuid="$buser" --regid="$(id -g "$buser")" --init-groups "$@"; }
  command -v hyperfine >/dev/null || die "hyperfine is not installed"

  pkgs=()
  command -v newuidmap >/dev/null && command -v newgidmap >/dev/null || pkgs+=(uidmap)
  if has "$tools" buildah; then
    command -v buildah >/dev/null || pkgs+=(buildah)
    command -v podman >/dev/null || pkgs+=(podman)
  fi
  if has "$tools" ch-image; then
    command -v ch-image >/dev/null || pkgs+=(charliecloud)
    command -v git >/dev/null || pkgs+=(git)
  fi
  if [ ${#pkgs[@]} -gt 0 ]; then
    say "installing ${pkgs[*]}"
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >&2 ||
      die "apt-get install ${pkgs[*]} failed"
  fi

  grep -q "^$buser:" /etc/subuid && grep -q "^$buser:" /etc/subgid ||
    say "warning: $buser has no range in /etc/subuid or /etc/subgid: buildah will fail"
  [ -c /dev/fuse ] || die "/dev/fuse missing (modprobe fuse)"
  as_buser test -r /dev/fuse -a -w /dev/fuse ||
    die "$buser cannot open /dev/fuse (mode $(stat -c %a /dev/fuse); the usual is 0666)"

  cairn=$(find_cairn)
  if ! as_buser test -r "$cairn" -a -x "$cairn"; then
    c=$(to_copy_dir "$cairn"); say "$buser cannot execute $cairn: using a copy, $c"; cairn=$c
  fi
  script=$self
  if ! as_buser test -r "$script"; then
    script=$(to_copy_dir "$self"); say "$buser cannot read $self: running a copy, $script"
    to_copy_dir "$(dirname "$self")/lib.sh" >/dev/null
  fi
  for t in "$busybox_tar" "$debian_tar"; do
    [ -f "$t" ] || die "root filesystem tar not found: $t (tools/make-test-images.sh)"
    as_buser test -r "$t" || die "$buser cannot read $t"
  done
  tmp=${TMPDIR:-/tmp}
  as_buser test -d "$tmp" -a -w "$tmp" -a -x "$tmp" || die "$buser cannot write to $tmp (TMPDIR)"

  home=$(getent passwd "$buser" | cut -d: -f6)
  envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        USER="$buser" LOGNAME="$buser" HOME="${home:-/}" TMPDIR="$tmp" LANG=C.UTF-8
        CAIRN_BINARY="$cairn" CAIRN_BUSYBOX_TAR="$busybox_tar" CAIRN_DEBIAN_TAR="$debian_tar"
        BENCH_TOOLS="$tools" BENCH_CASES="$cases")
  [ -n "${TERM:-}" ] && envs+=(TERM="$TERM")
  for v in BENCH_RUNS BENCH_WARMUP BENCH_DEBIAN_RUNS BENCH_TIMEOUT BENCH_OUT_DIR \
           BENCH_BUILDAH_OVERLAY BENCH_KEEP; do
    [ -n "${!v:-}" ] && envs+=("$v=${!v}")
  done
  say "re-executing as $buser"
  cd /
  exec setpriv --reuid="$buser" --regid="$(id -g "$buser")" --init-groups \
    env -i "${envs[@]}" bash "$script"
fi

# ---------------------------------------------------------------------------------------
# As the benchmark user.
runs=${BENCH_RUNS:-10}
warmup=${BENCH_WARMUP:-1}
debian_runs=${BENCH_DEBIAN_RUNS:-3}
timeout=${BENCH_TIMEOUT:-300}
export USER=${USER:-$(id -un)}
out_dir=$(readlink -m "${BENCH_OUT_DIR:-${TMPDIR:-/tmp}/cairn-build-bench}")
mkdir -p "$out_dir"
command -v hyperfine >/dev/null || { echo "build_bench: hyperfine is not installed" >&2; exit 77; }
cairn=$(find_cairn)
[ -r "$busybox_tar" ] || die "cannot read $busybox_tar (CAIRN_BUSYBOX_TAR)"
[ -r "$debian_tar" ] || ! has "$cases" debian-cold || die "cannot read $debian_tar (CAIRN_DEBIAN_TAR)"

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bb.XXXXXX")
chmod 0755 "$work"
# hyperfine -N splits the commands at whitespace, without a shell.
case "$work$cairn$busybox_tar$debian_tar" in *[[:space:]]*) die "whitespace in a path" ;; esac
# podman refuses a run root longer than 50 characters: $work/buildah/cold-debian-run.
[ ${#work} -le 24 ] || die "the work directory $work is too long for podman's --runroot (TMPDIR)"

hf="" buildah_ok=""
cleanup() {
  set +e
  if [ -n "$hf" ] && kill -0 "$hf" 2>/dev/null; then  # the script failed while hyperfine ran
    for p in $(descendants "$hf") "$hf"; do kill -KILL "$p" 2>/dev/null; done
    wait "$hf" 2>/dev/null
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $work"; return; fi
  # buildah's files belong to subordinate ids: remove them from inside its user namespace;
  # then stop podman's pause process (ours: private --tmpdir), left by `podman import`.
  local pause_pid=""
  if [ -d "$work/buildah" ]; then
    [ -f "$work/buildah/tmp/pause.pid" ] && pause_pid=$(cat "$work/buildah/tmp/pause.pid")
    [ -n "$buildah_ok" ] && bah unshare rm -rf "$work/buildah" 2>/dev/null
  fi
  rm -rf "$work" 2>/dev/null || { chmod -R u+rwX "$work"; rm -rf "$work"; }
  if [ -n "$pause_pid" ] && [ "$(cat "/proc/$pause_pid/comm" 2>/dev/null)" = catatonit ]; then
    kill "$pause_pid"
  fi
  [ -e "$work" ] && say "warning: could not remove all of $work"
}
trap cleanup EXIT

say "cairn $cairn ($("$cairn" --version 2>/dev/null)); work directory $work"

# Checks a command once before timing it (hyperfine stops at the first failure).
works() { # $1 = label, rest = command
  local label=$1 log=$work/check.log; shift
  "$@" >"$log" 2>&1 && return 0
  local rc=$?
  say "$label failed (rc=$rc): $*"; tail -n 40 "$log" | sed 's/^/    /' >&2
  return 1
}

# ---------------------------------------------------------------------------------------
# The Dockerfiles and contexts (one copy per tool: the changed case edits its context).
mkdir -p "$work/tpl/busybox/conf" "$work/tpl/debian"
cat >"$work/tpl/busybox/Dockerfile" <<'EOF'
FROM busybox:latest
ENV APP_HOME=/app GREETING=hello
WORKDIR /app
COPY conf/ /app/conf/
COPY main.sh /app/main.sh
RUN mkdir -p data && for i in $(seq 1 200); do echo "file $i" > data/f$i.txt; done && rm /bin/vi
USER nobody
CMD ["sh", "/app/main.sh"]
EOF
printf '%s\n' 'echo "$GREETING from $APP_HOME"' >"$work/tpl/busybox/main.sh"
printf 'a=1\n' >"$work/tpl/busybox/conf/a.conf"
printf 'b=2\n' >"$work/tpl/busybox/conf/b.conf"
cat >"$work/tpl/debian/Dockerfile" <<'EOF'
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends hello
EOF
chmod -R a+rX "$work/tpl"
for t in $tools; do
  mkdir -p "$work/ctx/$t"
  cp -a "$work/tpl/busybox" "$work/ctx/$t/busybox"
  cp -a "$work/tpl/debian" "$work/ctx/$t/debian"
done

# The changed case's --prepare: new content (and mtime) for main.sh.
cat >"$work/change.sh" <<'EOF'
#!/bin/sh
printf 'echo "$GREETING from $APP_HOME" # %s\n' "$(date +%s.%N)" >"$1/main.sh"
EOF

# ---------------------------------------------------------------------------------------
# Per tool: setup (the stores the cached and changed cases build in, with the base
# images), fresh-store scripts for the cold cases (hyperfine --prepare), the commands.
declare -A cmd prep skip
note() { skip[$1]=$2; say "skipping $1: $2"; }

# cairn ---------------------------------------------------------------------------------
cairn_setup() {
  local s=$work/cairn/store
  mkdir -p "$work/cairn"
  "$cairn" --root "$s" import "$busybox_tar" busybox:latest -c 'CMD ["sh"]' >/dev/null &&
    { ! has "$cases" debian-cold ||
      "$cairn" --root "$s" import "$debian_tar" debian:bookworm -c 'CMD ["bash"]' >/dev/null; } ||
    { note cairn "cairn import failed"; return 1; }
  # cold: a fresh store per run with only the base image
  for b in busybox debian; do
    local tar=$busybox_tar shcmd=sh name=busybox:latest
    [ $b = debian ] && { tar=$debian_tar; shcmd=bash; name=debian:bookworm; }
    cat >"$work/cairn/fresh-$b.sh" <<EOF
#!/bin/sh
s=$work/cairn/cold-$b
rm -rf "\$s" 2>/dev/null || { chmod -R u+rwX "\$s" && rm -rf "\$s"; } || exit 1
exec "$cairn" --root "\$s" import "$tar" $name -c 'CMD ["$shcmd"]' >/dev/null
EOF
  done
  local b
  for b in busybox debian; do
    cmd[cairn,$b-cold]="$cairn --root $work/cairn/cold-$b build --progress plain -t app $work/ctx/cairn/$b"
    prep[cairn,$b-cold]="sh $work/cairn/fresh-$b.sh"
  done
  cmd[cairn,busybox-nocache]="$cairn --root $s build --progress plain --no-cache -t app-nc $work/ctx/cairn/busybox"
  cmd[cairn,busybox-cached]="$cairn --root $s build --progress plain -t app $work/ctx/cairn/busybox"
  cmd[cairn,busybox-changed]=${cmd[cairn,busybox-cached]}
  prep[cairn,busybox-changed]="sh $work/change.sh $work/ctx/cairn/busybox"
}

# buildah -------------------------------------------------------------------------------
bah_env=() bah_global=()
bah() { "${bah_env[@]}" buildah "${bah_global[@]}" "$@"; }
pod() { "${bah_env[@]}" podman "${bah_global[@]}" --tmpdir "$work/buildah/tmp" \
          --cgroup-manager cgroupfs --events-backend file "$@"; }
buildah_config() { # $1 = kernel or fuse; $2 = storage name: $b/$2 (graphroot), $b/$2.conf
  local b=$work/buildah mp=""
  [ "$1" = fuse ] && mp='mount_program = "/usr/bin/fuse-overlayfs"'
  mkdir -p "$b/home" "$b/config" "$b/data" "$b/xdg-run" "$b/tmp"
  chmod 0700 "$b/xdg-run"
  cat >"$b/$2.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$b/$2"
runroot = "$b/$2-run"
[storage.options.overlay]
$mp
EOF
  bah_env=(env HOME="$b/home" XDG_CONFIG_HOME="$b/config" XDG_DATA_HOME="$b/data"
           XDG_RUNTIME_DIR="$b/xdg-run" TMPDIR="$b/tmp" CONTAINERS_STORAGE_CONF="$b/$2.conf")
  bah_global=(--root "$b/$2" --runroot "$b/$2-run" --storage-driver overlay)
}
buildah_setup() {
  if ! command -v buildah >/dev/null || ! command -v podman >/dev/null; then
    note buildah "buildah or podman not installed (apt-get install buildah podman)"; return 1
  fi
  local mode b=$work/buildah
  for mode in ${BENCH_BUILDAH_OVERLAY:-kernel} fuse; do
    buildah_config "$mode" storage
    buildah_ok=1
    if works "podman import busybox ($mode overlay)" \
         pod import -q "$busybox_tar" localhost/busybox:latest -c 'CMD ["sh"]' &&
       works "buildah bud ($mode overlay)" \
         bah bud --layers -q --network host -t probe "$work/ctx/buildah/busybox"; then
      bah rmi -f probe >/dev/null 2>&1 || true
      bah unshare rm -rf "$b/storage" "$b/storage-run" || true
      break
    fi
    buildah_ok=""
    "${bah_env[@]}" buildah unshare rm -rf "$b/storage" "$b/storage-run" >/dev/null 2>&1 || true
    [ "$mode" = fuse ] && { note buildah "buildah bud failed with both overlay modes (see above)"; return 1; }
    say "buildah: the kernel's overlay did not work rootless; trying fuse-overlayfs"
  done
  buildah_mode=$mode
  local info
  info=$(bah info 2>/dev/null | grep -E '"GraphDriverName"|"Native Overlay Diff"|mount_program' | tr -s ' \n' ' ')
  say "buildah storage: overlay, $mode ($info)"
  pod import -q "$busybox_tar" localhost/busybox:latest -c 'CMD ["sh"]' >/dev/null
  if has "$cases" debian-cold; then
    pod import -q "$debian_tar" localhost/debian:bookworm -c 'CMD ["bash"]' >/dev/null
  fi
  # cold: a fresh storage per run (another graphroot, its own storage.conf) with the base image
  local x
  for x in busybox debian; do
    local tar=$busybox_tar shcmd=sh name=busybox:latest
    [ $x = debian ] && { tar=$debian_tar; shcmd=bash; name=debian:bookworm; }
    buildah_config "$mode" "cold-$x"
    {
      echo '#!/bin/sh'
      printf '%q ' "${bah_env[@]}" buildah "${bah_global[@]}" unshare rm -rf "$b/cold-$x" "$b/cold-$x-run"
      echo '|| exit 1'
      printf '%q ' "${bah_env[@]}" podman "${bah_global[@]}" --tmpdir "$b/tmp" \
        --cgroup-manager cgroupfs --events-backend file import -q "$tar" "localhost/$name" \
        -c "CMD [\"$shcmd\"]"
      echo '>/dev/null'
    } >"$b/fresh-$x.sh"
    cmd[buildah,$x-cold]="${bah_env[*]} buildah ${bah_global[*]} bud --layers --network host -t app $work/ctx/buildah/$x"
    prep[buildah,$x-cold]="sh $b/fresh-$x.sh"
  done
  buildah_config "$mode" storage
  cmd[buildah,busybox-cached]="${bah_env[*]} buildah ${bah_global[*]} bud --layers --network host -t app $work/ctx/buildah/busybox"
  cmd[buildah,busybox-changed]=${cmd[buildah,busybox-cached]}
  prep[buildah,busybox-changed]="sh $work/change.sh $work/ctx/buildah/busybox"
}

# ch-image ------------------------------------------------------------------------------
chi_env=()
chi_setup() {
  if ! command -v ch-image >/dev/null || ! command -v git >/dev/null; then
    note ch-image "ch-image or git not installed (apt-get install charliecloud git)"; return 1
  fi
  local c=$work/ch-image
  mkdir -p "$c/home"
  # Its build cache is a git repository: git wants a name.
  printf '[user]\n\tname = build-bench\n\temail = build-bench@localhost\n' >"$c/home/.gitconfig"
  chi_env=(env HOME="$c/home" CH_IMAGE_STORAGE="$c/storage")
  works "ch-image import busybox" "${chi_env[@]}" ch-image import "$busybox_tar" busybox:latest ||
    { note ch-image "ch-image import failed (see above)"; return 1; }
  if has "$cases" debian-cold; then
    "${chi_env[@]}" ch-image import "$debian_tar" debian:bookworm >/dev/null 2>&1 ||
      say "ch-image import of the Debian tar failed"
  fi
  local x
  for x in busybox debian; do
    local tar=$busybox_tar name=busybox:latest
    [ $x = debian ] && { tar=$debian_tar; name=debian:bookworm; }
    {
      echo '#!/bin/sh'
      echo "s=$c/cold-$x"
      echo 'rm -rf "$s" 2>/dev/null || { chmod -R u+rwX "$s" && rm -rf "$s"; } || exit 1'
      echo "exec env HOME=$c/home CH_IMAGE_STORAGE=\$s ch-image import $tar $name >/dev/null 2>&1"
    } >"$c/fresh-$x.sh"
    prep[ch-image,$x-cold]="sh $c/fresh-$x.sh"
  done
  cmd[ch-image,busybox-cold]="env HOME=$c/home CH_IMAGE_STORAGE=$c/cold-busybox ch-image build -t app $work/ctx/ch-image/busybox"
  # Without --force apt-get fails in ch-image's single-id namespace (setgroups, seteuid).
  cmd[ch-image,debian-cold]="env HOME=$c/home CH_IMAGE_STORAGE=$c/cold-debian ch-image build --force -t app $work/ctx/ch-image/debian"
  cmd[ch-image,busybox-cached]="${chi_env[*]} ch-image build -t app $work/ctx/ch-image/busybox"
  cmd[ch-image,busybox-changed]=${cmd[ch-image,busybox-cached]}
  prep[ch-image,busybox-changed]="sh $work/change.sh $work/ctx/ch-image/busybox"
}

active=()
for t in $tools; do
  case $t in
    cairn) cairn_setup && active+=(cairn) ;;
    buildah) buildah_setup && active+=(buildah) ;;
    ch-image) chi_setup && active+=(ch-image) ;;
    *) die "unknown tool in BENCH_TOOLS: $t" ;;
  esac
done
[ ${#active[@]} -gt 0 ] || die "no tool to time"

label() { # $1 = tool, $2 = case
  case $1,$2 in
    cairn,busybox-nocache) echo "cairn build --no-cache (warm store)" ;;
    cairn,*) echo "cairn build" ;;
    buildah,*) echo "buildah bud --layers (${buildah_mode:-kernel} overlay)" ;;
    ch-image,debian-cold) echo "ch-image build --force" ;;
    ch-image,*) echo "ch-image build" ;;
  esac
}

# Runs one case: checks each tool's command once (with its prepare), then times them all.
failed=()
bench_case() { # $1 = case
  local k=$1 r=$runs w=$warmup t key names=() args=() preps=()
  [ "$k" = debian-cold ] && { r=$debian_runs; w=0; }
  [ "$r" -gt 0 ] || { say "$k: skipped (0 runs)"; return 0; }
  local keys=()
  for t in "${active[@]}"; do
    keys+=("$t,$k")
    [ "$t,$k" = cairn,busybox-cold ] && keys+=("cairn,busybox-nocache")
  done
  for key in "${keys[@]}"; do
    [ -n "${cmd[$key]:-}" ] || continue
    t=${key%%,*}
    # The Debian case is slow for buildah and ch-image (probed by hand): checked for cairn only.
    if [ "$k" != debian-cold ] || [ "$t" = cairn ]; then
      if [ -n "${prep[$key]:-}" ]; then
        works "$key prepare" ${prep[$key]} || { failed+=("$key (prepare failed)"); continue; }
      fi
      # shellcheck disable=SC2086
      if ! works "$key" ${cmd[$key]}; then
        failed+=("$(label "${key%%,*}" "${key#*,}") [$k]: $(grep -m1 -iE 'error|fail' "$work/check.log" || tail -n1 "$work/check.log")")
        continue
      fi
      [ "$t" = cairn ] && cp "$work/check.log" "$out_dir/$k.cairn-check.log"
    fi
    names+=("$(label "${key%%,*}" "${key#*,}")")
    args+=(-n "${names[-1]}" "${cmd[$key]}")
    preps+=(--prepare "${prep[$key]:-true}")
  done
  [ ${#names[@]} -gt 0 ] || { say "$k: nothing to time"; return 0; }
  say "$k: hyperfine, ${#names[@]} commands, --warmup $w --runs $r; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  if run_hyperfine -N --warmup "$w" --runs "$r" --export-markdown "$out_dir/$k.md" \
       --export-json "$out_dir/$k.json" "${preps[@]}" "${args[@]}"; then
    say "$k: done, load $(cut -d' ' -f1-3 /proc/loadavg)"
  else
    failed+=("hyperfine for $k")
  fi
}

for k in $cases; do bench_case "$k"; done

# What the cairn builds look like (progress of one cached and one changed build; the
# image's content).
if has "${active[*]}" cairn && has "$cases" busybox-cached; then
  s=$work/cairn/store
  echo
  echo "cairn, one more fully cached build (--progress plain):"
  "$cairn" --root "$s" build --progress plain -t app "$work/ctx/cairn/busybox" 2>&1 | sed 's/^/  /'
  sh "$work/change.sh" "$work/ctx/cairn/busybox"
  echo "cairn, one more build after main.sh changed:"
  "$cairn" --root "$s" build --progress plain -t app "$work/ctx/cairn/busybox" 2>&1 | sed 's/^/  /'
  echo "the image: $("$cairn" --root "$s" run --rm app sh -c \
    'echo $(ls /app/data | wc -l) files in /app/data, user $(id -un), vi: $(ls /bin/vi 2>&1); sh /app/main.sh' 2>&1)"
fi

echo
for k in $cases; do
  [ -f "$out_dir/$k.md" ] || continue
  echo "### $k"
  cat "$out_dir/$k.md"
  echo
done
echo "(markdown and json: $out_dir)"
echo "versions: $("$cairn" --version 2>/dev/null); kernel $(uname -r); $(hyperfine --version)"
has "${active[*]}" buildah && echo "  buildah $(buildah --version | awk '{print $3}'), podman $(podman --version | awk '{print $3}') (import), $(runc --version 2>/dev/null | head -1), overlay: $buildah_mode"
has "${active[*]}" ch-image && echo "  ch-image $(ch-image --version 2>&1 | head -1), git $(git --version | awk '{print $3}')"
for t in $tools; do [ -n "${skip[$t]:-}" ] && echo "Skipped: $t: ${skip[$t]}"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo
  printf 'Failed: %s\n' "${failed[@]}"
  exit 1
fi
exit 0
