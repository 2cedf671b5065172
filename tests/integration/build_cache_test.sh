#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted $VARS are for the Dockerfile
# Integration test of `cairn build`'s layer cache and of reproducible builds, as docker
# (BuildKit) behaves: a second build of the same Dockerfile and context takes every step
# from the cache and gives the same image ID; touching a file (mtime only) changes nothing;
# editing a file, changing its mode or a --build-arg that a step uses rebuilds from that step
# on, and only from there; an undeclared --build-arg changes nothing; --no-cache rebuilds
# every step (and what it built is cached); two builds in two fresh stores with
# SOURCE_DATE_EPOCH give the same image ID. A fully cached 10-step build prints its wall time.
# Which steps ran is read from --progress plain: each step prints a line "[N/M] INSTRUCTION"
# and a step taken from the cache prints CACHED (on that line or before the next step's).
# One RUN writes a random value, so that a step that ran again shows in the image ID.
# Needs unprivileged user namespaces, a usable /dev/fuse, the busybox rootfs tar in
# $CAIRN_BUSYBOX_TAR, and `cairn build` (exits 77 otherwise).
# Usage: CAIRN_BINARY=build/src/cairn CAIRN_BUSYBOX_TAR=/tmp/busybox.tar \
#        tests/integration/build_cache_test.sh
set -uo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn
require_overlay_basics
# (Without a build subcommand, `cairn build --help` prints cairn's own help, which has no --iidfile.)
"$cairn" build --help 2>&1 | grep -qF -e '--iidfile' || skip_all "cairn build is not available"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-build-cache-test.XXXXXX")
chmod 755 "$tmp"
cleanup() {
  chmod -R u+rwX "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
isolate_home
store="$tmp/store"
cd "$tmp" || exit 1
start_time=$(date +%s)

# --- helpers -----------------------------------------------------------------------------
out_is() { [ "$(cat "$tmp/out")" = "$1" ]; }

# bld_in ROOT ARGS...: `cairn --root ROOT build --progress plain ARGS...`; stdout in $tmp/out,
# stderr (the progress) in $tmp/err, the exit status in $status, the last line of stdout
# (the image ID) in $iid, and each step's state in $tmp/steps (see step_states).
bld_in() {
  local root=$1
  shift
  status=0
  timeout -k 10 600 "$cairn" --root "$root" build --progress plain "$@" </dev/null \
    >"$tmp/out" 2>"$tmp/err" || status=$?
  iid=$(tail -n 1 "$tmp/out" 2>/dev/null || true)
  step_states <"$tmp/err" >"$tmp/steps"
}
bld() { bld_in "$store" "$@"; }
built() { [ "$status" -eq 0 ] && [[ $iid =~ ^sha256:[0-9a-f]{64}$ ]]; }

# step_states: reads --progress plain output; prints one line per step, "CACHED<TAB>TEXT" or
# "RAN<TAB>TEXT", TEXT being the instruction after "[N/M] " (or "[stage N/M] ").
step_states() {
  awk '
    function flush() { if (have) print (cached ? "CACHED" : "RAN") "\t" text }
    /^\[[^]]*[0-9]+\/[0-9]+\] / {
      flush(); have = 1; cached = ($0 ~ /CACHED/)
      text = $0; sub(/^\[[^]]*\] /, "", text); sub(/[[:space:]]+CACHED.*$/, "", text)
      next
    }
    /CACHED/ { if (have) cached = 1 }
    END { flush() }'
}
# state_of TEXT: the state of the first step whose instruction starts with TEXT (MISSING
# when there is none).
state_of() {
  awk -F'\t' -v t="$1" 'index($2, t) == 1 { print $1; found = 1; exit } END { if (!found) print "MISSING" }' "$tmp/steps"
}
# steps_are STATE TEXT...: each step named is in STATE.
steps_are() {
  local want=$1 t got bad=0
  shift
  : >"$tmp/diff"
  for t in "$@"; do
    got=$(state_of "$t")
    if [ "$got" != "$want" ]; then
      echo "step '$t' is $got, expected $want" >>"$tmp/diff"
      bad=1
    fi
  done
  if [ "$bad" -ne 0 ]; then
    { echo "steps seen:"; cat "$tmp/steps"; echo "progress:"; head -n 60 "$tmp/err"; } >>"$tmp/diff"
    return 1
  fi
}
cached_count() { grep -c CACHED "$tmp/err" || true; }
# same_id ID / other_id ID: the build succeeded with image ID ID / with another one.
same_id() {
  if built && [ "$iid" = "$1" ]; then return 0; fi
  { echo "image ID '$iid', expected $1 (status $status); steps:"; cat "$tmp/steps"; } >"$tmp/diff"
  return 1
}
other_id() {
  if built && [ "$iid" != "$1" ]; then return 0; fi
  { echo "image ID '$iid', expected another than $1 (status $status); steps:"; cat "$tmp/steps"; } >"$tmp/diff"
  return 1
}

# crun IMAGE CMD...: `cairn run --rm` on the main store.
crun() { run_rm "$@"; }
# inspect_field ROOT IMAGE KEY: a top-level field of `cairn inspect`.
inspect_field() {
  "$cairn" --root "$1" inspect "$2" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get(sys.argv[1], ""))' "$3" 2>/dev/null
}

# --- the base image ----------------------------------------------------------------------
run import "$CAIRN_BUSYBOX_TAR" busybox:latest -c 'CMD ["sh"]'
check "the busybox rootfs imports as busybox:latest" status_is 0

# --- the cached Dockerfile ---------------------------------------------------------------
ctx="$tmp/ctx"
mkdir -p "$ctx/dir/sub"
echo a >"$ctx/a.txt"
echo one >"$ctx/dir/one.txt"
echo two >"$ctx/dir/sub/two.txt"
chmod 644 "$ctx/a.txt" "$ctx/dir/one.txt" "$ctx/dir/sub/two.txt"
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY a.txt /app/a.txt
COPY dir /app/dir/
ARG X=one
RUN echo "$X" > /x
RUN cat /proc/sys/kernel/random/uuid > /app/rand
CMD ["cat", "/x"]
EOF
# The steps that change the filesystem, as their progress lines name them.
s_workdir="WORKDIR /app"
s_copy_a="COPY a.txt"
s_copy_dir="COPY dir"
s_run_x="RUN echo"
s_run_rand="RUN cat /proc"
all_steps=("$s_workdir" "$s_copy_a" "$s_copy_dir" "$s_run_x" "$s_run_rand")

bld -t app "$ctx"
check "the first build succeeds" built
id1=$iid
check "... and runs every step (fresh store: nothing CACHED)" steps_are RAN "${all_steps[@]}"
check "... the build arg's default is used" file_is app /x one

bld -t app "$ctx"
check "a second build gives the same image ID" same_id "$id1"
check "... with every step CACHED" steps_are CACHED "${all_steps[@]}"
check "... (grep -c CACHED counts at least the 5 filesystem steps)" [ "$(cached_count)" -ge 5 ]

touch -d '2001-02-03 04:05:06' "$ctx/a.txt" "$ctx/dir/one.txt" "$ctx/dir"
bld -t app "$ctx"
check "touching context files (mtime only) keeps the image ID" same_id "$id1"
check "... and every step CACHED" steps_are CACHED "${all_steps[@]}"

echo "one, edited" >"$ctx/dir/one.txt"
bld -t app "$ctx"
check "after editing dir/one.txt the build succeeds with a new image ID" other_id "$id1"
id2=$iid
check "... the steps before its COPY are CACHED" steps_are CACHED "$s_workdir" "$s_copy_a"
check "... its COPY and every later step ran again" steps_are RAN "$s_copy_dir" "$s_run_x" "$s_run_rand"
check "... and the image has the new content" file_is app /app/dir/one.txt "one, edited"

bld -t app-x2 --build-arg X=two "$ctx"
check "a changed --build-arg X gives a new image ID" other_id "$id2"
id3=$iid
check "... the steps before the first use of X are CACHED" steps_are CACHED "$s_workdir" "$s_copy_a" "$s_copy_dir"
check "... the first RUN that uses X and the later ones ran again" steps_are RAN "$s_run_x" "$s_run_rand"
check "... with the new value" file_is app-x2 /x two

bld -t app --build-arg X=one "$ctx"
check "--build-arg X=one (the default) is the same build as without it" same_id "$id2"
check "... every step CACHED" steps_are CACHED "${all_steps[@]}"
bld -t app --build-arg X=two "$ctx"
check "--build-arg X=two again takes that build from the cache" same_id "$id3"
bld -t app --build-arg UNDECLARED=1 "$ctx"
check "a --build-arg that no ARG declares changes nothing" same_id "$id2"
check "... every step CACHED" steps_are CACHED "${all_steps[@]}"

chmod 755 "$ctx/a.txt"
bld -t app "$ctx"
check "chmod +x of a copied file gives a new image ID (the mode is content)" other_id "$id2"
id4=$iid
check "... its COPY and the later steps ran again" steps_are RAN "$s_copy_a" "$s_copy_dir" "$s_run_x" "$s_run_rand"
check "... the WORKDIR before it is CACHED" steps_are CACHED "$s_workdir"
crun app stat -c %a /app/a.txt
check "... and the copy is executable" out_is 755

bld -t app --no-cache "$ctx"
check "--no-cache builds" built
id5=$iid
check "... no step is CACHED" [ "$(cached_count)" -eq 0 ]
check "... every step ran" steps_are RAN "${all_steps[@]}"
check "... so the random RUN gives a new image ID" other_id "$id4"
bld -t app "$ctx"
check "the build after --no-cache takes what it built from the cache" same_id "$id5"
check "... every step CACHED" steps_are CACHED "${all_steps[@]}"

# --- reproducible builds: SOURCE_DATE_EPOCH in two fresh stores ----------------------------
# The same base in both stores (save + load keeps its config byte for byte; a second import
# would have another creation time). Docker needs rewrite-timestamp=true besides
# SOURCE_DATE_EPOCH for the RUN layer's file times; cairn is meant to clamp them itself.
run save -o "$tmp/busybox-image.tar" busybox:latest
check "the base image saves" status_is 0
base_id=$(inspect_field "$store" busybox:latest Id)
for s in a b; do
  run_in "$tmp/store-$s" load -i "$tmp/busybox-image.tar"
  check "... and loads into fresh store $s with the same ID" \
    [ "$(inspect_field "$tmp/store-$s" busybox:latest Id)" = "$base_id" ]
done
rctx="$tmp/repro"
mkdir -p "$rctx"
echo reproducible >"$rctx/a.txt"
chmod 644 "$rctx/a.txt"
cat >"$rctx/Dockerfile" <<'EOF'
FROM busybox
ENV MODE=repro
COPY a.txt /a.txt
RUN echo fixed > /fixed.txt && mkdir -p /d && echo more > /d/more.txt
CMD ["cat", "/fixed.txt"]
EOF
SOURCE_DATE_EPOCH=1700000000 bld_in "$tmp/store-a" -t repro "$rctx"
check "a build with SOURCE_DATE_EPOCH=1700000000 in store a" built
id_a=$iid
sleep 1.2  # another second on the clock
SOURCE_DATE_EPOCH=1700000000 bld_in "$tmp/store-b" -t repro "$rctx"
check "... and the same build in store b" built
id_b=$iid
iid=$id_b
check "... give the same image ID" same_id "$id_a"
check "... created at the epoch (2023-11-14T22:13:20Z)" \
  [ "$(inspect_field "$tmp/store-a" repro Created)" = "2023-11-14T22:13:20Z" ]

# --- a fully cached 10-step build ------------------------------------------------------------
tctx="$tmp/ten"
mkdir -p "$tctx"
for i in 1 2 3; do echo "file $i" >"$tctx/f$i.txt"; done
cat >"$tctx/Dockerfile" <<'EOF'
FROM busybox
WORKDIR /work
COPY f1.txt .
RUN echo step4 > s4
COPY f2.txt .
RUN echo step6 > s6 && cat f1.txt f2.txt > both
ENV STEP=7
RUN echo "$STEP" > s8
COPY f3.txt .
RUN ls -l > listing
EOF
bld -t ten "$tctx"
check "a 10-step Dockerfile builds" built
ten_id=$iid
t0=$(date +%s%N)
bld -t ten "$tctx"
elapsed_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "its second build completes with the same image ID" same_id "$ten_id"
check "... every RUN and COPY CACHED" steps_are CACHED "WORKDIR /work" "COPY f1.txt" "RUN echo step4" \
  "COPY f2.txt" "RUN echo step6" 'RUN echo "' "COPY f3.txt" "RUN ls -l"
echo "# fully cached 10-step build: ${elapsed_ms} ms"

echo "# $(id -un): $(($(date +%s) - start_time)) s"
finish
