# Shared by the benchmark scripts, which source it after defining die and say. A script
# that re-runs itself as the benchmark user from a copy (to_copy_dir) copies this file too.

# descendants PID: the processes below PID, deepest first.
descendants() { local c; for c in $(pgrep -P "$1"); do descendants "$c"; echo "$c"; done; }

# to_copy_dir FILE: prints a root-owned copy of FILE in /var/tmp/cairn-bench that every
# user may read and run (for a benchmark user who cannot reach the repository).
to_copy_dir() {
  local copy_dir=/var/tmp/cairn-bench
  mkdir -p "$copy_dir" || die "mkdir $copy_dir failed"
  if [ -L "$copy_dir" ] || [ "$(stat -c %u "$copy_dir")" != 0 ]; then die "$copy_dir is not a root-owned directory"; fi
  chmod 0755 "$copy_dir"
  install -m 0755 "$1" "$copy_dir/$(basename "$1")" || die "copy of $1 failed"
  echo "$copy_dir/$(basename "$1")"
}

# hyperfine with a watchdog (it has no timeout of its own): a command that runs longer
# than $timeout s (BENCH_TIMEOUT) is killed, after its process tree is printed, and the
# run fails. $hf holds hyperfine's pid while it runs, for the caller's cleanup.
run_hyperfine() {
  hyperfine "$@" &
  hf=$!
  local hung="" c age tree p
  set +e  # the watchdog races with the commands' ends: nothing in it may stop the script
  while kill -0 "$hf" 2>/dev/null; do
    for c in $(pgrep -P "$hf"); do
      age=$(ps -o etimes= -p "$c" 2>/dev/null | tr -d ' ')
      [ -n "$age" ] && [ "$age" -gt "$timeout" ] || continue
      hung=$(tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null)
      say "hang: pid $c has run for ${age} s (BENCH_TIMEOUT=$timeout): $hung"
      tree=$(descendants "$c")
      # shellcheck disable=SC2086
      ps -o pid,ppid,stat,wchan:28,etimes,args -p "$c" $tree >&2
      say "killing pid $c and its descendants (as root: gdb -p PID, bt, shows where they wait)"
      for p in $tree "$c"; do kill -KILL "$p" 2>/dev/null; done
    done
    sleep 1
  done
  wait "$hf"
  local rc=$?
  hf=""
  set -e
  [ -z "$hung" ] || say "a command hung and was killed: $hung"
  return $rc
}
