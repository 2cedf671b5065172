#!/usr/bin/env bash
# Builds a tiny busybox root filesystem tarball, offline and without root.
#   usage: tools/make-busybox-tar.sh OUT.tar [BUSYBOX_BINARY]
# The binary must be statically linked (Debian: busybox-static installs /bin/busybox).
# The tarball is reproducible: entries sorted by name, numeric owner 0:0, every mtime
# SOURCE_DATE_EPOCH (default 0), PAX format without atime/ctime. Applets are symlinks to
# /bin/busybox in their canonical directories (what `busybox --install -s` makes).
# Exit status: 0 done, 1 error, 2 usage, 77 no static busybox here (tests skip on 77).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
  echo "usage: $0 OUT.tar [BUSYBOX_BINARY]" >&2
  exit 2
fi
out=$1
busybox=${2:-/bin/busybox}
epoch=${SOURCE_DATE_EPOCH:-0}

if [ ! -x "$busybox" ]; then
  echo "make-busybox-tar: $busybox not found; install busybox-static (apt-get install busybox-static)" >&2
  exit 77
fi
# A dynamically linked busybox would need its libraries in the image.
if command -v file >/dev/null 2>&1; then
  if ! file -L "$busybox" | grep -q 'statically linked'; then
    echo "make-busybox-tar: $busybox is not statically linked; install busybox-static" >&2
    exit 77
  fi
elif ldd "$busybox" >/dev/null 2>&1; then
  echo "make-busybox-tar: $busybox is dynamically linked; install busybox-static" >&2
  exit 77
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bbroot.XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/root" \
  "$root/tmp" "$root/var/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/home"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"

# `busybox --install -s` without chroot: --list-full names each applet with its directory.
"$root/bin/busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  if [ ! -e "$root/$applet" ] && [ ! -L "$root/$applet" ]; then
    mkdir -p "$(dirname "$root/$applet")"
    ln -s /bin/busybox "$root/$applet"
  fi
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
nogroup:x:65534:
EOF
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
chmod 0644 "$root"/etc/*

find "$root" -exec touch -h -d "@$epoch" {} +
mkdir -p "$(dirname "$out")"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime="@$epoch" \
  --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$root" -cf "$out.partial" .
mv -f "$out.partial" "$out"
echo "$out: $(stat -c %s "$out") bytes, $(tar -tf "$out" | wc -l) entries"
