#!/usr/bin/env bash
# The main job: install dependencies, build cairn, make a busybox base image offline, build
# the example Dockerfile on it with cairn build and run the result — all without root once
# the packages are installed.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/tools/install-deps.sh" --demo
build=${BUILD_DIR:-$src/build}
[ -f "$build/build.ninja" ] || meson setup "$build" -Dtests=false
ninja -C "$build" src/cairn src/cairn-overlayfs
cairn="$build/src/cairn"
example="$src/examples/busybox/Dockerfile"
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
store="$work/store"

echo "== cairn parse -f $example"
"$cairn" parse -f "$example"
echo
echo "== cairn parse --target app --build-arg GREETING=hello -f $example"
"$cairn" parse --target app --build-arg GREETING=hello -f "$example"
echo
echo "== a busybox base image, made offline from Debian's busybox-static"
"$src/tools/make-busybox-tar.sh" "$work/busybox.tar"
"$cairn" --root "$store" import "$work/busybox.tar" busybox:latest -c 'CMD ["sh"]'
"$cairn" --root "$store" images
"$cairn" --root "$store" save -o "$work/busybox-image.tar" busybox:latest
echo "saved $(stat -c %s "$work/busybox-image.tar") bytes (load it with docker load, podman load or skopeo):"
tar -tvf "$work/busybox-image.tar"
"$cairn" --root "$store" store verify
echo
echo "== cairn build: examples/busybox on that base, then the same build again (cached)"
if [ -r /dev/fuse ] && [ -w /dev/fuse ] && unshare -Urm true 2>/dev/null; then
  "$cairn" --root "$store" build --progress plain -t hello "$src/examples/busybox"
  "$cairn" --root "$store" build --progress plain -t hello "$src/examples/busybox"
  "$cairn" --root "$store" run --rm hello
  "$cairn" --root "$store" history hello
  "$cairn" --root "$store" save -o "$work/hello.tar" hello
  echo "saved hello: $(stat -c %s "$work/hello.tar") bytes, for docker load / podman load"
else
  echo "(skipped: needs read-write /dev/fuse and unprivileged user namespaces)"
fi
echo
echo "== cairn mount: the image through cairn's FUSE overlay, changes into a layer directory"
if [ -r /dev/fuse ] && [ -w /dev/fuse ] && unshare -Urm true 2>/dev/null; then
  mkdir -p "$work/mnt"
  # shellcheck disable=SC2016  # the inner shell expands them
  unshare -Urm sh -c '
    cairn=$1 store=$2 work=$3
    "$cairn" --root "$store" mount --upper "$work/changes" busybox:latest "$work/mnt" || exit 1
    echo hello > "$work/mnt/etc/motd"; rm "$work/mnt/bin/vi"; chmod 4755 "$work/mnt/bin/busybox"
    ls -l "$work/mnt/etc/motd" "$work/mnt/bin/busybox"
    "$cairn" umount "$work/mnt"' sh "$cairn" "$store" "$work"
  echo "the upper layer directory's record (whiteout, metacopy of the chmod, new file):"
  cat "$work/changes/meta.jsonl"
else
  echo "(skipped: needs read-write /dev/fuse and unprivileged user namespaces)"
fi
echo
echo "== cairn run: the image's commands in the rootless sandbox"
if [ -r /dev/fuse ] && [ -w /dev/fuse ] && unshare -Urm true 2>/dev/null; then
  "$cairn" doctor || true
  "$cairn" --root "$store" run busybox:latest sh -c 'id; hostname; ls /'
  "$cairn" --root "$store" run --network none busybox:latest ip -o link
  "$cairn" --root "$store" run --commit busybox:motd busybox:latest \
    sh -c 'echo "made in cairn run" > /etc/motd; chown 33:33 /etc/motd'
  "$cairn" --root "$store" run busybox:motd sh -c 'cat /etc/motd; ls -ln /etc/motd'
  "$cairn" --root "$store" history busybox:motd
else
  echo "(skipped: needs read-write /dev/fuse and unprivileged user namespaces)"
fi
