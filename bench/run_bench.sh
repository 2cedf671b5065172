#!/usr/bin/env bash
# Sandbox startup benchmark: the time to start and finish /bin/true in the busybox image,
# rootless, in one hyperfine run: `cairn run` with a subordinate id range and with
# --userns single, rootless podman with runc, and Charliecloud's ch-run on the unpacked
# root filesystem. Then the peak RSS of one `cairn run` (GNU time) and cairn's own phase
# split (`cairn --timings run`).
#
# Usage: bench/run_bench.sh
#   As root it installs what is missing (runc, charliecloud-runtime, time, uidmap; apt-get),
#   then re-executes itself as $BENCH_USER with a clean environment. As any other user it
#   runs as that user (who needs a range in /etc/subuid and /etc/subgid); missing tools
#   are then skipped with a message.
#
# Environment:
#   BENCH_USER          the unprivileged user, when started as root (default tester)
#   BENCH_RUNS          hyperfine --runs (default 20)
#   BENCH_WARMUP        hyperfine --warmup (default 3)
#   BENCH_OUT           the markdown table (hyperfine --export-markdown; default
#                       ${TMPDIR:-/tmp}/cairn-run-bench.md). Written by the benchmark user.
#   CAIRN_BINARY        cairn (default: build/src/cairn of this repository, else `cairn` in
#                       PATH). Started as root, a copy in /var/tmp/cairn-bench is used when
#                       $BENCH_USER cannot execute it where it is.
#   CAIRN_BUSYBOX_TAR   the busybox root filesystem tar (default
#                       /var/cache/cairn-test/busybox.tar)
#   BENCH_PODMAN_DRIVER podman storage driver (default overlay: the kernel's overlayfs in the
#                       user namespace; falls back to vfs when overlay does not work)
#   BENCH_TOOLS         which commands to time (default "cairn cairn-single podman ch-run")
#   BENCH_TIMEOUT       seconds one command may take before the watchdog kills it and the
#                       run fails (default 60; hyperfine itself has no timeout)
#   BENCH_KEEP          1: keep the work directory (default 0: removed at exit)
#
# Every tool gets private state in the work directory (mktemp -d under ${TMPDIR:-/tmp}):
# cairn's store, podman's --root/--runroot/--tmpdir and XDG/HOME directories (so no real
# user's containers storage or configuration is touched), ch-run's image directory.
# All commands share the host network: cairn's default; podman with --network host
# (rootless slirp4netns would also cost a process and needs /dev/net/tun); ch-run has no
# network namespace.
set -euo pipefail

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
buser=${BENCH_USER:-tester}
tar_in=${CAIRN_BUSYBOX_TAR:-/var/cache/cairn-test/busybox.tar}
tools=${BENCH_TOOLS:-cairn cairn-single podman ch-run}

die() { echo "run_bench: $*" >&2; exit 1; }
say() { echo "[run_bench $(date +%T)] $*" >&2; }
# shellcheck source=bench/lib.sh
. "$(dirname "$self")/lib.sh"

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
  [ -x /usr/bin/time ] || pkgs+=(time)
  case " $tools " in *" podman "*)
    command -v podman >/dev/null || pkgs+=(podman)
    command -v runc >/dev/null || pkgs+=(runc) ;;
  esac
  case " $tools " in *" ch-run "*) command -v ch-run >/dev/null || pkgs+=(charliecloud-runtime) ;; esac
  if [ ${#pkgs[@]} -gt 0 ]; then
    say "installing ${pkgs[*]}"
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >&2 ||
      die "apt-get install ${pkgs[*]} failed"
  fi

  grep -q "^$buser:" /etc/subuid && grep -q "^$buser:" /etc/subgid ||
    say "warning: $buser has no range in /etc/subuid or /etc/subgid: range mode and podman will fail"
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
  [ -f "$tar_in" ] || die "busybox tar not found: $tar_in (CAIRN_BUSYBOX_TAR; tools/make-test-images.sh)"
  as_buser test -r "$tar_in" || die "$buser cannot read $tar_in"
  tmp=${TMPDIR:-/tmp}
  as_buser test -d "$tmp" -a -w "$tmp" -a -x "$tmp" || die "$buser cannot write to $tmp (TMPDIR)"

  home=$(getent passwd "$buser" | cut -d: -f6)
  envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        USER="$buser" LOGNAME="$buser" HOME="${home:-/}" TMPDIR="$tmp" LANG=C.UTF-8
        CAIRN_BINARY="$cairn" CAIRN_BUSYBOX_TAR="$tar_in" BENCH_TOOLS="$tools")
  [ -n "${TERM:-}" ] && envs+=(TERM="$TERM")
  for v in BENCH_RUNS BENCH_WARMUP BENCH_TIMEOUT BENCH_OUT BENCH_PODMAN_DRIVER BENCH_KEEP; do
    [ -n "${!v:-}" ] && envs+=("$v=${!v}")
  done
  say "re-executing as $buser"
  cd /
  exec setpriv --reuid="$buser" --regid="$(id -g "$buser")" --init-groups \
    env -i "${envs[@]}" bash "$script"
fi

# ---------------------------------------------------------------------------------------
# As the benchmark user.
runs=${BENCH_RUNS:-20}
warmup=${BENCH_WARMUP:-3}
timeout=${BENCH_TIMEOUT:-60}
export USER=${USER:-$(id -un)}  # ch-run refuses to start without $USER
out=${BENCH_OUT:-${TMPDIR:-/tmp}/cairn-run-bench.md}
out=$(readlink -m "$out")
command -v hyperfine >/dev/null || { echo "run_bench: hyperfine is not installed" >&2; exit 77; }
cairn=$(find_cairn)
[ -r "$tar_in" ] || die "cannot read the busybox tar $tar_in (CAIRN_BUSYBOX_TAR)"

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-run-bench.XXXXXX")
chmod 0755 "$work"
# hyperfine -N splits the commands at whitespace, without a shell.
case "$work$cairn" in *[[:space:]]*) die "whitespace in $work or $cairn" ;; esac

pause_pid="" hf=""
cleanup() {
  set +e
  if [ -n "$hf" ] && kill -0 "$hf" 2>/dev/null; then  # the script failed while hyperfine ran
    for p in $(descendants "$hf") "$hf"; do kill -KILL "$p" 2>/dev/null; done
    wait "$hf" 2>/dev/null
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $work"; return; fi
  # podman's and the sandboxes' files belong to subordinate ids: remove them from inside
  # podman's user namespace, then stop podman's pause process (ours: private --tmpdir).
  if [ -d "$work/podman" ] && command -v podman >/dev/null; then
    [ -f "$work/podman/tmp/pause.pid" ] && pause_pid=$(cat "$work/podman/tmp/pause.pid")
    "${podman[@]}" unshare rm -rf "$work/podman/storage" "$work/podman/runroot" 2>/dev/null
  fi
  rm -rf "$work" 2>/dev/null || { chmod -R u+rwX "$work"; rm -rf "$work"; }
  if [ -n "$pause_pid" ] && [ "$(cat "/proc/$pause_pid/comm" 2>/dev/null)" = catatonit ]; then
    kill "$pause_pid"
  fi
  [ -e "$work" ] && say "warning: could not remove all of $work"
}
trap cleanup EXIT

say "cairn $cairn ($("$cairn" --version 2>/dev/null)); work directory $work"
names=() cmds=() skipped=()
add() { names+=("$1"); cmds+=("$2"); }

# Checks a command once before timing it (hyperfine stops at the first failure).
works() { # $1 = label, rest = command
  local label=$1 log=$work/check.log; shift
  "$@" >"$log" 2>&1 && return 0
  local rc=$?
  say "$label failed (rc=$rc): $*"; sed 's/^/    /' "$log" >&2
  return 1
}

# cairn: a private store with the busybox root filesystem.
store=$work/cairn-store
case " $tools " in *" cairn "* | *" cairn-single "*)
  "$cairn" --root "$store" import "$tar_in" busybox >/dev/null || die "cairn import failed" ;;
esac
for t in $tools; do
  case $t in
    cairn)
      # explicit --userns range: auto would silently fall back to single without a range.
      c="$cairn --root $store run --userns range busybox /bin/true"
      if works "cairn run (range)" $c; then add "cairn run (userns range)" "$c"
      else skipped+=("cairn run --userns range (failed, see above)"); fi ;;
    cairn-single)
      c="$cairn --root $store run --userns single busybox /bin/true"
      if works "cairn run (single)" $c; then add "cairn run --userns single" "$c"
      else skipped+=("cairn run --userns single (failed, see above)"); fi ;;
    podman)
      if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
        skipped+=("podman (podman or runc not installed: apt-get install podman runc)"); continue
      fi
      # Private everything: storage, run root, libpod tmp (pause process, locks), HOME and
      # XDG directories (no user containers.conf/storage.conf), file events (no journald).
      p=$work/podman
      mkdir -p "$p/home" "$p/config" "$p/data" "$p/xdg-run" "$p/tmp"
      chmod 0700 "$p/xdg-run"
      podman_env=(env HOME="$p/home" XDG_CONFIG_HOME="$p/config" XDG_DATA_HOME="$p/data"
                  XDG_RUNTIME_DIR="$p/xdg-run")
      podman_ok=""
      for driver in ${BENCH_PODMAN_DRIVER:-overlay} vfs; do
        podman=("${podman_env[@]}" podman --root "$p/storage" --runroot "$p/runroot"
                --tmpdir "$p/tmp" --storage-driver "$driver" --runtime runc
                --cgroup-manager cgroupfs --events-backend file)
        if works "podman import ($driver)" "${podman[@]}" import -q "$tar_in" localhost/bench/busybox &&
           works "podman run ($driver)" "${podman[@]}" run --rm --network host localhost/bench/busybox /bin/true; then
          podman_ok=$driver; break
        fi
        "${podman[@]}" unshare rm -rf "$p/storage" "$p/runroot" >/dev/null 2>&1 || true
        [ "$driver" = vfs ] && break
        say "podman: trying the vfs driver instead of $driver"
      done
      if [ -n "$podman_ok" ]; then
        add "podman run --rm (runc, $podman_ok)" "${podman[*]} run --rm --network host localhost/bench/busybox /bin/true"
      else
        skipped+=("podman (failed, see above)")
      fi ;;
    ch-run)
      if ! command -v ch-run >/dev/null; then
        skipped+=("ch-run (not installed: apt-get install charliecloud-runtime)"); continue
      fi
      # Device nodes cannot be made unprivileged, and ch-run binds the host's /dev anyway.
      img=$work/ch-image
      mkdir -p "$img"
      tar -xf "$tar_in" -C "$img" --no-same-owner \
        --exclude='./dev/*' --exclude='dev/*' || die "unpacking $tar_in for ch-run failed"
      c="ch-run $img -- /bin/true"
      if works "ch-run" $c; then add "ch-run $(ch-run --version 2>&1 | head -1)" "$c"
      else skipped+=("ch-run (failed, see above)"); fi ;;
    *) die "unknown tool in BENCH_TOOLS: $t" ;;
  esac
done
[ ${#names[@]} -gt 0 ] || die "nothing to time ($(printf '%s; ' "${skipped[@]}"))"

args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
say "hyperfine: ${#names[@]} commands, --warmup $warmup --runs $runs; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# hyperfine has no timeout: run_hyperfine (lib.sh) kills a command that runs longer than
# $BENCH_TIMEOUT s (after printing its process tree), so a hang fails the run instead of
# blocking it.
run_hyperfine -N --warmup "$warmup" --runs "$runs" --export-markdown "$out" "${args[@]}" ||
  die "hyperfine failed"
say "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$out"
echo "(markdown: $out)"

case " $tools " in *" cairn "* | *" cairn-single "*)
  echo
  echo "peak memory (GNU time -v, maximum resident set size of cairn and the processes it waits for):"
  for mode in range single; do
    case " $tools " in *" cairn "*) ;; *) [ $mode = range ] && continue ;; esac
    case " $tools " in *" cairn-single "*) ;; *) [ $mode = single ] && continue ;; esac
    if /usr/bin/time -v -o "$work/time.txt" "$cairn" --root "$store" run --userns $mode busybox /bin/true; then
      awk -v m=$mode -F': ' '/Maximum resident set size/ {kib=$2}
        /Elapsed \(wall clock\)/ {wall=$2}
        END {printf "cairn run --userns %s busybox /bin/true: %d KiB (%.1f MiB), wall %s\n", m, kib, kib / 1024, wall}' \
        "$work/time.txt"
    else
      echo "cairn run --userns $mode under GNU time failed"
    fi
  done
  echo
  echo "cairn's phases, one run each (cairn --timings):"
  for mode in range single; do
    echo "--userns $mode:"
    "$cairn" --timings --root "$store" run --userns $mode busybox /bin/true 2>&1 | sed 's/^/  /'
  done ;;
esac

echo
echo "versions: $("$cairn" --version 2>/dev/null); kernel $(uname -r)"
command -v podman >/dev/null && [ -n "${podman_ok:-}" ] &&
  echo "  podman $(podman --version | awk '{print $3}'), $(runc --version | head -1), storage driver $podman_ok"
command -v ch-run >/dev/null && echo "  ch-run $(ch-run --version 2>&1 | head -1)"
[ ${#skipped[@]} -eq 0 ] || { echo; printf 'Skipped: %s\n' "${skipped[@]}"; }
exit 0
