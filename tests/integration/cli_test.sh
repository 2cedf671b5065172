#!/usr/bin/env bash
# Integration test of cairn's command line: help, version, usage errors, --timings.
# Drives the real binary ($CAIRN_BINARY, else `cairn` in PATH) and prints one TAP line per
# assertion; exits 1 when any assertion failed.
# Usage: CAIRN_BINARY=build/src/cairn tests/integration/cli_test.sh
set -euo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cli-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
isolate_home
cd "$tmp"


# run ARGS...: runs cairn; its output lands in $tmp/out and $tmp/err, its exit status in
# $status.
run() {
  status=0
  "$cairn" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}


out_has() { grep -qF -e "$1" "$tmp/out"; }
err_has() { grep -qF -e "$1" "$tmp/err"; }
out_matches() { grep -qE -e "$1" "$tmp/out"; }
err_matches() { grep -qE -e "$1" "$tmp/err"; }
out_empty() { [ ! -s "$tmp/out" ]; }
err_empty() { [ ! -s "$tmp/err" ]; }
# same_files EXPECTED ACTUAL: equal files (check shows the diff).
same_files() { diff -u "$1" "$2" >"$tmp/diff"; }

printf 'FROM busybox\nRUN echo hi\n' >Dockerfile

# --- help ---------------------------------------------------------------------------
run --help
check "cairn --help exits 0" status_is 0
cp "$tmp/out" "$tmp/help.out"
for sub in parse config mount umount help version; do
  check "cairn --help lists the subcommand '$sub'" out_matches "^  $sub( |$)"
done
for option in --config --root --log-level --debug --timings --version; do
  check "cairn --help lists the global option $option" out_has "$option"
done
check "cairn --help writes nothing to stderr" err_empty

run -h
check "cairn -h prints the same help as --help" same_files "$tmp/help.out" "$tmp/out"

run parse --help
check "cairn parse --help exits 0" status_is 0
check "cairn parse --help shows the usage of parse" out_has "Usage: cairn parse [OPTIONS]"
cp "$tmp/out" "$tmp/parse-help.out"
for option in --file --json --stages --target --build-arg --platform; do
  check "cairn parse --help lists $option" out_has "$option"
done

run help parse
check "cairn help parse exits 0" status_is 0
check "cairn help parse prints what cairn parse --help prints" \
  same_files "$tmp/parse-help.out" "$tmp/out"

run config --help
cp "$tmp/out" "$tmp/config-help.out"
run help config
check "cairn help config prints what cairn config --help prints" \
  same_files "$tmp/config-help.out" "$tmp/out"

run help
check "cairn help exits 0" status_is 0
check "cairn help prints what cairn --help prints" same_files "$tmp/help.out" "$tmp/out"

run help nosuch
check "cairn help nosuch exits 2" status_is 2
check "cairn help nosuch says the subcommand is unknown" \
  err_has "cairn: error: unknown subcommand 'nosuch'"
check "cairn help nosuch prints nothing on stdout" out_empty

# --- version ------------------------------------------------------------------------
run --version
check "cairn --version exits 0" status_is 0
check "cairn --version prints 'cairn X.Y.Z'" out_matches '^cairn [0-9]+\.[0-9]+\.[0-9]+$'
cp "$tmp/out" "$tmp/version.out"
run -V
check "cairn -V prints what cairn --version prints" same_files "$tmp/version.out" "$tmp/out"
run version
check "cairn version exits 0" status_is 0
check "cairn version prints 'cairn X.Y.Z'" out_matches '^cairn [0-9]+\.[0-9]+\.[0-9]+$'
check "cairn version prints what cairn --version prints" \
  same_files "$tmp/version.out" "$tmp/out"
check "cairn version prints exactly one line" [ "$(wc -l <"$tmp/out")" -eq 1 ]
run version extra
check "cairn version with an argument exits 2" status_is 2

# --- usage errors -------------------------------------------------------------------
run
check "cairn without a subcommand exits 2" status_is 2
check "cairn without a subcommand prints the usage" out_has "Usage: cairn [OPTIONS] [SUBCOMMAND]"

run nosuch
check "an unknown subcommand exits 2" status_is 2
check "an unknown subcommand is named in the error" err_has "nosuch"
check "an unknown subcommand points to cairn --help" err_has "cairn --help"

run --nosuch
check "an unknown global option exits 2" status_is 2
check "an unknown global option is named in the error" err_has "--nosuch"

run parse --nosuch
check "an unknown option of a subcommand exits 2" status_is 2
check "an unknown option of a subcommand is named in the error" err_has "--nosuch"

run --root
check "a global option without its value exits 2" status_is 2

run --log-level bogus config
check "--log-level bogus exits 2" status_is 2
check "--log-level bogus names the option and the levels" \
  err_has "--log-level: must be error, warn, info, debug or trace, not bogus"
check "--log-level bogus prints nothing on stdout" out_empty

for level in error warn warning info debug trace; do
  run --log-level "$level" version
  check "--log-level $level is accepted" status_is 0
done
run --debug version
check "--debug is accepted" status_is 0

run config --log-level debug
check "global options are accepted after the subcommand" out_has 'level = "debug"  # flag --log-level'

# --- timings ------------------------------------------------------------------------
run parse -f Dockerfile
cp "$tmp/out" "$tmp/parse.out"
check "cairn parse alone prints no timing table" err_empty
run --timings parse -f Dockerfile
check "--timings parse exits 0" status_is 0
check "--timings prints a table header on stderr" err_matches '^PHASE +COUNT +TOTAL \(ms\)$'
check "--timings lists the parse phase on stderr" err_matches '^parse +1 +[0-9]+\.[0-9]{3}$'
check "--timings lists reading the Dockerfile on stderr" err_matches '^read Dockerfile +1 '
check "--timings leaves stdout as it was" same_files "$tmp/parse.out" "$tmp/out"

finish
