#!/bin/sh
# A Debian bookworm minbase root filesystem tarball, made with debootstrap (as root).
#   usage: make-debian-tar.sh OUT.tar [SUITE] [MIRROR]
# The mirror defaults to the first one apt already uses. /dev is left empty, apt lists
# and caches are dropped, security.capability xattrs are kept.
set -eu
OUT=${1:?usage: $0 OUT.tar [suite] [mirror]}
SUITE=${2:-bookworm}
MIRROR=${3:-}
if [ -z "$MIRROR" ]; then
  MIRROR=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
           | grep -v -- '-security' | head -n1 || true)
fi
if [ -z "$MIRROR" ]; then
  MIRROR=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^(https?|file):/){print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
fi
MIRROR=${MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "error: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed" >&2; exit 1; }
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/cairn-debroot.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT INT TERM
chmod 0755 "$ROOT"
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" > "$OUT.debootstrap.log" 2>&1 \
  || { tail -20 "$OUT.debootstrap.log" >&2; exit 1; }
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log "$ROOT"/debootstrap
find "$ROOT/dev" -mindepth 1 -delete
echo "deb $MIRROR $SUITE main" > "$ROOT/etc/apt/sources.list"
: > "$ROOT/etc/resolv.conf"
: > "$ROOT/etc/hostname"
tar --sort=name --numeric-owner --xattrs --xattrs-include='security.capability' \
  -C "$ROOT" -cf "$OUT.partial" .
mv "$OUT.partial" "$OUT"
echo "$OUT: $(stat -c %s "$OUT") bytes"
