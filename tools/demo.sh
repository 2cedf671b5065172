#!/usr/bin/env bash
# The main job: install dependencies, build cairn, and run it on the example Dockerfile.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/tools/install-deps.sh"
build=${BUILD_DIR:-$src/build}
[ -f "$build/build.ninja" ] || meson setup "$build" -Dtests=false
ninja -C "$build" src/cairn
cairn="$build/src/cairn"
example="$src/examples/busybox/Dockerfile"
echo "== cairn parse -f $example"
"$cairn" parse -f "$example"
echo "== cairn parse --target app --build-arg GREETING=hello -f $example"
"$cairn" parse --target app --build-arg GREETING=hello -f "$example"
