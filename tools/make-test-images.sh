#!/usr/bin/env bash
# Makes the root filesystem tarballs the tests use, offline where possible:
#   busybox: from Debian's busybox-static, unprivileged, seconds
#   debian:  a Debian minbase made with debootstrap (needs root and Debian's mirror),
#            cached in $CAIRN_TEST_CACHE (default /var/cache/cairn-test) between runs
# Usage: tools/make-test-images.sh [busybox] [debian]   (default: both)
# Prints NAME=PATH lines for the tarballs it has.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cache=${CAIRN_TEST_CACHE:-/var/cache/cairn-test}
want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(busybox debian)

mkdir -p "$cache" 2>/dev/null || cache=${TMPDIR:-/tmp}/cairn-test-cache
mkdir -p "$cache"

for image in "${want[@]}"; do
  case "$image" in
    busybox)
      out="$cache/busybox.tar"
      [ -s "$out" ] || "$src/tools/make-busybox-tar.sh" "$out" >&2
      echo "CAIRN_BUSYBOX_TAR=$out"
      ;;
    debian)
      out="$cache/debian-bookworm-minbase.tar"
      if [ ! -s "$out" ]; then
        if [ "$(id -u)" -ne 0 ]; then
          echo "make-test-images: the Debian minbase needs root (debootstrap); skipped" >&2
          continue
        fi
        "$src/tools/make-debian-tar.sh" "$out" >&2 || {
          echo "make-test-images: debootstrap failed; the Debian tests will be skipped" >&2
          continue
        }
      fi
      chmod 0644 "$out"
      echo "CAIRN_DEBIAN_TAR=$out"
      ;;
    *) echo "make-test-images: unknown image $image" >&2; exit 2 ;;
  esac
done
