#!/usr/bin/env bash
# Integration test of `cairn doctor` as the user who runs it: the report names every check,
# the kernel line is uname's, the verdicts agree with what the machine offers (user
# namespaces, /dev/fuse), the identity mode is the one this user's /etc/subuid and
# /etc/subgid allow (range with a range, single-id without, with a usermod fix whose range
# is free), sandbox.userns is obeyed, --json says the same, and the store is looked at
# without being created (a store whose parents do not exist, one that cannot be created,
# one that is a file). Runs as any user; meant for an unprivileged one.
# Usage: CAIRN_BINARY=build/src/cairn tests/integration/doctor_test.sh
set -uo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to read --json" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-doctor-test.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
isolate_home
# shellcheck disable=SC2034  # read by tap.sh's run
store="$tmp/store"
user=$(id -un)
uid=$(id -u)

out_has() { grep -qF -- "$1" "$tmp/out"; }
# line NAME: the report's line for check NAME ("  ok    NAME   finding").
line() {
  awk -v name="$1" '/^  (ok|warn|FAIL) / && index(substr($0, 9), name "  ") == 1' "$tmp/out" | grep .
}
has_line() { line "$1" >/dev/null; }
line_is() { line "$1" | grep -qE "^  $2 "; }
line_has() { line "$1" | grep -qF -- "$2"; }
# json EXPR: evaluates a Python expression over the JSON report `d` from $tmp/out; true
# when it is truthy, with the value in $tmp/diff when not.
json() {
  python3 - "$tmp/out" "$1" >"$tmp/diff" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
checks = {c["id"]: c for c in d["checks"] + d["conclusions"]}
value = eval(sys.argv[2])
print(sys.argv[2], "->", value)
sys.exit(0 if value else 1)
EOF
}

# --- what this machine offers, as the test sees it --------------------------------------
userns=no
unshare -Urm true 2>/dev/null && userns=yes
fuse=no
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] && fuse=yes
# A subordinate range for this user, by name or uid, as shadow-utils reads the files.
has_range() { awk -F: -v u="$user" -v id="$uid" '($1 == u || $1 == id) && $3 > 0 { f = 1 } END { exit !f }' "$1" 2>/dev/null; }
expected_mode=single-id
if [ "$uid" -ne 0 ] && has_range /etc/subuid && has_range /etc/subgid &&
  [ -n "$(PATH=/usr/bin:/usr/sbin:/bin:/sbin:/usr/local/bin command -v newuidmap)" ] &&
  [ -n "$(PATH=/usr/bin:/usr/sbin:/bin:/sbin:/usr/local/bin command -v newgidmap)" ]; then
  expected_mode=range
fi
echo "# $user (uid $uid): user namespaces $userns, /dev/fuse usable $fuse, expecting $expected_mode"

# --- the text report ----------------------------------------------------------------------
run doctor
check "cairn doctor runs (exit status 0 or 1)" test "$status" -le 1
for name in kernel "user namespaces" "sandbox namespaces" "network namespace" \
  max_user_namespaces unprivileged_userns_clone "AppArmor userns rule" /dev/fuse \
  "FUSE in a user namespace" fusermount3 newuidmap/newgidmap "subuid range" "subgid range" \
  "seccomp user notification" store "store filesystem" "user xattrs" "free space" \
  "identity mode" "overlay mode"; do
  check "the report has a line for $name" has_line "$name"
done
check "the report names the user" out_has "cairn doctor: $user (uid $uid"
check "the kernel line is uname's release" line_has kernel "$(uname -r)"
check "every FAIL line is followed by a fix" \
  awk '/^  FAIL / { want = 1; next } want && !/^ +fix: / { exit 1 } { want = 0 } END { exit want }' "$tmp/out"

if [ "$userns" = yes ] && [ "$fuse" = yes ]; then
  check "user namespaces and /dev/fuse usable: exit status 0" status_is 0
  check "... and the report says cairn can run builds" out_has "cairn can run builds here."
  check "... the user namespace line is ok" line_is "user namespaces" ok
  check "... the overlay mode is FUSE in a user namespace" line_has "overlay mode" "FUSE in a user namespace"
else
  check "user namespaces or /dev/fuse unusable: exit status 1" status_is 1
  check "... and the report says cairn cannot run builds" out_has "cairn cannot run builds here"
fi
if [ "$fuse" = yes ]; then
  check "/dev/fuse is reported usable with its mode" line_has /dev/fuse "$(stat -c %04a /dev/fuse)"
else
  check "/dev/fuse is FAIL with the fix" line_is /dev/fuse FAIL
fi

check "the identity mode is $expected_mode" line_has "identity mode" "$expected_mode:"
if [ "$uid" -eq 0 ]; then
  check "as root no subordinate range is needed" line_has "subuid range" "not needed"
elif [ "$expected_mode" = range ]; then
  range=$(awk -F: -v u="$user" -v id="$uid" '$1 == u || $1 == id { print $2 "-" $2 + $3 - 1; exit }' /etc/subuid)
  check "the subuid line shows the range $range" line_has "subuid range" "$range"
  check "the subuid line is ok" line_is "subuid range" ok
else
  check "without a range the subuid line warns" line_is "subuid range" warn
  check "... with a usermod fix for this user" \
    grep -qE "fix: as root: usermod --add-subuids [0-9]+-[0-9]+ --add-subgids [0-9]+-[0-9]+ $user\$" "$tmp/out"
  fix_start=$(grep -oE -- '--add-subuids [0-9]+' "$tmp/out" | head -n 1 | cut -d' ' -f2)
  # The suggested range must be free: no line of /etc/subuid or /etc/subgid overlaps it.
  range_is_free() {
    cat /etc/subuid /etc/subgid 2>/dev/null |
      awk -F: -v s="$fix_start" 'NF == 3 && $2 < s + 65536 && s < $2 + $3 { exit 1 }'
  }
  check "... whose range ($fix_start+65536) no one has yet" range_is_free
  check "... and the identity line gives the reason" line_has "identity mode" "range mode is not possible"
fi

# --- sandbox.userns ----------------------------------------------------------------------
mkdir -p "$XDG_CONFIG_HOME/cairn"
printf '[sandbox]\nuserns = "single"\n' >"$XDG_CONFIG_HOME/cairn/cairn.toml"
run doctor
check "sandbox.userns = single: single-id, as asked" line_has "identity mode" "single-id: "
check "... with the reason" line_has "identity mode" "asked for"
printf '[sandbox]\nuserns = "range"\n' >"$XDG_CONFIG_HOME/cairn/cairn.toml"
run doctor
if [ "$expected_mode" = range ]; then
  check "sandbox.userns = range: range" line_has "identity mode" "range: "
else
  check "sandbox.userns = range without a range: the identity line is FAIL" line_is "identity mode" FAIL
  check "... the exit status is 1" status_is 1
  check "... and the fix names sandbox.userns" out_has 'sandbox.userns = "auto"'
fi
rm "$XDG_CONFIG_HOME/cairn/cairn.toml"

# --- --json ------------------------------------------------------------------------------
run doctor
text_status=$status
run doctor --json
check "--json: the same exit status as the text report" status_is "$text_status"
check "--json: a JSON object with the user" json 'd["user"] == "'"$user"'" and d["uid"] == '"$uid"
check "--json: can_build agrees with the exit status" json 'd["can_build"] == ('"$status"' == 0)'
for id in kernel userns sandbox_namespaces network_namespace max_user_namespaces \
  unprivileged_userns_clone apparmor_restrict_unprivileged_userns dev_fuse fuse_userns \
  fusermount3 newuidmap subuid subgid seccomp_user_notification store store_filesystem \
  user_xattrs free_space identity_mode overlay_mode; do
  check "--json: a finding for $id" json '"'"$id"'" in checks and checks["'"$id"'"]["status"] in ("ok", "warn", "FAIL")'
done
check "--json: the identity mode is $expected_mode" json 'd["identity_mode"] == "'"$expected_mode"'"'
check "--json: the kernel value is uname's release" json 'checks["kernel"]["value"] == "'"$(uname -r)"'"'
check "--json: every FAIL has a fix" json 'all("fix" in c for c in checks.values() if c["status"] == "FAIL")'
check "--json: free space is a number of bytes" json 'isinstance(checks["free_space"]["value"], int)'
if [ "$userns" = yes ] && [ "$fuse" = yes ]; then
  check "--json: the overlay mode is fuse-userns" json 'd["overlay_mode"] == "fuse-userns"'
fi

# --- the store is looked at, never created ----------------------------------------------
run_in "$tmp/no/such/parent/store" doctor
check "a store whose parents do not exist: same exit status" status_is "$text_status"
check "... the store line is ok and says it does not exist yet" line_is store ok
check "... it names the nearest existing directory" line_has store "(looked at $tmp)"
check "... and nothing was created" test ! -e "$tmp/no"
check "... and no probe file was left behind" test -z "$(find "$tmp" -maxdepth 1 -name '.cairn-doctor.*')"
if [ "$uid" -ne 0 ]; then
  mkdir "$tmp/locked" && chmod 0555 "$tmp/locked"
  run_in "$tmp/locked/store" doctor
  check "a store that cannot be created: the store line is FAIL" line_is store FAIL
  check "... the exit status is 1" status_is 1
  check "... and the fix offers --root" out_has "choose another store with --root DIR"
  check "... and nothing was created" test ! -e "$tmp/locked/store"
else
  skip "a store that cannot be created" "root can write any directory"
  skip "... the exit status is 1" "root"
  skip "... and the fix offers --root" "root"
  skip "... and nothing was created" "root"
fi
: >"$tmp/a-file"
run_in "$tmp/a-file" doctor
check "a store that is a file: the store line is FAIL" line_is store FAIL
check "... and the exit status is 1" status_is 1

# --- the command line --------------------------------------------------------------------
run doctor --no-such-flag
check "an unknown flag: exit status 2" status_is 2
status=0
# shellcheck disable=SC2154  # $cairn is set by require_cairn
"$cairn" help doctor >"$tmp/out" 2>"$tmp/err" || status=$?
check "cairn help doctor describes --json" out_has "--json"

finish
