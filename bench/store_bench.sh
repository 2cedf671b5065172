#!/usr/bin/env bash
# Store benchmark: cairn load / cairn save (hybrid, gzip) of the Debian minbase image,
# side by side with podman load and skopeo copy ... oci-archive: of the same image, in one
# hyperfine run. Peak memory (max RSS) of cairn's load and save is reported from GNU time.
# Usage: bench/store_bench.sh CAIRN_BINARY DEBIAN_ROOTFS_TAR [RUNS]
set -euo pipefail
cairn=$(realpath "${1:?usage: $0 CAIRN_BINARY DEBIAN_ROOTFS_TAR [RUNS]}")
rootfs=$(realpath "${2:?debian rootfs tarball (tools/make-test-images.sh debian)}")
runs=${3:-5}
for tool in hyperfine skopeo podman; do
  command -v "$tool" >/dev/null || { echo "store_bench: $tool is not installed" >&2; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-store-bench.XXXXXX")
trap 'podman --root "$work/podman" --runroot "$work/podman-run" unshare rm -rf "$work" 2>/dev/null || rm -rf "$work"' EXIT
store="$work/store"
"$cairn" --root "$store" import "$rootfs" bench/debian:bookworm >/dev/null
"$cairn" --root "$store" save -o "$work/debian.tar" bench/debian:bookworm
ls -l "$work/debian.tar"
"$cairn" --root "$store" save --format docker -o "$work/plain.tar" bench/debian:bookworm
podman=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver vfs)

hyperfine --runs "$runs" --warmup 1 --export-markdown "$work/results.md" \
  --prepare "rm -rf $work/load-store" \
  -n "cairn load" "$cairn --root $work/load-store load -i $work/debian.tar" \
  --prepare "${podman[*]} rmi -a -f >/dev/null 2>&1 || true" \
  -n "podman load (vfs)" "${podman[*]} load -q -i $work/debian.tar" \
  --prepare "rm -f $work/out-cairn.tar" \
  -n "cairn save (hybrid, gzip layers)" "$cairn --root $store save -o $work/out-cairn.tar bench/debian:bookworm" \
  --prepare "rm -f $work/out-skopeo.tar" \
  -n "skopeo copy oci: -> oci-archive: (gzip layers kept)" \
  "skopeo copy -q oci:$store:docker.io/bench/debian:bookworm oci-archive:$work/out-skopeo.tar" \
  --prepare "rm -f $work/out-skopeo-gz.tar" \
  -n "skopeo copy docker-archive: -> oci-archive: --dest-compress (gzip)" \
  "skopeo copy -q --dest-compress docker-archive:$work/plain.tar oci-archive:$work/out-skopeo-gz.tar"
cat "$work/results.md"

echo
echo "peak memory (GNU time, max resident set):"
/usr/bin/time -f "cairn load: %M KiB, %e s" "$cairn" --root "$work/mem-store" load -i "$work/debian.tar" >/dev/null
/usr/bin/time -f "cairn save: %M KiB, %e s" "$cairn" --root "$store" save -o "$work/mem.tar" bench/debian:bookworm
