# shellcheck shell=bash
# TAP-like assertions shared by the integration scripts (sourced; the caller sets $tmp).
# shellcheck disable=SC2154
# check DESCRIPTION COMMAND... passes when COMMAND succeeds; a failure shows the last run's
# exit status and output ($tmp/out, $tmp/err, or $tmp/diff when a predicate wrote one).
tests=0
failures=0
status=0

check() {
  local description=$1
  shift
  tests=$((tests + 1))
  rm -f "$tmp/diff"
  if "$@"; then
    echo "ok $tests - $description"
  else
    failures=$((failures + 1))
    echo "not ok $tests - $description"
    echo "#   exit status: $status"
    if [ -s "$tmp/diff" ]; then
      sed 's/^/#   /' "$tmp/diff" | head -n 60
    else
      sed 's/^/#   stdout: /' "$tmp/out" 2>/dev/null | head -n 40
      sed 's/^/#   stderr: /' "$tmp/err" 2>/dev/null | head -n 40
    fi
  fi
}

# todo REASON DESCRIPTION COMMAND...: an assertion that a known, documented limitation of
# cairn makes fail: reported as "# TODO REASON" either way and not counted as a failure
# (CAIRN_TEST_STRICT=1 counts it), so that it shows when the limitation goes.
todo() {
  local reason=$1 description=$2
  shift 2
  tests=$((tests + 1))
  if "$@"; then
    echo "ok $tests - $description # TODO $reason (passes now: remove the marker)"
  else
    echo "not ok $tests - $description # TODO $reason"
    if [ "${CAIRN_TEST_STRICT:-0}" = 1 ]; then failures=$((failures + 1)); fi
  fi
}

# skip DESCRIPTION REASON: an assertion that cannot be made here.
skip() {
  tests=$((tests + 1))
  echo "ok $tests - $1 # SKIP $2"
}

status_is() { [ "$status" -eq "$1" ]; }

# skip_all REASON: the whole script cannot run here (a plan of 0 and exit status 77).
skip_all() {
  echo "1..0 # SKIP $1" >&2
  exit 77
}

# require_overlay_basics: what every test of the overlay and the sandbox needs — user and
# mount namespaces for the user, a /dev/fuse it can open, and the busybox rootfs tar.
require_overlay_basics() {
  unshare -Urm true 2>/dev/null || skip_all "unprivileged user namespaces are not available"
  { [ -r /dev/fuse ] && [ -w /dev/fuse ]; } ||
    skip_all "/dev/fuse is not readable and writable by $(id -un)"
  { [ -n "${CAIRN_BUSYBOX_TAR:-}" ] && [ -r "$CAIRN_BUSYBOX_TAR" ]; } ||
    skip_all "CAIRN_BUSYBOX_TAR does not name the busybox rootfs tar"
}

# finish: the plan line and the verdict; exits 1 when an assertion failed.
finish() {
  echo "1..$tests"
  if [ "$failures" -gt 0 ]; then
    echo "# $failures of $tests assertions failed"
    exit 1
  fi
  echo "# all $tests assertions passed"
}

# expected_id_mode: the identity mode cairn must pick by itself for this user: range when
# the user has an /etc/subuid range and newuidmap/newgidmap exist, single otherwise.
expected_id_mode() {
  local me
  me=$(id -un)
  if grep -q "^$me:" /etc/subuid 2>/dev/null && command -v newuidmap >/dev/null &&
     command -v newgidmap >/dev/null; then
    echo range
  else
    echo single
  fi
}

# require_cairn: sets $cairn to $CAIRN_BINARY (else `cairn` in PATH) as an absolute path;
# bails out when there is none.
require_cairn() {
  cairn=${CAIRN_BINARY:-$(command -v cairn || true)}
  if [ -z "$cairn" ] || [ ! -x "$cairn" ]; then
    echo "Bail out! no cairn binary: set CAIRN_BINARY or put cairn in PATH" >&2
    exit 1
  fi
  case $cairn in /*) ;; *) cairn="$PWD/$cairn" ;; esac
}

# isolate_home: HOME and the XDG directories inside $tmp, so that no test reads the user's
# real configuration or touches their store.
isolate_home() {
  export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data"
  mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
}

# run_rm IMAGE CMD...: `cairn run --rm` on the test's store, output in $tmp/out and
# $tmp/err, the exit status in $status.
run_rm() {
  status=0
  timeout -k 5 120 "$cairn" --root "$store" run --rm "$@" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    status=$?
}
# file_is IMAGE PATH CONTENT: PATH in IMAGE holds exactly CONTENT.
file_is() {
  run_rm "$1" cat "$2"
  if [ "$status" -eq 0 ] && [ "$(cat "$tmp/out")" = "$3" ]; then return 0; fi
  { echo "$2 in $1: expected '$3', got (status $status):"; cat "$tmp/out" "$tmp/err"; } >"$tmp/diff"
  return 1
}

# run ARGS...: runs cairn on the test's store ($store); its output lands in $tmp/out and
# $tmp/err, its exit status in $status.
run() {
  status=0
  "$cairn" --root "$store" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}
# run_in ROOT ARGS...: the same on another store.
run_in() {
  local root=$1
  shift
  status=0
  "$cairn" --root "$root" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}
