#!/usr/bin/env bash
# Overlay filesystem benchmark: native ext4, kernel overlayfs in a user namespace,
# fuse-overlayfs and cairn-overlayfs, measured by the shared harness fsbench.sh in one
# invocation (setup, one `run` per mode, then the markdown table of `fsbench.sh report`).
#
# Usage (as root; the harness drops page caches, then runs the workloads as $FSBENCH_USER):
#   bench/overlay_bench.sh
#
# Environment:
#   BENCH_MODES      modes to run, in order (default "native kovl fuse-overlayfs cairn").
#                    "cairn" is cairn-overlayfs through the harness's custom: mode,
#                    "cairn:OPTS" the same with extra -o options (label "cairn-OPTS", e.g.
#                    cairn:spin_us=0 to compare a setting side by side); any other word is
#                    passed to `fsbench.sh run` as is (e.g. kovl:metacopy=on).
#   CAIRN_OVERLAYFS  the cairn-overlayfs binary (default: build/src/cairn-overlayfs of this
#                    repository, else `command -v cairn-overlayfs`). cairn is skipped with a
#                    message when there is none.
#   FSBENCH          the harness (default: ../shared/tools/fsbench.sh next to the repository)
#   BENCH_RSS        1 (default): sample the peak RSS (VmHWM) of the FUSE daemons every
#                    0.5 s and print it after the table; 0: off.
#   FSBENCH_*        passed through to the harness (FSBENCH_OUT, FSBENCH_RUNS,
#                    FSBENCH_WORKLOADS, ...). FSBENCH_LABEL is ignored: each mode gets its
#                    own label (cairn's is "cairn").
set -uo pipefail

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
fsbench=${FSBENCH:-$(readlink -m "$repo/../shared/tools/fsbench.sh")}
modes=${BENCH_MODES:-native kovl fuse-overlayfs cairn}
buser=${FSBENCH_USER:-tester}
export FSBENCH_OUT=${FSBENCH_OUT:-$PWD/fsbench-results}
unset FSBENCH_LABEL

die() { echo "overlay_bench: $*" >&2; exit 1; }
say() { echo "[overlay_bench $(date +%T)] $*" >&2; }
as_buser() { setpriv --reuid="$buser" --regid="$(id -g "$buser")" --init-groups "$@"; }

[ "$(id -u)" = 0 ] || die "run as root (the harness drops page caches for the cold workloads)"
id "$buser" >/dev/null 2>&1 || die "user $buser missing (FSBENCH_USER)"
[ -f "$fsbench" ] || die "harness not found: $fsbench (set FSBENCH)"
as_buser test -r "$fsbench" || die "$buser cannot read $fsbench"

needs_fuse=0
for m in $modes; do case $m in cairn | cairn:* | fuse-overlayfs*) needs_fuse=1 ;; esac; done
if [ $needs_fuse = 1 ]; then
  [ -c /dev/fuse ] || die "/dev/fuse missing (modprobe fuse)"
  if ! as_buser test -r /dev/fuse -a -w /dev/fuse; then
    # The FUSE daemons run as $buser inside `unshare -Urm`, so $buser must open /dev/fuse.
    # Debian, Fedora etc. ship /dev/fuse as 0666 (udev rule); this VM may not.
    say "chmod 0666 /dev/fuse (was $(stat -c %a /dev/fuse))"
    chmod 0666 /dev/fuse || die "chmod /dev/fuse failed"
  fi
fi

# cairn-overlayfs: the daemon runs as $buser, so the binary and every directory above it
# must be readable/searchable by $buser; otherwise use a root-owned copy in /var/tmp.
cairn_bin=""
find_cairn() {
  local c=${CAIRN_OVERLAYFS:-}
  if [ -z "$c" ]; then
    if [ -x "$repo/build/src/cairn-overlayfs" ]; then c=$repo/build/src/cairn-overlayfs
    else c=$(command -v cairn-overlayfs) || c=""; fi
  fi
  if [ -z "$c" ] || [ ! -f "$c" ] || [ ! -x "$c" ]; then
    say "cairn-overlayfs not found (${c:-set CAIRN_OVERLAYFS}): skipping mode cairn"; return 1
  fi
  c=$(readlink -f "$c")
  if ! as_buser test -r "$c" -a -x "$c"; then
    local d=/var/tmp/cairn-bench
    mkdir -p "$d" || die "mkdir $d failed"
    if [ -L "$d" ] || [ "$(stat -c %u "$d")" != 0 ]; then die "$d is not a root-owned directory"; fi
    chmod 0755 "$d"
    install -m 0755 "$c" "$d/cairn-overlayfs" || die "copy of $c failed"
    say "$buser cannot execute $c: using a copy, $d/cairn-overlayfs"
    c=$d/cairn-overlayfs
  fi
  # The harness substitutes these tokens anywhere in the template, the binary path included.
  case $c in *LOWERDIRS* | *UPPER* | *WORK* | *MERGED* | *[[:space:]]*)
    die "binary path $c contains a template token or whitespace: copy it elsewhere" ;; esac
  if as_buser ldd "$c" 2>/dev/null | grep -q 'not found'; then
    say "warning: $c has unresolved shared libraries for $buser:"; as_buser ldd "$c" | grep 'not found' >&2
  fi
  cairn_bin=$c
}

label_of() { echo "$1" | sed -e 's/^custom:.*/custom/' -e 's/[^A-Za-z0-9_.=-]/_/g' | cut -c1-60; }

# Peak RSS of the FUSE daemons (one per mount; the harness remounts for every cold/fresh run).
rss_pid=""
rss_start() { # $1 = process name (comm, 15 chars max), $2 = output file
  [ "${BENCH_RSS:-1}" = 1 ] || return 0
  local name=${1:0:15} out=$2
  : > "$out"
  (
    max=0
    trap 'echo "$max" > "$out"; exit 0' TERM
    while :; do
      for p in $(pgrep -x "$name"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        [ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v
      done
      sleep 0.5
    done
  ) &
  rss_pid=$!
}
rss_stop() { [ -n "$rss_pid" ] || return 0; kill -TERM "$rss_pid" 2>/dev/null; wait "$rss_pid" 2>/dev/null; rss_pid=""; }
trap rss_stop EXIT

say "harness $fsbench; results in $FSBENCH_OUT; modes: $modes"
t=$SECONDS
"$fsbench" setup || die "fsbench setup failed"
say "setup: $((SECONDS - t)) s"

mkdir -p "$FSBENCH_OUT"
labels=() failed=() skipped=() rss=()
for m in $modes; do
  label=$(label_of "$m") arg=$m daemon="" envs=()
  case $m in
    cairn | cairn:*)
      find_cairn || { skipped+=("$m (no cairn-overlayfs binary)"); continue; }
      extra=${m#cairn} extra=${extra#:}
      label=cairn${extra:+-$(echo "$extra" | sed 's/[^A-Za-z0-9_.=-]/_/g')}
      arg="custom:$cairn_bin -f -o lowerdir=LOWERDIRS,upperdir=UPPER,workdir=WORK${extra:+,$extra} MERGED &"
      envs=(FSBENCH_LABEL="$label") daemon=$(basename "$cairn_bin") ;;
    fuse-overlayfs*)
      command -v fuse-overlayfs >/dev/null || { skipped+=("$m (fuse-overlayfs not installed)"); continue; }
      daemon=fuse-overlayfs ;;
  esac
  say "mode $m (label $label)"
  [ -n "$daemon" ] && rss_start "$daemon" "$FSBENCH_OUT/$label.rss"
  t=$SECONDS
  env "${envs[@]}" "$fsbench" run "$arg"; rc=$?
  rss_stop
  say "mode $m: $((SECONDS - t)) s, rc=$rc"
  if [ -f "$FSBENCH_OUT/$label.tsv" ]; then labels+=("$label"); fi
  [ $rc = 0 ] || failed+=("$m (rc=$rc)")
  if [ -s "$FSBENCH_OUT/$label.rss" ]; then
    rss+=("$label: $(awk '{printf "%.1f MiB", $1 / 1024}' "$FSBENCH_OUT/$label.rss")")
  fi
done

[ ${#labels[@]} -gt 0 ] || die "no results ($(printf '%s; ' "${failed[@]}" "${skipped[@]}"))"
echo
"$fsbench" report "${labels[@]}"
if [ ${#rss[@]} -gt 0 ]; then
  echo
  printf 'Peak RSS of one FUSE daemon (VmHWM, sampled every 0.5 s):'
  printf ' %s;' "${rss[@]}"
  echo
fi
[ ${#skipped[@]} -eq 0 ] || { echo; printf 'Skipped: %s\n' "${skipped[@]}"; }
if [ ${#failed[@]} -gt 0 ]; then
  echo
  printf 'Failed: %s\n' "${failed[@]}"
  exit 1
fi
