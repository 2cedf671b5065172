#!/usr/bin/env bash
# Integration test of `cairn parse`: BuildKit's dump format, standard input, JSON, errors
# with FILE:LINE:COLUMN and a caret, and the stage options (--target, --build-arg,
# --platform, --stages) with ARG/ENV expansion.
# Drives the real binary ($CAIRN_BINARY, else `cairn` in PATH) and prints one TAP line per
# assertion; exits 1 when any assertion failed.
# Usage: CAIRN_BINARY=build/src/cairn tests/integration/parse_test.sh
# Dockerfile text and expected output hold $VARIABLES that must stay literal:
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn
# The example of the source tree, relative to this script (resolved before the cd below).
example="$(dirname "$0")/../../examples/busybox/Dockerfile"
case $example in /*) ;; *) example="$PWD/$example" ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-parse-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
isolate_home
mkdir -p "$tmp/work"
cd "$tmp/work"
unset GREETING


# run ARGS...: runs cairn; its output lands in $tmp/out and $tmp/err, its exit status in
# $status.
run() {
  status=0
  "$cairn" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}



out_has() { grep -qF -e "$1" "$tmp/out"; }
err_has() { grep -qF -e "$1" "$tmp/err"; }
out_lacks() { ! grep -qF -e "$1" "$tmp/out"; }
out_empty() { [ ! -s "$tmp/out" ]; }
err_empty() { [ ! -s "$tmp/err" ]; }
# out_is FILE / err_is FILE: the output is exactly FILE's content (check shows the diff).
out_is() { diff -u "$1" "$tmp/out" >"$tmp/diff"; }
err_is() { diff -u "$1" "$tmp/err" >"$tmp/diff"; }
valid_json() { python3 -c 'import json, sys; json.load(sys.stdin)' <"$tmp/out"; }
# json_checks: one assertion per stdin line "DESCRIPTION | PYTHON EXPRESSION" (an indented
# line continues the expression above), true over the JSON in $tmp/out, bound to d. One
# python3 run for them all: it starts slowly on a loaded machine.
json_checks() {
  local result description
  if ! python3 -c "$json_checker" "$tmp/out" >"$tmp/json-results"; then
    check "the JSON checks ran" false
  fi
  while IFS='|' read -r result description; do
    check "$description" [ "$result" = 1 ]
  done <"$tmp/json-results"
}
json_checker='
import json, sys
checks = []
for line in sys.stdin:
    if line[:1].isspace() and checks:
        checks[-1][1] += " " + line.strip()
    elif line.strip():
        description, expression = line.split("|", 1)
        checks.append([description.strip(), expression.strip()])
try:
    with open(sys.argv[1]) as f:
        d = json.load(f)
except ValueError as e:
    d = None
    print("#   invalid JSON:", e, file=sys.stderr)
for description, expression in checks:
    try:
        ok = d is not None and bool(eval("(" + expression + ")", {"d": d}))
    except Exception as e:
        ok = False
        print("#   " + description + ":", repr(e), file=sys.stderr)
    print(("1" if ok else "0") + "|" + description)
'

# --- the dump format ----------------------------------------------------------------
cat >Dockerfile <<'DOCKERFILE'
# syntax=docker/dockerfile:1
ARG BASE=busybox:1.36
ARG UNUSED_GLOBAL

FROM ${BASE} AS build
ARG GREETING=hello
ARG TARGETARCH
ENV APP_HOME=/app
WORKDIR $APP_HOME/src/$TARGETARCH
RUN --mount=type=cache,target=/var/cache \
    echo "building for $TARGETARCH" && \
    touch /done
COPY <<EOF /app/greeting.txt
${GREETING} from cairn
EOF
LABEL greeting="$GREETING world" base=${BASE}

FROM build AS test
RUN ["true"]

FROM ${BASE}
ARG GREETING
COPY --from=build --chmod=0755 /app/ /app/
USER 1000:1000
ONBUILD RUN echo child
CMD ["/app/run", "$GREETING"]
DOCKERFILE

cat >"$tmp/dump.expected" <<'EXPECTED'
(arg "BASE=busybox:1.36")
(arg "UNUSED_GLOBAL")
(from "${BASE}" "AS" "build")
(arg "GREETING=hello")
(arg "TARGETARCH")
(env "APP_HOME" "/app" "=")
(workdir "$APP_HOME/src/$TARGETARCH")
(run ["--mount=type=cache,target=/var/cache"] "echo \"building for $TARGETARCH\" &&     touch /done")
(copy "<<EOF" "/app/greeting.txt")
(label "greeting" "\"$GREETING world\"" "=" "base" "${BASE}" "=")
(from "build" "AS" "test")
(run "true")
(from "${BASE}")
(arg "GREETING")
(copy ["--from=build" "--chmod=0755"] "/app/" "/app/")
(user "1000:1000")
(onbuild (run "echo child"))
(cmd "/app/run" "$GREETING")
EXPECTED

run parse -f Dockerfile
check "parse -f Dockerfile exits 0" status_is 0
check "parse prints BuildKit's dump format exactly" out_is "$tmp/dump.expected"
check "parse of a valid Dockerfile writes nothing to stderr" err_empty

run parse
check "parse reads ./Dockerfile by default" out_is "$tmp/dump.expected"

status=0
"$cairn" parse -f - <Dockerfile >"$tmp/out" 2>"$tmp/err" || status=$?
check "parse -f - exits 0" status_is 0
check "parse -f - reads the Dockerfile from standard input" out_is "$tmp/dump.expected"

printf 'FROM a\nRUN echo \\\n\n  hi\n' >warn.Dockerfile
run parse -f warn.Dockerfile
check "an empty continuation line is only a warning" status_is 0
check "the warning names FILE:LINE" \
  err_has "cairn: warning: warn.Dockerfile:2: empty continuation line found in instruction"
run --log-level error parse -f warn.Dockerfile
check "--log-level error silences warnings" err_empty

# --- errors -------------------------------------------------------------------------
run parse -f nosuch/Dockerfile
check "a missing Dockerfile exits 1" status_is 1
check "a missing Dockerfile is named with the reason" \
  err_has "nosuch/Dockerfile: No such file or directory"
check "a missing Dockerfile prints nothing on stdout" out_empty

mkdir empty
status=0
(cd empty && "$cairn" parse >"$tmp/out" 2>"$tmp/err") || status=$?
check "a missing default ./Dockerfile exits 1" status_is 1
check "a missing default ./Dockerfile is named" err_has "open Dockerfile: No such file or directory"

printf 'FROM busybox\nRUN <<EOF\necho never closed\n' >heredoc.Dockerfile
cat >"$tmp/heredoc.expected" <<'EXPECTED'
cairn: error: heredoc.Dockerfile:2:5: unterminated heredoc: no line "EOF" closes it
 2 | RUN <<EOF
   |     ^
EXPECTED
run parse -f heredoc.Dockerfile
check "a syntax error exits 1" status_is 1
check "a syntax error shows FILE:LINE:COLUMN:, the line and a caret" err_is "$tmp/heredoc.expected"
check "a syntax error prints nothing on stdout" out_empty

printf 'FROM busybox\nRUNN echo hi\n' >runn.Dockerfile
status=0
"$cairn" parse -f - <runn.Dockerfile >"$tmp/out" 2>"$tmp/err" || status=$?
check "an error in standard input exits 1" status_is 1
check "an error in standard input is located in <stdin>" \
  err_has "cairn: error: <stdin>:2:1: unknown instruction: RUNN (did you mean RUN?)"

printf 'FROM busybox\nCOPY --chown=app:app \\\n     --bogus=1 \\\n     a b\n' >flag.Dockerfile
cat >"$tmp/flag.expected" <<'EXPECTED'
cairn: error: flag.Dockerfile:3:6: unknown flag: --bogus (accepted: --chown --chmod --from --link --parents --exclude)
 3 |      --bogus=1 \
   |      ^
EXPECTED
run parse --stages -f flag.Dockerfile
check "an instruction error exits 1 with --stages" status_is 1
check "an instruction error points into the continued line" err_is "$tmp/flag.expected"

printf 'FROM busybox\n\tENV PATH\n' >tab.Dockerfile
printf 'cairn: error: tab.Dockerfile:2:6: ENV must have two arguments\n 2 | \tENV PATH\n   | \t    ^\n' \
  >"$tmp/tab.expected"
run parse --stages -f tab.Dockerfile
check "the caret line keeps the tabs of the source line" err_is "$tmp/tab.expected"

printf 'FROM busybox\nLABEL version="${VERSION:?set VERSION}"\n' >required.Dockerfile
run parse --stages -f required.Dockerfile
check "an expansion error exits 1" status_is 1
check "an expansion error points at the variable" \
  err_has "cairn: error: required.Dockerfile:2:16: VERSION: set VERSION"
run parse --stages --build-arg VERSION=1 -f required.Dockerfile
check "a --build-arg that no ARG declares does not satisfy \${VERSION:?}" status_is 1
check "a --build-arg that no ARG declares is not expanded" err_has "VERSION: set VERSION"

# --- JSON ---------------------------------------------------------------------------
run parse --json -f Dockerfile
check "parse --json exits 0" status_is 0
check "parse --json prints valid JSON" valid_json
json_checks <<'CHECKS'
--json names the file | d["file"] == "Dockerfile"
--json holds the syntax directive | d["directives"]["syntax"] == "docker/dockerfile:1"
--json has one object per instruction | len(d["instructions"]) == 18
--json gives start_line and end_line of a continued RUN |
    (d["instructions"][7]["start_line"], d["instructions"][7]["end_line"]) == (10, 12)
--json gives the flags | d["instructions"][7]["flags"] == ["--mount=type=cache,target=/var/cache"]
--json keeps the keyword as written | d["instructions"][7]["keyword"] == "RUN"
--json gives the arguments | d["instructions"][2]["arguments"] == ["${BASE}", "AS", "build"]
--json holds the heredoc body |
    d["instructions"][8]["heredocs"][0]["content"] == "${GREETING} from cairn\n"
--json holds the heredoc's name, lines and expansion |
    {k: d["instructions"][8]["heredocs"][0][k]
     for k in ("name", "expand", "chomp", "fd", "start_line", "end_line")}
    == {"name": "EOF", "expand": True, "chomp": False, "fd": 0, "start_line": 14, "end_line": 15}
--json tells the JSON form |
    d["instructions"][11]["json"] is True and d["instructions"][10]["json"] is False
--json nests the ONBUILD trigger | d["instructions"][16]["onbuild"]["arguments"] == ["echo child"]
--json has no warnings here | d["warnings"] == []
--json has no build section without stage options | "build" not in d
CHECKS

run parse --json --target build --platform linux/arm64 -f Dockerfile
check "parse --json --target prints valid JSON" valid_json
json_checks <<'CHECKS'
--json --target adds the build section | d["build"]["order"] == [0] and d["build"]["target"] == 0
--json --target describes the stage |
    {k: d["build"]["stages"][0][k] for k in ("index", "name", "base", "base_stage", "line")}
    == {"index": 0, "name": "build", "base": "busybox:1.36", "base_stage": None, "line": 5}
--json --target expands the steps |
    d["build"]["stages"][0]["steps"][3]["instruction"] == "WORKDIR /app/src/arm64"
--json --target gives the build args a step uses |
    d["build"]["stages"][0]["steps"][3]["uses_args"] == ["TARGETARCH"]
--json --target gives the environment of each step |
    d["build"]["stages"][0]["steps"][3]["env"]["APP_HOME"] == "/app"
--json --target lists no unused build args | d["build"]["unused_build_args"] == []
CHECKS

printf 'FROM a\nRUN cat <<-"EOT" 3<<X\n\techo $HOME\n\tEOT\nbody\nX\n' >heredocs.Dockerfile
status=0
"$cairn" parse --json -f - <heredocs.Dockerfile >"$tmp/out" 2>"$tmp/err" || status=$?
check "--json of standard input prints valid JSON" valid_json
json_checks <<'CHECKS'
--json of standard input names <stdin> | d["file"] == "<stdin>"
--json tells quoted and chomped heredocs and their fd |
    [(h["name"], h["expand"], h["chomp"], h["fd"]) for h in d["instructions"][1]["heredocs"]]
    == [("EOT", False, True, 0), ("X", True, False, 3)]
--json keeps the tabs of a <<- heredoc body | d["instructions"][1]["heredocs"][0]["content"] == "\techo $HOME\n"
CHECKS

printf 'FROM a\nLABEL x="caf\xe9"\n' >latin1.Dockerfile
run parse --json -f latin1.Dockerfile
check "--json of a Latin-1 byte is valid JSON" valid_json

# --- stages, --target, --build-arg, --platform --------------------------------------
cat >"$tmp/build-stage.expected" <<'EXPECTED'
# target: stage build (1 of 3 stages needed)
# image environments are not read by cairn parse: PATH starts as docker's default
stage 0 build: FROM busybox:1.36
     6: ARG GREETING=hello    # uses GREETING
     7: ARG TARGETARCH    # uses TARGETARCH
     8: ENV APP_HOME=/app
     9: WORKDIR /app/src/arm64    # uses TARGETARCH
    10: RUN --mount=type=cache,target=/var/cache echo "building for $TARGETARCH" &&     touch /done    # uses GREETING TARGETARCH
    13: COPY <<EOF /app/greeting.txt    # uses GREETING
    16: LABEL greeting="hello world" base=""    # uses GREETING
EXPECTED
cat "$tmp/dump.expected" "$tmp/build-stage.expected" >"$tmp/build.expected"
run parse --target build --platform linux/arm64 -f Dockerfile
check "parse --target exits 0" status_is 0
check "parse --target prints the dump and the expanded stage exactly" out_is "$tmp/build.expected"

check "--target prunes the stages the target does not need" out_lacks "stage 1"
check "--target prunes the last stage too" out_lacks "stage 2"

run parse --target TEST --platform linux/arm64 -f Dockerfile
check "--target is not case-sensitive" status_is 0
check "--target test needs its base stage" out_has "# target: stage test (2 of 3 stages needed)"
check "--target test shows the stage built on another" out_has "stage 1 test: FROM build (stage 0)"
check "--target test leaves out the unneeded last stage" out_lacks "stage 2"

run parse --stages --platform linux/arm64 -f Dockerfile
check "--stages targets the last stage" out_has "# target: stage 2 (2 of 3 stages needed)"
check "--stages follows COPY --from" out_has "stage 0 build: FROM busybox:1.36"
check "--stages leaves out a stage nobody needs" out_lacks "stage 1 test"
check "--stages prints exec-form CMD unexpanded" out_has '    26: CMD ["/app/run","$GREETING"]'

run parse --target nosuch -f Dockerfile
check "an unknown --target exits 1" status_is 1
check "an unknown --target is named, with the stages there are" \
  err_has 'target stage "nosuch" could not be found (stages: build, test)'

run parse --target build --build-arg GREETING=hi -f Dockerfile
check "--build-arg K=V exits 0" status_is 0
check "--build-arg K=V changes the expanded value" out_has 'LABEL greeting="hi world"'
check "--build-arg of a declared ARG gives no warning" err_empty

run parse --target build --build-arg BASE=alpine:3.19 -f Dockerfile
check "--build-arg overrides a global ARG used by FROM" out_has "stage 0 build: FROM alpine:3.19"

export GREETING="from the environment"
run parse --target build --build-arg GREETING -f Dockerfile
unset GREETING
check "a bare --build-arg K takes \$K from the environment" \
  out_has 'LABEL greeting="from the environment world"'
run parse --target build --build-arg GREETING -f Dockerfile
check "a bare --build-arg K without \$K keeps the default" out_has 'LABEL greeting="hello world"'

run parse --target build --build-arg NOT_DECLARED=1 -f Dockerfile
check "an unused build argument still exits 0" status_is 0
check "an unused build argument gives a warning on stderr" \
  err_has "cairn: warning: build argument NOT_DECLARED was given but no ARG declares it"
run parse --target build --build-arg HTTP_PROXY=http://proxy:3128 -f Dockerfile
check "a proxy build argument needs no ARG" err_empty
check "a proxy build argument is an input of RUN" out_has "# uses GREETING HTTP_PROXY TARGETARCH"

run parse --target build --build-arg =1 -f Dockerfile
check "--build-arg with an empty name exits 1" status_is 1
check "--build-arg with an empty name says so" err_has "the name is empty"

run parse --target build --platform linux/arm64 -f Dockerfile
check "--platform linux/arm64 sets TARGETARCH" out_has "WORKDIR /app/src/arm64"
run parse --target build --platform linux/amd64 -f Dockerfile
check "--platform linux/amd64 sets TARGETARCH" out_has "WORKDIR /app/src/amd64"
run parse --target build --platform LINUX/AARCH64 -f Dockerfile
check "--platform normalizes aarch64 to arm64" out_has "WORKDIR /app/src/arm64"
run parse --target build --platform bogus -f Dockerfile
check "--platform bogus exits non-zero" [ "$status" -ne 0 ]
check "--platform bogus says what is wrong" \
  err_has '--platform: invalid platform "bogus": expected OS/ARCH[/VARIANT]'
run parse --target build --platform linux/ -f Dockerfile
check "--platform without an architecture exits non-zero" [ "$status" -ne 0 ]

# ARG scoping: global ARGs need a re-declaration in a stage, ENV wins over ARG, ARGs do not
# cross into a stage built on this one but ENV does.
cat >scope.Dockerfile <<'DOCKERFILE'
ARG VERSION=1.0
FROM busybox:${VERSION} AS one
LABEL before=${VERSION}
ARG VERSION
LABEL after=${VERSION}
ENV VERSION=env
ARG VERSION=2
LABEL shadowed=$VERSION
ARG LOCAL=local
FROM one AS two
LABEL env=$VERSION arg=${LOCAL:-unset}
DOCKERFILE
cat >"$tmp/scope.expected" <<'EXPECTED'
# target: stage two (2 of 2 stages needed)
# image environments are not read by cairn parse: PATH starts as docker's default
stage 0 one: FROM busybox:9
     3: LABEL before=""
     4: ARG VERSION    # uses VERSION
     5: LABEL after=9    # uses VERSION
     6: ENV VERSION=env
     7: ARG VERSION=2
     8: LABEL shadowed=env
     9: ARG LOCAL=local    # uses LOCAL
stage 1 two: FROM one (stage 0)
    11: LABEL env=env arg=unset
EXPECTED
run parse --build-arg VERSION=9 -f scope.Dockerfile
sed -i '/^(/d' "$tmp/out"
check "ARG scoping follows BuildKit (global, re-declared, ENV wins, per stage)" \
  out_is "$tmp/scope.expected"

# --- the example in the source tree -------------------------------------------------
if [ -r "$example" ]; then
  run parse -f "$example"
  check "the busybox example parses" status_is 0
  check "the busybox example's dump starts with its global ARG" out_has '(arg "BASE=busybox:latest")'
  check "the busybox example's dump keeps the HEALTHCHECK flags" \
    out_has '(healthcheck ["--interval=30s" "--timeout=3s"] "CMD" "/app/hello.sh")'
  run parse --target app --build-arg GREETING=hello -f "$example"
  check "the busybox example's app stage resolves" status_is 0
  check "the busybox example's app stage needs the build stage" \
    out_has "# target: stage app (2 of 2 stages needed)"
  check "the busybox example's FROM expands the global ARG" out_has "stage 1 app: FROM busybox:latest"
  check "the busybox example's ENV expands PATH" \
    out_has "ENV PATH=/app:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
else
  skip "the busybox example parses" "examples/busybox/Dockerfile not found beside the script"
fi

finish
