#!/usr/bin/env bash
# Integration test of cairn's configuration: defaults, the user's cairn.toml, --config,
# flags over files, and the errors for unknown keys, wrong types and TOML syntax.
# Drives the real binary ($CAIRN_BINARY, else `cairn` in PATH) and prints one TAP line per
# assertion; exits 1 when any assertion failed.
# Usage: CAIRN_BINARY=build/src/cairn tests/integration/config_test.sh
set -euo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-config-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
isolate_home
mkdir -p "$tmp/work"
cd "$tmp/work"
user_file="$XDG_CONFIG_HOME/cairn/cairn.toml"
# The system file cannot be moved aside; checks that need its absence skip when it exists.
system_file=/etc/cairn/cairn.toml


# run ARGS...: runs cairn; its output lands in $tmp/out and $tmp/err, its exit status in
# $status.
run() {
  status=0
  "$cairn" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}



# check_without_system_file DESCRIPTION COMMAND...: check, unless /etc/cairn/cairn.toml
# exists (it would change what cairn reads).
check_without_system_file() {
  if [ -e "$system_file" ]; then
    skip "$1" "$system_file exists on this host"
  else
    check "$@"
  fi
}

out_has() { grep -qxF -e "$1" "$tmp/out"; }
out_contains() { grep -qF -e "$1" "$tmp/out"; }
out_lacks() { ! grep -qF -e "$1" "$tmp/out"; }
err_has() { grep -qF -e "$1" "$tmp/err"; }
out_empty() { [ ! -s "$tmp/out" ]; }
err_empty() { [ ! -s "$tmp/err" ]; }
# out_is FILE: the output is exactly FILE's content (check shows the diff).
out_is() { diff -u "$1" "$tmp/out" >"$tmp/diff"; }
# write FILE TEXT: writes TEXT (with \n for newlines) to FILE, creating its directory.
write() {
  mkdir -p "$(dirname "$1")"
  printf '%b' "$2" >"$1"
}

# --- defaults -----------------------------------------------------------------------
cat >"$tmp/defaults.expected" <<EXPECTED
[storage]
root = "$XDG_DATA_HOME/cairn"  # default
max_layer_size = 68719476736  # default

[log]
level = "warn"  # default
timings = false  # default

[sandbox]
userns = "auto"  # default

[registry]
search = ["docker.io"]  # default
timeout = 30  # default
retries = 3  # default
parallel = 4  # default
chunk_size = 0  # default
EXPECTED
run config
check "cairn config exits 0" status_is 0
check_without_system_file "cairn config shows the defaults, each marked default" \
  out_is "$tmp/defaults.expected"
check "the default store is \$XDG_DATA_HOME/cairn" \
  out_has "root = \"$XDG_DATA_HOME/cairn\"  # default"
check_without_system_file "no file is listed as read when none exists" out_lacks "# read"
check "cairn config writes nothing to stderr" err_empty

status=0
env -u XDG_DATA_HOME "$cairn" config >"$tmp/out" 2>"$tmp/err" || status=$?
check "without XDG_DATA_HOME the store is under \$HOME/.local/share" \
  out_has "root = \"$HOME/.local/share/cairn\"  # default"
status=0
XDG_DATA_HOME="" "$cairn" config >"$tmp/out" 2>"$tmp/err" || status=$?
check "an empty XDG_DATA_HOME counts as unset" \
  out_has "root = \"$HOME/.local/share/cairn\"  # default"

# --- the user's file ----------------------------------------------------------------
write "$user_file" '# my settings\n[storage]\nroot = "/srv/cairn-store"\n\n[log]\nlevel = "info"\ntimings = true\n'
run config
check "a user file is accepted" status_is 0
check "the user file is listed as read" out_has "# read $user_file"
check "the user file sets storage.root" out_has "root = \"/srv/cairn-store\"  # $user_file"
check "the user file sets log.level" out_has "level = \"info\"  # $user_file"
check "the user file sets log.timings" out_has "timings = true  # $user_file"

write "$user_file" 'log.level = "debug"\n'
run config
check "dotted keys are accepted" out_has "level = \"debug\"  # $user_file"
check "keys the file leaves out keep their defaults" \
  out_has "root = \"$XDG_DATA_HOME/cairn\"  # default"

write "$user_file" '[storage]\nroot = "~/images"\n'
run config
check "a leading ~/ in storage.root is \$HOME" out_has "root = \"$HOME/images\"  # $user_file"

rm -f "$user_file"
write "$HOME/.config/cairn/cairn.toml" '[log]\nlevel = "error"\n'
status=0
env -u XDG_CONFIG_HOME "$cairn" config >"$tmp/out" 2>"$tmp/err" || status=$?
check "without XDG_CONFIG_HOME the user file is \$HOME/.config/cairn/cairn.toml" \
  out_has "# read $HOME/.config/cairn/cairn.toml"
check "\$HOME/.config/cairn/cairn.toml sets values" \
  out_has "level = \"error\"  # $HOME/.config/cairn/cairn.toml"
run config
check "with XDG_CONFIG_HOME set, \$HOME/.config/cairn/cairn.toml is not read" \
  out_lacks "$HOME/.config/cairn/cairn.toml"
rm -f "$HOME/.config/cairn/cairn.toml"

# --- --config FILE replaces the files -----------------------------------------------
write "$user_file" '[log]\nlevel = "info"\n'
write "$tmp/other.toml" '[log]\ntimings = true\n'
run --config "$tmp/other.toml" config
check "--config FILE exits 0" status_is 0
check "--config FILE is listed as read" out_has "# read $tmp/other.toml"
check "--config FILE sets its values" out_has "timings = true  # $tmp/other.toml"
check "--config FILE replaces the user file (not listed)" out_lacks "# read $user_file"
check "--config FILE replaces the user file (its values are gone)" \
  out_has 'level = "warn"  # default'

# --- flags win ----------------------------------------------------------------------
run --root "$tmp/flag-store" --log-level debug config
check "--root DIR overrides the store" out_has "root = \"$tmp/flag-store\"  # flag --root"
check "--log-level debug overrides the user file" out_has 'level = "debug"  # flag --log-level'
run --debug config
check "--debug overrides the user file" out_has 'level = "debug"  # flag --log-level'
run --timings config
check "--timings sets log.timings" out_has 'timings = true  # flag --timings'
run --config "$tmp/other.toml" --root "$tmp/flag-store" config
check "--root wins over --config FILE" out_has "root = \"$tmp/flag-store\"  # flag --root"
run config --root "$tmp/after"
check "a flag after the subcommand wins too" out_has "root = \"$tmp/after\"  # flag --root"

# The output of cairn config is itself a valid configuration file.
run --root "$tmp/with \"quotes\"" --log-level trace config
cp "$tmp/out" "$tmp/saved.toml"
run --config "$tmp/saved.toml" config
check "the output of cairn config reads back as a configuration file" status_is 0
check "the output of cairn config keeps a quoted store path" \
  out_has "root = \"$tmp/with \\\"quotes\\\"\"  # $tmp/saved.toml"

# --- errors -------------------------------------------------------------------------
write "$user_file" '[storage]\nroot = "/srv"\n\n[log]\nlevl = "debug"\n'
run config
check "an unknown key exits 1" status_is 1
check "an unknown key is named with FILE:LINE:COLUMN" \
  err_has "cairn: error: $user_file:5:1: unknown key 'log.levl'"
check "an unknown key prints nothing on stdout" out_empty
run version
check "an invalid user file does not stop cairn version (it reads no file)" status_is 0
run help
check "an invalid user file does not stop cairn help (it reads no file)" status_is 0
run parse --help
check "parse --help works with an invalid user file" status_is 0

write "$user_file" '[cache]\nsize = 1\n'
run config
check "an unknown table exits 1" status_is 1
check "an unknown table is named with FILE:LINE:COLUMN" \
  err_has "cairn: error: $user_file:1:2: unknown key 'cache'"

write "$user_file" '[log]\ntimings = "yes"\n'
run config
check "a wrong type exits 1" status_is 1
check "a wrong type says what the key must be" \
  err_has "cairn: error: $user_file:2:1: key 'log.timings' must be a boolean, not a string"

write "$user_file" '[storage]\nroot = 42\n'
run config
check "a number for storage.root exits 1" status_is 1
check "a number for storage.root says it must be a string" \
  err_has "key 'storage.root' must be a string, not an integer"

write "$user_file" 'log = "debug"\n'
run config
check "a value where a table belongs exits 1" status_is 1
check "a value where a table belongs says it must be a table" \
  err_has "$user_file:1:1: key 'log' must be a table, not a string"

write "$user_file" '[log]\nlevel = "loud"\n'
run config
check "an unknown log level exits 1" status_is 1
check "an unknown log level lists the levels" \
  err_has "$user_file:2:1: log.level must be one of error, warn, info, debug, trace; not \"loud\""

write "$user_file" '[storage]\nroot = ""\n'
run config
check "an empty storage.root exits 1" status_is 1
check "an empty storage.root is refused" err_has "$user_file:2:1: storage.root must not be empty"

write "$user_file" '[log]\nlevel = "info"\ntimings = \n'
run config
check "a TOML syntax error exits 1" status_is 1
check "a TOML syntax error names the file and the line" err_has "cairn: error: $user_file:3:"
check "a TOML syntax error prints nothing on stdout" out_empty

write "$user_file" '[log\nlevel = "info"\n'
run config
check "an unclosed table header exits 1" status_is 1
check "an unclosed table header names the file and the line" err_has "cairn: error: $user_file:1:"

rm -f "$user_file"
run --config "$tmp/missing.toml" config
check "a missing --config file exits 1" status_is 1
check "a missing --config file is named" \
  err_has "cairn: error: read config file $tmp/missing.toml: No such file or directory"
check "a missing --config file prints nothing on stdout" out_empty

write "$tmp/bad.toml" 'log.timings = 1\n'
write "$user_file" '[log]\nlevel = "info"\n'
run --config "$tmp/bad.toml" config
check "an error in the --config file exits 1" status_is 1
check "an error in the --config file names that file" err_has "cairn: error: $tmp/bad.toml:1:"
check "an error in a dotted key names the key and the types" \
  err_has "key 'log.timings' must be a boolean, not an integer"

mkdir -p "$tmp/a-directory"
run --config "$tmp/a-directory" config
check "a directory given as --config exits 1" status_is 1
check "a directory given as --config is named in the error" err_has "$tmp/a-directory"

finish
