#!/usr/bin/env bash
# Integration test of the store's crash safety: `cairn load` of a large archive (one layer
# of ~3000 files of random content, ~100 MB) is killed with SIGKILL at random instants, 20
# times, into one store. After each kill the next cairn command must find a consistent
# store: `cairn store verify` passes, cairn/tmp is empty again, `cairn images` lists
# either nothing or the complete image (its save is byte-identical to the archive, its
# unpacked layer has every file), and no process is left behind. A final load succeeds.
# Then, where strace can run, a small load is killed at each of its rename(2) calls in turn
# (the commit points random kills rarely hit), for a hybrid and a docker archive, with the
# same checks plus: no temporary file of an atomic write is left outside cairn/tmp.
# Drives the real binary ($CAIRN_BINARY, else `cairn` in PATH) and prints one TAP line per
# assertion; exits 1 when any assertion failed, 77 when python3 is missing.
# Environment: CAIRN_KILL_ROUNDS (default 20).
# Usage: CAIRN_BINARY=build/src/cairn tests/integration/kill_test.sh
set -euo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
if [ -z "$python" ] || [ ! -x "$python" ]; then
  echo "1..0 # SKIP python3 is not installed (it makes the test tarball)"
  exit 77
fi
rounds=${CAIRN_KILL_ROUNDS:-20}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-kill-test.XXXXXX")
loader=""
cleanup() {
  if [ -n "$loader" ]; then kill -KILL "$loader" 2>/dev/null || true; fi
  chmod -R u+rwX "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
isolate_home
mkdir -p "$tmp/work"
cd "$tmp/work"
store="$tmp/store"
start_time=$(date +%s)





out_line() { grep -qxF -e "$1" "$tmp/out"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
empty_dir() {
  [ -d "$1" ] && [ -z "$(ls -A "$1")" ] && return 0
  ls -lA "$1" >"$tmp/diff" 2>&1
  return 1
}
# no_process_left: no process has the test directory on its command line.
no_process_left() {
  ! pgrep -a -f -- "$tmp" >"$tmp/diff"
}
# image_state: "none" when `cairn images -q` lists nothing, "complete" when it lists exactly
# the image and that image is whole (it saves to the very bytes of the archive), otherwise
# "half" with the evidence in $tmp/evidence.
image_state() {
  run images -q
  if [ "$status" -ne 0 ]; then
    cp "$tmp/err" "$tmp/evidence"
    echo half
  elif [ ! -s "$tmp/out" ]; then
    echo none
  elif [ "$(cat "$tmp/out")" != "${image_id:7:12}" ]; then
    cp "$tmp/out" "$tmp/evidence"
    echo half
  else
    rm -f "$tmp/resaved.tar"
    run save --format "$archive_format" -o "$tmp/resaved.tar" kill-test/random:1
    if [ "$status" -eq 0 ] && cmp -s "$archive" "$tmp/resaved.tar"; then
      echo complete
    else
      { echo "the listed image does not save to the archive's bytes (save exit $status)"; cat "$tmp/err"; } >"$tmp/evidence"
      echo half
    fi
  fi
}
# not_half STATE: STATE is not "half" (check shows the evidence).
not_half() {
  [ "$1" != half ] && return 0
  cp "$tmp/evidence" "$tmp/diff"
  return 1
}
eval_complete() { [ "$1" = complete ] || not_half half; }
process_gone() { ! kill -0 "$1" 2>/dev/null; }
# no_stray_temp: no temporary file of an atomic write outside cairn/tmp (a write killed
# between its temp file and its rename), e.g. blobs/sha256/<hex>.tmp-* or index.json.tmp-*.
no_stray_temp() {
  find "$store" -path "$store/cairn/tmp" -prune -o -name '*.tmp-*' -print >"$tmp/diff"
  [ ! -s "$tmp/diff" ]
}
# layers_whole: every unpacked layer in the store has all the files of the tarball.
layers_whole() {
  local dir count
  : >"$tmp/diff"
  for dir in "$store"/cairn/layers/*; do
    [ -e "$dir" ] || continue
    count=$(find "$dir/root" -type f | wc -l)
    [ "$count" -eq "$file_count" ] || echo "$dir has $count files, not $file_count" >>"$tmp/diff"
  done
  [ ! -s "$tmp/diff" ]
}

# --- the archive ----------------------------------------------------------------------------
file_count=3000
"$python" - "$tmp/random.tar" "$file_count" <<'PY'
import io, os, random, sys, tarfile
path, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(20240501)
with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
    for d in range(30):
        ti = tarfile.TarInfo(f"data/d{d:02}")
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tar.addfile(ti)
    for i in range(count):
        data = os.urandom(rng.randint(2000, 64000))  # ~100 MB in all
        ti = tarfile.TarInfo(f"data/d{i % 30:02}/f{i:05}")
        ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
        tar.addfile(ti, io.BytesIO(data))
PY
run_in "$tmp/source" import "$tmp/random.tar" kill-test/random:1
[ "$status" -eq 0 ] || { echo "Bail out! import of the test tarball failed: $(cat "$tmp/err")" >&2; exit 1; }
image_id=$(head -n1 "$tmp/out")
archive="$tmp/random-hybrid.tar"
archive_format=hybrid
run_in "$tmp/source" save -o "$archive" kill-test/random:1
[ "$status" -eq 0 ] || { echo "Bail out! save failed: $(cat "$tmp/err")" >&2; exit 1; }
echo "# archive: $(($(stat -c %s "$archive") / 1000000)) MB, $file_count files"
rm -rf "$tmp/source" "$tmp/random.tar"  # only the archive is needed from here on

# How long a whole load takes here: the kills land anywhere within it.
begin=$(now_ms)
run_in "$tmp/measure" load -i "$archive"
load_ms=$(($(now_ms) - begin))
check "a load of the archive into an empty store succeeds" status_is 0
check "the load reports the image" out_line "Loaded image: kill-test/random:1"
[ "$load_ms" -gt 0 ] || load_ms=1
rm -rf "$tmp/measure"
echo "# a whole load takes $load_ms ms"

# --- kill loads at random instants ----------------------------------------------------------------
complete_rounds=0
for round in $(seq 1 "$rounds"); do
  delay=$((RANDOM * load_ms / 32768))
  "$cairn" --root "$store" load -i "$archive" >"$tmp/load.out" 2>"$tmp/load.err" &
  loader=$!
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  kill -KILL "$loader" 2>/dev/null || true
  wait "$loader" 2>/dev/null || true
  pid=$loader
  loader=""
  check "round $round (killed after $delay ms): the load process is gone" process_gone "$pid"
  run store verify
  check "round $round: store verify passes after the kill" status_is 0
  check "round $round: cairn/tmp is empty after the next cairn command" empty_dir "$store/cairn/tmp"
  check "round $round: no temporary file is left outside cairn/tmp" no_stray_temp
  state=$(image_state)
  echo "# round $round: killed after $delay ms of $load_ms; image: $state;" \
    "$(find "$store/blobs/sha256" -type f | wc -l) blobs, $(find "$store/cairn/layers" -mindepth 1 -maxdepth 1 | wc -l) layers"
  check "round $round: cairn images lists nothing or the complete image (found: $state)" not_half "$state"
  check "round $round: every unpacked layer is whole" layers_whole
  check "round $round: no process is left behind" no_process_left
  if [ "$state" = complete ]; then
    complete_rounds=$((complete_rounds + 1))
    # Start the next round from scratch, so that it loads for real again.
    run rmi kill-test/random:1
    run prune
  fi
done
echo "# $complete_rounds of $rounds killed loads had already completed"

# --- a final load ---------------------------------------------------------------------------------
run load -i "$archive"
check "a final load after the kills succeeds" status_is 0
check "the final load reports the image" out_line "Loaded image: kill-test/random:1"
state=$(image_state)
check "after the final load the image is complete (found: $state)" eval_complete "$state"
check "after the final load the unpacked layer is whole" layers_whole
run store verify
check "store verify passes at the end" status_is 0
check "no leftover under cairn/tmp at the end" empty_dir "$store/cairn/tmp"
check "no temporary file outside cairn/tmp at the end" no_stray_temp
check "no process is left behind at the end" no_process_left

# --- a kill at each rename ----------------------------------------------------------------------
# Every atomic step of a load ends in a rename(2). strace kills the load at its first, second,
# ... rename until a load runs through; after each kill the store must be consistent. This
# reaches the instants between the steps that random kills rarely hit. A small image keeps
# it quick; both the OCI path (hybrid archive) and the docker path (recompressed layers).
strace_why=""
if ! command -v strace >/dev/null 2>&1; then
  strace_why="strace is not installed"
elif ! strace -f -qq -o /dev/null true >/dev/null 2>&1; then
  strace_why="strace cannot trace here (ptrace is not permitted)"
fi
if [ -z "$strace_why" ]; then
  file_count=40
  "$python" -c '
import io, os, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
    for i in range(int(sys.argv[2])):
        data = os.urandom(1000 + 97 * i)
        ti = tarfile.TarInfo(f"small/f{i:03}")
        ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
        tar.addfile(ti, io.BytesIO(data))' "$tmp/small.tar" "$file_count"
  run_in "$tmp/small-source" import "$tmp/small.tar" kill-test/random:1
  [ "$status" -eq 0 ] || { echo "Bail out! import of the small tarball failed: $(cat "$tmp/err")" >&2; exit 1; }
  image_id=$(head -n1 "$tmp/out")
  for archive_format in hybrid docker; do
    archive="$tmp/small-$archive_format.tar"
    run_in "$tmp/small-source" save --format "$archive_format" -o "$archive" kill-test/random:1
    n=0
    while [ "$n" -lt 60 ]; do
      n=$((n + 1))
      store="$tmp/sweep-$archive_format-$n"
      "$cairn" --root "$store" images >/dev/null
      status=0
      (strace -f -qq -o "$tmp/strace.log" -e trace=rename,renameat,renameat2 \
        -e inject=rename,renameat,renameat2:signal=KILL:when="$n" \
        "$cairn" --root "$store" load -i "$archive" >/dev/null 2>&1
        exit $?) 2>/dev/null || status=$? # the subshell, not this shell, reports "Killed"
      [ "$status" -eq 0 ] && break # no rename left to kill at: the load ran through
      at=$(grep -o 'rename[a-z0-9]*("[^"]*"' "$tmp/strace.log" | tail -n1 | sed 's/^[^"]*"//; s/"$//')
      at=${at#"$store"/}
      run store verify
      check "$archive_format archive, killed at rename $n ($at): store verify passes" status_is 0
      check "$archive_format archive, killed at rename $n: cairn/tmp is empty after the next command" \
        empty_dir "$store/cairn/tmp"
      check "$archive_format archive, killed at rename $n: no temporary file is left outside cairn/tmp" \
        no_stray_temp
      state=$(image_state)
      check "$archive_format archive, killed at rename $n: images lists nothing or the complete image (found: $state)" \
        not_half "$state"
      check "$archive_format archive, killed at rename $n: every unpacked layer is whole" layers_whole
      rm -rf "$store"
    done
    check "$archive_format archive: a load that no kill stopped succeeds (after $((n - 1)) kills)" status_is 0
    rm -rf "$store"
  done
else
  skip "kills at each rename of a load" "$strace_why"
fi

echo "# $(($(date +%s) - start_time)) s"
finish
