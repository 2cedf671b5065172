#!/usr/bin/env bash
# Registry benchmark: `cairn push` and `cairn pull` of the Debian bookworm minbase image
# against `skopeo copy` to and from the same local registry (Debian's docker-registry,
# distribution 2.8, plain HTTP on 127.0.0.1, started with tests/integration/
# registry_fixture.sh), side by side, one hyperfine run per case, rootless:
#
#   push   cairn push -q debian:bookworm REG/bench/debian:bookworm
#          skopeo copy --preserve-digests oci:STORE:docker.io/library/debian:bookworm
#            docker://REG/bench/debian:bookworm
#          skopeo reads the very OCI layout cairn pushes from (cairn's store is one), so
#          both send the same bytes: the same gzip layer blob, config and manifest (the
#          script checks that the registry ends up with the store's manifest digest after
#          each tool's push). --prepare gives the registry a fresh, empty storage
#          directory before every run (the old one moved away, a new one made; the
#          fixture's registry config has no blob descriptor cache, so the running registry
#          keeps nothing in memory) and removes skopeo's blob info cache, so neither tool
#          finds anything there.
#   pull   cairn pull -q REG/bench/debian:bookworm into an empty store (--prepare moves
#            the last run's store away): downloads the layer blob, verifies its digest and
#            moves it into the store; the layer is unpacked when the image is first used.
#          cairn pull, then cairn run --rm IMAGE /bin/true: the pull and that first use
#            (the unpack, checked against the diff_id, and a sandbox start), so that the
#            unpack a pull leaves for later is timed too.
#          skopeo copy docker://REG/... oci:DIR (--prepare moves DIR away): download only,
#            the layer stays a gzip blob; nothing is unpacked.
#          skopeo copy docker://REG/... containers-storage:localhost/bench/debian:bookworm
#            (containers/storage with the overlay driver in a private graphroot, rootless:
#            skopeo re-executes itself in a user namespace with the subuid range;
#            --prepare moves the storage away): downloads and unpacks the layer, as cairn
#            does: the fair row.
#          What --prepare moves away goes to a trash directory deleted at the end, not
#          deleted between runs (see BENCH_DEFER_DELETE).
#          The pull registry holds the image pushed once by cairn before the timing.
#   After each case a CPU table: user + sys against wall time per command, from
#   hyperfine's JSON (a ratio above 1.0 means more than one core was busy on average).
#
# Usage: bench/registry_bench.sh
#   As root it installs what is missing (hyperfine, skopeo, docker-registry, curl, buildah,
#   uidmap; apt-get), then re-executes itself as $BENCH_USER with a clean environment. As
#   any other user it runs as that user (who needs a range in /etc/subuid and /etc/subgid
#   for the containers-storage row); a missing tool is then an error, a missing buildah
#   skips the containers-storage row with a message.
#
# Environment:
#   BENCH_USER          the unprivileged user, when started as root (default cairn-ci)
#   BENCH_RUNS          hyperfine --runs (default 10)
#   BENCH_WARMUP        hyperfine --warmup (default 1)
#   BENCH_CASES         which cases (default "push pull")
#   BENCH_CONTAINERS_STORAGE  1 (default): time skopeo into containers-storage too; 0: not
#   BENCH_STORAGE_DRIVER      containers-storage driver (default overlay: the kernel's
#                       overlayfs in skopeo's user namespace; vfs also works)
#   BENCH_OUT_DIR       where the markdown and JSON results go (hyperfine --export-markdown,
#                       --export-json; cpu-CASE.md; default ${TMPDIR:-/tmp}/cairn-registry-bench)
#   CAIRN_BINARY        cairn (default: build/src/cairn of this repository, else `cairn` in
#                       PATH). Started as root, a copy in /var/tmp/cairn-bench is used when
#                       $BENCH_USER cannot execute it where it is.
#   CAIRN_DEBIAN_TAR    Debian root filesystem tar (default
#                       /var/cache/cairn-test/debian-bookworm-minbase.tar;
#                       tools/make-test-images.sh debian)
#   BENCH_DEFER_DELETE  1 (default): --prepare moves the last run's files into a trash
#                       directory, deleted when the script ends (needs about 450 MB per
#                       run; with less free space it falls back to 0). 0: --prepare deletes
#                       them (containers-storage with `buildah unshare rm -rf`). Deleting
#                       6,658 files right before a run slows the run's file creation on an
#                       ext4 without a journal (such as this VM's), which skips recently
#                       freed inodes; see the comment at the --prepare scripts.
#   BENCH_TIMEOUT       seconds one command may take before the watchdog kills it and the
#                       run fails (default 300; hyperfine itself has no timeout)
#   BENCH_KEEP          1: keep the work directory (default 0: removed at exit)
#   BENCH_REGISTRY_FIXTURE  the registry fixture to source (default
#                       tests/integration/registry_fixture.sh of this repository; started as
#                       root, a copy in /var/tmp/cairn-bench when $BENCH_USER cannot read it)
#
# Everything is private to one `mktemp -d` work directory under ${TMPDIR:-/tmp}: the two
# registries (one for push, emptied before every run; one holding the image for pull),
# cairn's stores (cairn runs with --config of an empty file: built-in defaults), and the
# HOME, XDG directories, TMPDIR and CONTAINERS_STORAGE_CONF that skopeo and buildah see,
# so no real user's containers storage, auth.json or blob info cache is used or touched.
# Both tools talk plain HTTP to 127.0.0.1 (cairn: loopback without TLS is allowed;
# skopeo: --src-tls-verify=false / --dest-tls-verify=false) without credentials, and
# run with -q (no progress output).
set -euo pipefail

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
buser=${BENCH_USER:-cairn-ci}
debian_tar=${CAIRN_DEBIAN_TAR:-/var/cache/cairn-test/debian-bookworm-minbase.tar}
cases=${BENCH_CASES:-push pull}
fixture=${BENCH_REGISTRY_FIXTURE:-$repo/tests/integration/registry_fixture.sh}

die() { echo "registry_bench: $*" >&2; exit 1; }
say() { echo "[registry_bench $(date +%T)] $*" >&2; }
# shellcheck source=bench/lib.sh
. "$(dirname "$self")/lib.sh"
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

find_cairn() { # prints the cairn binary
  local c=${CAIRN_BINARY:-}
  if [ -z "$c" ]; then
    if [ -x "$repo/build/src/cairn" ]; then c=$repo/build/src/cairn
    else c=$(command -v cairn) || die "no cairn binary (build one or set CAIRN_BINARY)"; fi
  fi
  [ -f "$c" ] && [ -x "$c" ] || die "not an executable: $c (CAIRN_BINARY)"
  readlink -f "$c"
}

# ---------------------------------------------------------------------------------------
# As root: install what is missing, make the inputs reachable, re-execute as $buser.
if [ "$(id -u)" = 0 ]; then
  id "$buser" >/dev/null 2>&1 || die "user $buser missing (BENCH_USER)"
  as_buser() { setpriv --reuid="$buser" --regid="$(id -g "$buser")" --init-groups "$@"; }

  pkgs=()
  command -v hyperfine >/dev/null || pkgs+=(hyperfine)
  command -v skopeo >/dev/null || pkgs+=(skopeo)
  command -v docker-registry >/dev/null || pkgs+=(docker-registry)
  command -v curl >/dev/null || pkgs+=(curl)
  command -v python3 >/dev/null || pkgs+=(python3)
  if [ "${BENCH_CONTAINERS_STORAGE:-1}" = 1 ]; then
    command -v buildah >/dev/null || pkgs+=(buildah)
    command -v newuidmap >/dev/null && command -v newgidmap >/dev/null || pkgs+=(uidmap)
  fi
  if [ ${#pkgs[@]} -gt 0 ]; then
    say "installing ${pkgs[*]}"
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >&2 ||
      die "apt-get install ${pkgs[*]} failed"
  fi
  if [ "${BENCH_CONTAINERS_STORAGE:-1}" = 1 ]; then
    grep -q "^$buser:" /etc/subuid && grep -q "^$buser:" /etc/subgid ||
      say "warning: $buser has no range in /etc/subuid or /etc/subgid: skopeo into containers-storage will fail"
  fi

  cairn=$(find_cairn)
  if ! as_buser test -r "$cairn" -a -x "$cairn"; then
    c=$(to_copy_dir "$cairn"); say "$buser cannot execute $cairn: using a copy, $c"; cairn=$c
  fi
  script=$self
  if ! as_buser test -r "$script"; then
    script=$(to_copy_dir "$self"); say "$buser cannot read $self: running a copy, $script"
    to_copy_dir "$(dirname "$self")/lib.sh" >/dev/null
  fi
  [ -f "$fixture" ] || die "registry fixture not found: $fixture"
  if ! as_buser test -r "$fixture"; then
    fixture=$(to_copy_dir "$fixture"); say "$buser cannot read the registry fixture: using a copy, $fixture"
  fi
  [ -f "$debian_tar" ] || die "root filesystem tar not found: $debian_tar (tools/make-test-images.sh debian)"
  as_buser test -r "$debian_tar" || die "$buser cannot read $debian_tar"
  tmp=${TMPDIR:-/tmp}
  as_buser test -d "$tmp" -a -w "$tmp" -a -x "$tmp" || die "$buser cannot write to $tmp (TMPDIR)"

  home=$(getent passwd "$buser" | cut -d: -f6)
  envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        USER="$buser" LOGNAME="$buser" HOME="${home:-/}" TMPDIR="$tmp" LANG=C.UTF-8
        CAIRN_BINARY="$cairn" CAIRN_DEBIAN_TAR="$debian_tar" BENCH_CASES="$cases"
        BENCH_REGISTRY_FIXTURE="$fixture")
  [ -n "${TERM:-}" ] && envs+=(TERM="$TERM")
  for v in BENCH_RUNS BENCH_WARMUP BENCH_TIMEOUT BENCH_OUT_DIR BENCH_KEEP \
           BENCH_CONTAINERS_STORAGE BENCH_STORAGE_DRIVER BENCH_DEFER_DELETE; do
    [ -n "${!v:-}" ] && envs+=("$v=${!v}")
  done
  say "re-executing as $buser"
  cd /
  exec setpriv --reuid="$buser" --regid="$(id -g "$buser")" --init-groups \
    env -i "${envs[@]}" bash "$script"
fi

# ---------------------------------------------------------------------------------------
# As the benchmark user.
runs=${BENCH_RUNS:-10}
warmup=${BENCH_WARMUP:-1}
timeout=${BENCH_TIMEOUT:-300}
with_cs=${BENCH_CONTAINERS_STORAGE:-1}
driver=${BENCH_STORAGE_DRIVER:-overlay}
export USER=${USER:-$(id -un)}
out_dir=$(readlink -m "${BENCH_OUT_DIR:-${TMPDIR:-/tmp}/cairn-registry-bench}")
mkdir -p "$out_dir"
for tool in hyperfine skopeo docker-registry curl python3; do
  command -v "$tool" >/dev/null || { echo "registry_bench: $tool is not installed" >&2; exit 77; }
done
cairn=$(find_cairn)
[ -r "$debian_tar" ] || die "cannot read $debian_tar (CAIRN_DEBIAN_TAR)"
[ -r "$fixture" ] || die "cannot read the registry fixture $fixture"
for k in $cases; do case $k in push | pull) ;; *) die "unknown case in BENCH_CASES: $k" ;; esac; done

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-rb.XXXXXX")
chmod 0755 "$work"
# hyperfine -N splits the commands at whitespace, without a shell.
case "$work$cairn$debian_tar" in *[[:space:]]*) die "whitespace in a path" ;; esac

# Private HOME and XDG directories for skopeo and buildah (auth.json, blob info cache,
# containers configuration and run-time state), and for cairn (which gets --config too).
mkdir -p "$work/home" "$work/xdg-config" "$work/xdg-data" "$work/xdg-cache" "$work/xdg-run" \
  "$work/tmp"
chmod 0700 "$work/xdg-run"
cs=$work/containers-storage
cat >"$work/storage.conf" <<EOF
[storage]
driver = "$driver"
graphroot = "$cs/graph"
runroot = "$cs/run"
EOF
: >"$work/cairn.toml"
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg-config XDG_DATA_HOME=$work/xdg-data \
  XDG_CACHE_HOME=$work/xdg-cache XDG_RUNTIME_DIR=$work/xdg-run TMPDIR=$work/tmp \
  CONTAINERS_STORAGE_CONF=$work/storage.conf
unset DOCKER_CONFIG REGISTRY_AUTH_FILE CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF \
  http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY 2>/dev/null || true
blob_info_cache=$XDG_DATA_HOME/containers/cache/blob-info-cache-v1.boltdb

# The registries (registry_fixture.sh wants $tmp, and set -euo pipefail).
tmp=$work/registries
mkdir -p "$tmp"
# shellcheck source=../tests/integration/registry_fixture.sh
source "$fixture"

hf="" cs_used=""
# shellcheck disable=SC2317  # (called from the EXIT trap)
cleanup() {
  set +e
  if [ -n "$hf" ] && kill -0 "$hf" 2>/dev/null; then  # the script failed while hyperfine ran
    for p in $(descendants "$hf") "$hf"; do kill -KILL "$p" 2>/dev/null; done
    wait "$hf" 2>/dev/null
  fi
  registry_stop_all
  if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $work"; return; fi
  # containers-storage's files belong to subordinate ids: removed from inside the namespace
  # (the trash may hold earlier runs' containers-storage).
  [ -n "$cs_used" ] && buildah unshare rm -rf "$cs" "$work/trash" 2>/dev/null
  rm -rf "$work" 2>/dev/null || { chmod -R u+rwX "$work"; rm -rf "$work"; }
  [ -e "$work" ] && say "warning: could not remove all of $work"
}
trap cleanup EXIT

say "cairn $cairn ($("$cairn" --version 2>/dev/null)); work directory $work"
registry_start plain push || die "could not start the push registry"
push_addr=$REGISTRY_ADDR push_dir=$REGISTRY_DIR
registry_start plain pull || die "could not start the pull registry"
pull_addr=$REGISTRY_ADDR
say "registries: push $push_addr (emptied before every run), pull $pull_addr ($(docker-registry --version 2>/dev/null | awk '{print $NF}'))"

# Checks a command once before timing it (hyperfine stops at the first failure).
works() { # $1 = label, rest = command
  local label=$1 log=$work/check.log; shift
  "$@" >"$log" 2>&1 && return 0
  local rc=$?
  say "$label failed (rc=$rc): $*"; tail -n 40 "$log" | sed 's/^/    /' >&2
  return 1
}

C=("$cairn" --config "$work/cairn.toml")
store=$work/store
say "importing $debian_tar into cairn's store"
"${C[@]}" --root "$store" import "$debian_tar" debian:bookworm -c 'CMD ["bash"]' >/dev/null ||
  die "cairn import failed"
# The image's digests, from the store's OCI layout.
read -r manifest_digest layer_digest layer_size < <(python3 - "$store" <<'EOF'
import json, sys
root = sys.argv[1]
index = json.load(open(root + "/index.json"))
m = [d for d in index["manifests"]
     if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == "docker.io/library/debian:bookworm"][0]
manifest = json.load(open(root + "/blobs/sha256/" + m["digest"].split(":")[1]))
layer = manifest["layers"][0]
print(m["digest"], layer["digest"], layer["size"])
EOF
)
say "image: manifest $manifest_digest, one layer $layer_digest ($layer_size bytes, gzip)"
skopeo_src="oci:$store:docker.io/library/debian:bookworm"
accept='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'

# The digest of the manifest REGISTRY has under REPO:TAG (Docker-Content-Digest), or "none".
registry_digest() { # $1 = address, $2 = repository, $3 = tag
  curl -fsS -o /dev/null -D - -H "$accept" "http://$1/v2/$2/manifests/$3" 2>/dev/null |
    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}' | grep . || echo none
}
registry_has_blob() { # $1 = address, $2 = repository, $3 = digest
  curl -fsS -o /dev/null -I "http://$1/v2/$2/blobs/$3" 2>/dev/null
}

# The pull registry gets the image once, from cairn.
works "seeding the pull registry (cairn push)" \
  "${C[@]}" --root "$store" push -q debian:bookworm "$pull_addr/bench/debian:bookworm" ||
  die "could not push the image to the pull registry"
[ "$(registry_digest "$pull_addr" bench/debian bookworm)" = "$manifest_digest" ] ||
  die "the pull registry does not have manifest $manifest_digest"

# --prepare scripts. What a run left is moved into $work/trash rather than deleted, and
# the trash is deleted at the end: this machine's ext4 has no journal, and ext4 then skips
# inodes freed in the last minute(s) when it allocates new ones (recently_deleted() in
# find_inode_bit()), which made file creation several times slower right after the
# previous run's tree was removed (tar -xf of the layer: 0.24 s normally, up to 1.9 s just
# after a removal). BENCH_DEFER_DELETE=0 deletes at once instead.
trash=$work/trash
mkdir -p "$trash"
defer=${BENCH_DEFER_DELETE:-1}
if [ "$defer" = 1 ]; then
  # about 450 MB per run: two pushed copies, a cairn store, an OCI layout, a containers-storage
  need_mb=$(( (runs + warmup + 2) * 450 + 1024 ))
  avail_mb=$(df -Pm "$work" | awk 'NR == 2 {print $4}')
  if [ "${avail_mb:-0}" -lt "$need_mb" ]; then
    say "only $avail_mb MB free in $work (about $need_mb MB needed to keep every run's files): deleting them at once (BENCH_DEFER_DELETE=0)"
    defer=0
  fi
fi
cat >"$work/discard.sh" <<EOF
#!/bin/sh
# \$1 = a directory a run left (a store, an OCI layout, the containers-storage, the push
# registry's storage); \$2 = "userns" when it holds files of subordinate ids. Then skopeo
# forgets what it knew (its blob info cache).
[ -e "\$1" ] || [ -L "\$1" ] || { rm -f "$blob_info_cache"; exit 0; }
if [ $defer = 1 ]; then
  mv "\$1" "$trash/\$(date +%s%N)" || exit 1
elif [ "\$2" = userns ]; then
  buildah unshare rm -rf "\$1" || exit 1
else
  rm -rf "\$1" 2>/dev/null || { chmod -R u+rwX "\$1" && rm -rf "\$1"; } || exit 1
fi
rm -f "$blob_info_cache"
EOF
cat >"$work/fresh-registry.sh" <<EOF
#!/bin/sh
# A fresh, empty storage directory for the push registry.
sh "$work/discard.sh" "$push_dir/storage" && mkdir "$push_dir/storage"
EOF

declare -A cmd prep
# push
cmd[push,cairn]="$cairn --config $work/cairn.toml --root $store push -q debian:bookworm $push_addr/bench/debian:bookworm"
prep[push,cairn]="sh $work/fresh-registry.sh"
cmd[push,skopeo]="skopeo copy -q --preserve-digests --dest-tls-verify=false $skopeo_src docker://$push_addr/bench/debian:bookworm"
prep[push,skopeo]="sh $work/fresh-registry.sh"
# pull
cmd[pull,cairn]="$cairn --config $work/cairn.toml --root $work/pull-store pull -q $pull_addr/bench/debian:bookworm"
prep[pull,cairn]="sh $work/discard.sh $work/pull-store"
cat >"$work/pull-run.sh" <<EOF
set -e
$cairn --config $work/cairn.toml --root $work/pull-store pull -q $pull_addr/bench/debian:bookworm >/dev/null
$cairn --config $work/cairn.toml --root $work/pull-store run --rm $pull_addr/bench/debian:bookworm /bin/true
EOF
cmd[pull,cairn-run]="sh $work/pull-run.sh"
prep[pull,cairn-run]="sh $work/discard.sh $work/pull-store"
cmd[pull,skopeo-oci]="skopeo copy -q --src-tls-verify=false docker://$pull_addr/bench/debian:bookworm oci:$work/pull-oci:bookworm"
prep[pull,skopeo-oci]="sh $work/discard.sh $work/pull-oci"
cmd[pull,skopeo-cs]="skopeo copy -q --src-tls-verify=false docker://$pull_addr/bench/debian:bookworm containers-storage:localhost/bench/debian:bookworm"
prep[pull,skopeo-cs]="sh $work/discard.sh $cs userns"

label() { # $1 = case,tool
  case $1 in
    push,cairn) echo "cairn push" ;;
    push,skopeo) echo "skopeo copy oci: -> docker:// (--preserve-digests)" ;;
    pull,cairn) echo "cairn pull (download + verify; unpacked at first use)" ;;
    pull,cairn-run) echo "cairn pull, then run --rm IMAGE /bin/true (first use: unpack)" ;;
    pull,skopeo-oci) echo "skopeo copy docker:// -> oci: (download only)" ;;
    pull,skopeo-cs) echo "skopeo copy docker:// -> containers-storage: ($driver, unpacked)" ;;
  esac
}

# What a command left must be the image: checked after its check run.
check_result() { # $1 = case,tool
  local d
  case $1 in
    push,*)
      d=$(registry_digest "$push_addr" bench/debian bookworm)
      [ "$d" = "$manifest_digest" ] || { say "$1: the registry has manifest $d, not $manifest_digest"; return 1; }
      registry_has_blob "$push_addr" bench/debian "$layer_digest" ||
        { say "$1: the registry lacks the layer $layer_digest"; return 1; } ;;
    pull,cairn | pull,cairn-run)
      d=$("${C[@]}" --root "$work/pull-store" inspect "$pull_addr/bench/debian:bookworm" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ManifestDigest"])')
      [ "$d" = "$manifest_digest" ] || { say "$1: the pulled image has manifest $d"; return 1; }
      "${C[@]}" --root "$work/pull-store" store verify >"$work/verify.log" 2>&1 ||
        { say "$1: cairn store verify failed:"; sed 's/^/    /' "$work/verify.log" >&2; return 1; } ;;
    pull,skopeo-oci)
      grep -q "$manifest_digest" "$work/pull-oci/index.json" &&
        [ -f "$work/pull-oci/blobs/sha256/${layer_digest#sha256:}" ] ||
        { say "$1: the OCI layout lacks manifest $manifest_digest or the layer"; return 1; } ;;
    pull,skopeo-cs)
      d=$(skopeo inspect --raw containers-storage:localhost/bench/debian:bookworm 2>/dev/null | sha256sum | cut -d' ' -f1)
      [ "sha256:$d" = "$manifest_digest" ] || { say "$1: containers-storage has manifest sha256:$d"; return 1; } ;;
  esac
}

# user + sys against wall time, per command, from hyperfine's JSON.
cpu_table() { # $1 = json, $2 = markdown out
  python3 - "$1" >"$2" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print("| Command | Wall [ms] | User [ms] | Sys [ms] | (User+Sys)/Wall |")
print("|:---|---:|---:|---:|---:|")
for r in results:
    wall, user, sys_ = r["mean"], r["user"], r["system"]
    sd = r.get("stddev") or 0.0  # null for a single run
    print(f"| `{r['command']}` | {wall*1e3:.1f} ± {sd*1e3:.1f} | {user*1e3:.1f} | "
          f"{sys_*1e3:.1f} | {(user+sys_)/wall:.2f} |")
EOF
}

failed=()
skipped=()
bench_case() { # $1 = case
  local k=$1 tools key args=() preps=() n=0
  case $k in
    push) tools="cairn skopeo" ;;
    pull) tools="cairn cairn-run skopeo-oci skopeo-cs" ;;
  esac
  for t in $tools; do
    key=$k,$t
    if [ "$key" = pull,skopeo-cs ]; then
      if [ "$with_cs" != 1 ]; then skipped+=("$(label "$key"): BENCH_CONTAINERS_STORAGE=0"); continue; fi
      if ! command -v buildah >/dev/null; then
        skipped+=("$(label "$key"): buildah (for emptying the storage) is not installed"); continue
      fi
      cs_used=1
    fi
    # shellcheck disable=SC2086
    works "$key prepare" ${prep[$key]} || { failed+=("$(label "$key") (prepare failed)"); continue; }
    # shellcheck disable=SC2086
    if ! works "$key" ${cmd[$key]}; then
      if [ "$key" = pull,skopeo-cs ]; then
        skipped+=("$(label "$key"): failed rootless here: $(grep -m1 -iE 'error|fail' "$work/check.log" || tail -n1 "$work/check.log")")
      else
        failed+=("$(label "$key"): $(grep -m1 -iE 'error|fail' "$work/check.log" || tail -n1 "$work/check.log")")
      fi
      continue
    fi
    check_result "$key" || { failed+=("$(label "$key"): wrong result (see above)"); continue; }
    args+=(-n "$(label "$key")" "${cmd[$key]}")
    preps+=(--prepare "${prep[$key]}")
    n=$((n + 1))
  done
  [ $n -gt 0 ] || { say "$k: nothing to time"; return 0; }
  say "$k: hyperfine, $n commands, --warmup $warmup --runs $runs; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  if run_hyperfine -N --warmup "$warmup" --runs "$runs" --export-markdown "$out_dir/$k.md" \
       --export-json "$out_dir/$k.json" "${preps[@]}" "${args[@]}"; then
    say "$k: done, load $(cut -d' ' -f1-3 /proc/loadavg)"
    cpu_table "$out_dir/$k.json" "$out_dir/cpu-$k.md"
  else
    failed+=("hyperfine for $k")
  fi
}

for k in $cases; do bench_case "$k"; done

# Where a cairn pull spends its time, once more, outside hyperfine.
if has "$cases" pull; then
  sh "$work/discard.sh" "$work/pull-store"
  "${C[@]}" --timings --root "$work/pull-store" pull -q "$pull_addr/bench/debian:bookworm" \
    >/dev/null 2>"$out_dir/pull.cairn-timings.txt" || true
fi

echo
for k in $cases; do
  [ -f "$out_dir/$k.md" ] || continue
  echo "### $k"
  cat "$out_dir/$k.md"
  echo
  echo "CPU (means over the runs; (user+sys)/wall above 1.0: more than one core busy):"
  echo
  cat "$out_dir/cpu-$k.md"
  echo
done
if [ -s "$out_dir/pull.cairn-timings.txt" ]; then
  echo "cairn --timings pull (one more run):"
  sed 's/^/  /' "$out_dir/pull.cairn-timings.txt"
fi
echo "(markdown and json: $out_dir)"
echo "image: Debian bookworm minbase, one gzip layer $layer_digest ($layer_size bytes), manifest $manifest_digest"
echo "work directory: $work on $(df -PT "$work" | awk 'NR == 2 {print $2 " (" $1 ")"}'); files of earlier runs: $([ "$defer" = 1 ] && echo "moved to a trash directory" || echo "deleted by --prepare")"
echo "versions: $("$cairn" --version 2>/dev/null); $(skopeo --version); docker-registry $(docker-registry --version 2>/dev/null | awk '{print $NF}'); $(hyperfine --version); kernel $(uname -r); $(nproc) cores"
for s in "${skipped[@]}"; do echo "Skipped: $s"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo
  printf 'Failed: %s\n' "${failed[@]}"
  exit 1
fi
exit 0
