#!/usr/bin/env bash
# Installs dependencies, builds cairn and runs the whole test suite (unit, conformance,
# integration). Run as root, it creates the unprivileged user "cairn-ci" (with a subordinate
# id range: the sandbox's range mode), builds and runs the suite as that user (cairn's
# point is to work without root), then runs the few root-only interoperability tests (a
# private docker daemon) against that build, and the sandbox tests again as
# "cairn-ci-single", who has no subordinate ids (the sandbox's single-id mode).
# Usage: tools/test.sh   (environment: BUILD_DIR, CAIRN_TEST_USER, MESON_TEST_ARGS)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)

# The closing line, counted from meson's logs: "N passed, N failed, N skipped".
summary() {
  python3 - "$@" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    try:
        lines = open(path).readlines()
    except OSError:
        continue
    for line in lines:
        result = json.loads(line).get("result", "")
        key = "OK" if result in ("OK", "EXPECTEDFAIL") else "SKIP" if result == "SKIP" else "FAIL"
        counts[key] += 1
print(f"{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
}

conformance=""
if [ -d "$src/../shared/conformance" ]; then
  conformance=$(cd "$src/../shared/conformance" && pwd)
fi

if [ "$(id -u)" -eq 0 ] && [ -z "${CAIRN_TEST_AS_USER:-}" ]; then
  "$src/tools/install-deps.sh" --test
  user=${CAIRN_TEST_USER:-cairn-ci}
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  # A subordinate id range, so that rootless podman (an interoperability check) can run.
  grep -q "^$user:" /etc/subuid || echo "$user:300000:65536" >> /etc/subuid
  grep -q "^$user:" /etc/subgid || echo "$user:300000:65536" >> /etc/subgid
  # A second user without one, for the sandbox's single-id mode chosen by itself (Debian's
  # useradd would hand out a range: SUB_UID_COUNT=0 says no).
  single=${CAIRN_TEST_SINGLE_USER:-cairn-ci-single}
  id "$single" >/dev/null 2>&1 ||
    useradd --create-home --shell /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$single"
  sed -i "/^$single:/d" /etc/subuid /etc/subgid
  # The overlay tests open /dev/fuse as that user: distributions ship it 0666, some
  # minimal images and VMs 0600.
  chmod 0666 /dev/fuse
  # Fixtures that need root (debootstrap) are made now and cached between runs.
  fixtures=$("$src/tools/make-test-images.sh" busybox debian | tr '\n' ' ')
  home=$(getent passwd "$user" | cut -d: -f6)
  work="$home/cairn-test"
  echo "test.sh: running as root; building and testing as unprivileged user '$user' in $work"
  rm -rf "$work"
  mkdir -p "$work/shared"
  # A copy the user owns: the clone may sit in a directory the user cannot read.
  (cd "$src" && tar --exclude='./build*' -cf - .) | (mkdir -p "$work/cairn" && tar -C "$work/cairn" -xf -)
  if [ -n "$conformance" ]; then cp -a "$conformance" "$work/shared/conformance"; fi
  chown -R "$user:" "$work"
  status=0
  # shellcheck disable=SC2086
  runuser -u "$user" -- env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="$home" \
    CI="${CI:-}" MESON_TEST_ARGS="${MESON_TEST_ARGS:-}" CAIRN_TEST_AS_USER=1 $fixtures \
    bash "$work/cairn/tools/test.sh" || status=$?
  build="$work/cairn/build"
  echo "test.sh: root phase (tests that need root) against $build"
  # shellcheck disable=SC2086
  env $fixtures meson test -C "$build" --no-rebuild --suite root --logbase root-testlog \
    --print-errorlogs || status=1
  echo "test.sh: single-id phase: the sandbox tests as '$single', who has no subordinate ids"
  chmod -R a+rX "$work"
  chmod a+rwx "$build/meson-logs"
  single_home=$(getent passwd "$single" | cut -d: -f6)
  # shellcheck disable=SC2086
  runuser -u "$single" -- env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="$single_home" \
    $fixtures meson test -C "$build" --no-rebuild --suite sandbox --logbase single-testlog \
    --print-errorlogs || status=1
  echo
  summary "$build/meson-logs/testlog.json" "$build/meson-logs/root-testlog.json" \
    "$build/meson-logs/single-testlog.json"
  exit $status
fi

"$src/tools/install-deps.sh" --test ${CAIRN_TEST_AS_USER:+--check-only}
build=${BUILD_DIR:-$src/build}
echo "test.sh: building in $build as $(id -un) (uid $(id -u))"
# Fixtures: what the root phase made, else what an unprivileged user can make.
if [ -z "${CAIRN_BUSYBOX_TAR:-}" ]; then
  eval "$(CAIRN_TEST_CACHE=${CAIRN_TEST_CACHE:-$HOME/.cache/cairn-test} "$src/tools/make-test-images.sh" busybox debian | sed 's/^/export /')"
fi
export CAIRN_ROOTFS_TARS="${CAIRN_BUSYBOX_TAR:-}${CAIRN_DEBIAN_TAR:+:$CAIRN_DEBIAN_TAR}"
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" ${conformance:+-Dconformance_dir="$conformance"}
fi
ninja -C "$build"
status=0
# shellcheck disable=SC2086
meson test -C "$build" --print-errorlogs ${MESON_TEST_ARGS:-} || status=$?
echo
summary "$build/meson-logs/testlog.json"
exit $status
