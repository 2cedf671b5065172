#!/usr/bin/env bash
# Installs what cairn needs to build and test on Debian 12, as root or through sudo.
set -euo pipefail

# tools/install-deps.sh [--test|--demo]: build dependencies; with --test also what the
# test suite drives (image tools for interoperability checks, fixture makers); with
# --demo what the demo needs (busybox-static).
packages=(
  g++ meson ninja-build pkg-config git ca-certificates python3
  libfuse3-dev fuse3 libseccomp-dev libarchive-dev libssl-dev zlib1g-dev libzstd-dev
  libtomlplusplus-dev nlohmann-json3-dev libfmt-dev libcli11-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libisal-dev
)
check_only=false
with_test=false
for arg in "$@"; do
  case "$arg" in
    --check-only) check_only=true ;;
    --test) with_test=true ;;
    --demo) packages+=(busybox-static) ;;
    *) echo "usage: $0 [--test|--demo] [--check-only]" >&2; exit 2 ;;
  esac
done
if $with_test; then
  packages+=(busybox-static debootstrap zstd skopeo umoci podman buildah runc catatonit uidmap
             fuse-overlayfs attr procps python3-jsonschema time hyperfine docker.io
             openssh-client curl docker-registry apache2-utils openssl python3-jwt python3-cryptography)
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if $check_only; then
  echo "install-deps: missing ${missing[*]} (run tools/install-deps.sh as root or with sudo)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -q
as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
