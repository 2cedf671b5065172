#!/bin/sh
# Builds parser_fuzz in BUILD_DIR (configuring it when needed) and fuzzes for SECONDS.
#
#   fuzz/run.sh [BUILD_DIR] [SECONDS] [extra libFuzzer flags...]
#
# Defaults: /tmp/build-fuzz, 600 s. The seeds (fuzz/corpus and BuildKit's parser test
# Dockerfiles from the shared conformance data, both read-only here) are copied into a
# working corpus: CORPUS when set (kept, so that the next run resumes from it), else a
# temporary directory removed after a clean run. crash-*, leak-*, timeout-* and oom-*
# inputs land in ARTIFACTS (default BUILD_DIR/fuzz-artifacts). Exits non-zero when
# libFuzzer reports a finding.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
source_root=$(dirname "$here")
build_dir=${1:-/tmp/build-fuzz}
seconds=${2:-600}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift

if [ ! -f "$build_dir/build.ninja" ]; then
  CXX=${CXX:-clang++-14} meson setup "$build_dir" "$source_root" -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build_dir" fuzz/parser_fuzz

conformance=${CAIRN_CONFORMANCE_DIR:-$source_root/../shared/conformance}
parser_data=$conformance/buildkit/frontend/dockerfile/parser
work=$(mktemp -d "${TMPDIR:-/tmp}/parser_fuzz.XXXXXX")
corpus=${CORPUS:-$work/corpus}
artifacts=${ARTIFACTS:-$build_dir/fuzz-artifacts}
mkdir -p "$corpus" "$artifacts"
cp "$here"/corpus/* "$corpus"/
if [ -d "$parser_data" ]; then
  # Every test holds a file called Dockerfile: name each copy after its test directory.
  find "$parser_data" -type f -name Dockerfile | while read -r f; do
    name=$(basename "$(dirname "$f")")
    cp "$f" "$corpus/buildkit-$name.Dockerfile"
  done
else
  echo "run.sh: no conformance data at $parser_data; using fuzz/corpus only" >&2
fi
echo "run.sh: working corpus $corpus ($(ls "$corpus" | wc -l) seeds), artifacts in $artifacts" >&2

# UBSan only reports by default; make it fail the run like ASan does.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

status=0
"$build_dir/fuzz/parser_fuzz" "$corpus" \
  -dict="$here/dockerfile.dict" \
  -max_total_time="$seconds" \
  -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 \
  -artifact_prefix="$artifacts/" \
  "$@" || status=$?

if [ "$status" -ne 0 ]; then
  echo "run.sh: libFuzzer reported a finding (exit $status); see $artifacts" >&2
else
  rm -rf "$work"
fi
exit "$status"
