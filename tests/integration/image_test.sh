#!/usr/bin/env bash
# Integration test of cairn's image commands: import (--change, -m), images, tag, rmi,
# inspect, history, save (hybrid, docker, oci), load, store verify and prune, with the
# exported archives checked by the tools that consume them: skopeo, umoci and rootless
# podman (each skipped with a note when missing or unusable here). A layer tar's listing
# (types, owners, modes, sizes, mtimes, links) must survive import and save unchanged, for
# a busybox root filesystem and, when given, a Debian minbase (root:shadow 0640 files,
# setuid binaries, setgid directories, hard links).
# Drives the real binary ($CAIRN_BINARY, else `cairn` in PATH) and prints one TAP line per
# assertion; exits 1 when any assertion failed, 77 when a prerequisite is missing.
# Fixtures: CAIRN_BUSYBOX_TAR (made with tools/make-busybox-tar.sh when unset),
#           CAIRN_DEBIAN_TAR (a Debian minbase tarball; its checks skip when unset).
# Usage: CAIRN_BINARY=build/src/cairn tests/integration/image_test.sh
set -euo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

here=$(cd "$(dirname "$0")" && pwd)
require_cairn
# The interpreter itself, not a wrapper such as a pyenv shim: it runs a hundred times.
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
if [ -z "$python" ] || [ ! -x "$python" ]; then
  echo "1..0 # SKIP python3 is not installed (it checks the JSON and the listings)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-image-test.XXXXXX")
podman_used=""
cleanup() {
  if [ -n "$podman_used" ]; then
    # Files of the private podman storage belong to subordinate ids: remove them inside
    # podman's user namespace, then end the pause process this test's podman started.
    podman "${podman_opts[@]}" unshare rm -rf "$tmp/podman/root" "$tmp/podman/run" \
      >/dev/null 2>&1 || true
    local pause
    for pause in "$tmp/podman/xdg/libpod/tmp/pause.pid" "$tmp/podman/xdg/containers/pause.pid"; do
      if [ -s "$pause" ]; then kill "$(cat "$pause")" 2>/dev/null || true; fi
    done
  fi
  chmod -R u+rwX "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
isolate_home
mkdir -p "$tmp/work"
cd "$tmp/work"
store="$tmp/store"
start_time=$(date +%s)


# tool COMMAND...: runs another program the same way (skopeo, umoci, podman, tar).
tool() {
  status=0
  "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}



# check_if REASON DESCRIPTION COMMAND...: check, or skip for REASON when REASON is not empty.
check_if() {
  local why=$1
  shift
  if [ -n "$why" ]; then skip "$1" "$why"; else check "$@"; fi
}

out_has() { grep -qF -e "$1" "$tmp/out"; }
out_lacks() { ! grep -qF -e "$1" "$tmp/out"; }
out_matches() { grep -qE -e "$1" "$tmp/out"; }
out_line() { grep -qxF -e "$1" "$tmp/out"; }
out_empty() { [ ! -s "$tmp/out" ]; }
err_has() { grep -qF -e "$1" "$tmp/err"; }
# same_files EXPECTED ACTUAL: equal files (check shows the diff).
same_files() { diff -u "$1" "$2" >"$tmp/diff"; }
# json_true EXPRESSION: the last run's stdout is JSON that, as `j`, makes the Python
# EXPRESSION true.
json_true() {
  "$python" -c 'import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/out" "$1"
}
# sha256_of FILE: "sha256:<hex>".
sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
out_digest_is() { [ "$(sha256_of "$tmp/out")" = "$1" ]; }
absent() {
  local path
  for path in "$@"; do [ ! -e "$path" ] && [ ! -L "$path" ] || return 1; done
}
executable_file() { [ -f "$1" ] && [ -x "$1" ]; }
link_points_to() { [ "$(readlink "$1")" = "$2" ]; }
empty_dir() { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }
# listing_is_busybox LISTING: a real busybox listing (so an empty comparison cannot pass).
listing_is_busybox() { [ "$(wc -l <"$1")" -gt 100 ] && grep -q ' bin/busybox$' "$1"; }
# members FILE: the sorted member names of a tar archive, one per line, into $tmp/out.
members() { tool tar -tf "$1"; sort -o "$tmp/out" "$tmp/out"; }
# has_member NAME...: the listing in $tmp/out has every NAME.
has_member() {
  local name
  for name in "$@"; do grep -qxF -e "$name" "$tmp/out" || return 1; done
}
lacks_member() { ! grep -qxF -e "$1" "$tmp/out"; }
# layer_of MANIFEST_JSON: the first image's first layer member in a docker manifest.json.
layer_of() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["Layers"][0])' "$1"; }

# tar_listing ARCHIVE OUT: `tar -tvv --numeric-owner` of a layer tar (any compression),
# normalised for the comparison: "./" prefixes and trailing slashes dropped, runs of blanks
# made one, and the root directory's own entry left out (cairn's layer tars, like docker's,
# do not carry it).
tar_listing() {
  tar --numeric-owner -tvvf "$1" | tr -s ' ' |
    sed -E 's#^(([^ ]+ ){5})\./#\1#; s#^(([^ ]+ ){5})/#\1#; s#/$##; s# link to \./# link to #' |
    awk 'NF > 5' >"$2"
}

# py_listing ARCHIVE OUT: a full listing through Python's tarfile: type, owner, mode, size,
# mtime, symlink target, device numbers, content digest and xattrs per path; hard links as
# groups of names sharing one entry, so which member of a group carries the data does not
# matter.
py_listing() {
  "$python" - "$1" >"$2" <<'PY'
import hashlib, sys, tarfile

def clean(name):
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")

entries, links = {}, []
with tarfile.open(sys.argv[1], "r:*") as tar:
    for m in tar:
        name = clean(m.name)
        if name in ("", "."):
            continue  # the root directory's own entry (layer tars leave it out)
        if m.islnk():
            links.append((name, clean(m.linkname)))
            continue
        digest = ""
        if m.isreg():
            h = hashlib.sha256()
            f = tar.extractfile(m)
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            digest = h.hexdigest()[:16]
        kind = {tarfile.REGTYPE: "-", tarfile.AREGTYPE: "-", tarfile.CONTTYPE: "-",
                tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l", tarfile.CHRTYPE: "c",
                tarfile.BLKTYPE: "b", tarfile.FIFOTYPE: "p"}.get(m.type, "?")
        xattrs = sorted(f"{k[13:]}={v!r}" for k, v in m.pax_headers.items()
                        if k.startswith("SCHILY.xattr."))
        entries[name] = [kind, f"{m.uid}:{m.gid}", f"{m.mode & 0o7777:04o}",
                         str(m.size if kind == "-" else 0), str(int(m.mtime)),
                         "-> " + m.linkname if kind == "l" else "",
                         f"dev {m.devmajor},{m.devminor}" if kind in "cb" else "",
                         digest, " ".join(xattrs), ""]
parent = {}
def find(x):
    while parent.get(x, x) != x:
        x = parent[x]
    return x
for name, target in links:
    parent[find(name)] = find(target)
groups = {}
for name, target in links:
    for n in (name, target):
        groups.setdefault(find(n), set()).add(n)
for members in groups.values():
    holder = next((n for n in sorted(members) if n in entries), None)
    for n in members:
        if holder is None:
            entries[n] = ["?"] * 9 + ["hard link group without data: " + " ".join(sorted(members))]
        else:
            entries[n] = entries[holder][:9] + ["links: " + " ".join(sorted(members))]
for name in sorted(entries):
    print(" ".join([name] + [f for f in entries[name] if f]))
PY
}

# eval_layer_tar_member NAME: NAME is DIR/layer.tar and in the listing in $tmp/out.
eval_layer_tar_member() { [[ "$1" == */layer.tar ]] && has_member "$1"; }

# --- fixtures -----------------------------------------------------------------------
bb_tar=${CAIRN_BUSYBOX_TAR:-}
if [ -z "$bb_tar" ]; then
  bb_tar="$tmp/busybox.tar"
  maker_status=0
  "$here/../../tools/make-busybox-tar.sh" "$bb_tar" >"$tmp/maker.log" 2>&1 || maker_status=$?
  if [ "$maker_status" -eq 77 ]; then
    echo "1..0 # SKIP no busybox root filesystem: $(tail -n1 "$tmp/maker.log")"
    exit 77
  elif [ "$maker_status" -ne 0 ]; then
    echo "Bail out! tools/make-busybox-tar.sh failed:" >&2
    cat "$tmp/maker.log" >&2
    exit 1
  fi
elif [ ! -r "$bb_tar" ]; then
  echo "Bail out! CAIRN_BUSYBOX_TAR=$bb_tar cannot be read" >&2
  exit 1
fi
bb_sha=$(sha256_of "$bb_tar")
gzip -1 -c "$bb_tar" >"$tmp/busybox.tar.gz"

# Rootless podman with private storage, only where it really works.
podman_opts=(--root "$tmp/podman/root" --runroot "$tmp/podman/run" --runtime runc)
podman_why=""
if ! command -v podman >/dev/null 2>&1; then
  podman_why="podman is not installed"
elif [ "$(id -u)" -eq 0 ]; then
  podman_why="running as root (the podman checks are for rootless podman)"
elif ! command -v runc >/dev/null 2>&1; then
  podman_why="runc is not installed"
else
  mkdir -p "$tmp/podman/xdg"
  chmod 0700 "$tmp/podman/xdg"
  export XDG_RUNTIME_DIR="$tmp/podman/xdg"
  podman_used=1
  if ! podman "${podman_opts[@]}" info >"$tmp/podman-info" 2>&1; then
    podman_why="podman info fails here: $(grep -v 'not a shared mount' "$tmp/podman-info" | tail -n1)"
  fi
fi
# pod ARGS...: podman on the private storage, through tool (nothing when it cannot run).
pod() {
  if [ -z "$podman_why" ]; then
    tool podman "${podman_opts[@]}" "$@"
  else
    status=77
    : >"$tmp/out"
  fi
}
# podman's output without its warning about / not being a shared mount.
pod_output() { grep -v 'not a shared mount' "$tmp/out" || true; }
pod_out_line() { pod_output | grep -qxF -e "$1"; }
pod_out_matches() { pod_output | grep -qE -e "$1"; }
# pod_out_joined TEXT: the output lines joined with blanks are TEXT.
pod_out_joined() { [ "$(pod_output | paste -sd' ')" = "$1" ]; }

# --- import ---------------------------------------------------------------------------
run import "$bb_tar" cairnbb:plain
check "import of a plain tarball exits 0" status_is 0
check "import prints the image ID" out_matches '^sha256:[0-9a-f]{64}$'
plain_id=$(head -n1 "$tmp/out")
run inspect cairnbb:plain
check "inspect of the imported image exits 0" status_is 0
check "inspect shows the ID that import printed" json_true "j[0]['Id'] == '$plain_id'"
check "the layer's diff_id is the sha256 of the plain tarball" \
  json_true "j[0]['RootFS'] == {'type': 'layers', 'diff_ids': ['$bb_sha']}"
check "the layer is stored gzip-compressed" \
  json_true "[l['mediaType'] for l in j[0]['Layers']] == ['application/vnd.oci.image.layer.v1.tar+gzip']"
check "inspect shows the name" json_true "j[0]['RepoTags'] == ['cairnbb:plain']"
check "inspect shows os and architecture" \
  json_true "j[0]['Os'] == 'linux' and j[0]['Architecture'] != ''"
check "an imported image has one history entry naming the source" \
  json_true "len(j[0]['History']) == 1 and 'cairn import' in j[0]['History'][0]['created_by']"
plain_layer_digest=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["Layers"][0]["digest"])' "$tmp/out")

# The command runs in the container's shell, so nothing in it expands here.
# shellcheck disable=SC2016
cmd_text='echo $FOO $BAZ $(pwd) $(id -u):$(id -g)'
run import "$bb_tar" cairnbb:changed -m "imported for the test" \
  -c "CMD [\"$cmd_text\"]" \
  -c 'ENTRYPOINT ["/bin/sh", "-c"]' \
  -c 'ENV FOO=bar BAZ="two words"' \
  -c 'EXPOSE 8080/tcp 53/udp' \
  -c 'WORKDIR /srv' \
  -c 'USER 1000:1000' \
  -c 'LABEL org.example.name="cairn test" version=1'
check "import with --change and -m exits 0" status_is 0
changed_id=$(head -n1 "$tmp/out")
check "another config gives another image ID" [ "$changed_id" != "$plain_id" ]
run inspect cairnbb:changed
check "--change CMD sets Cmd (a CMD before ENTRYPOINT in the same import is kept, as docker does)" \
  json_true "j[0]['Config'].get('Cmd') == ['$cmd_text']"
check "--change ENTRYPOINT sets Entrypoint" \
  json_true "j[0]['Config'].get('Entrypoint') == ['/bin/sh', '-c']"
check "--change ENV sets Env (quoted values kept whole)" \
  json_true "j[0]['Config'].get('Env') == ['FOO=bar', 'BAZ=two words']"
check "--change EXPOSE sets ExposedPorts" \
  json_true "j[0]['Config'].get('ExposedPorts') == {'8080/tcp': {}, '53/udp': {}}"
check "--change WORKDIR sets WorkingDir" json_true "j[0]['Config'].get('WorkingDir') == '/srv'"
check "--change USER sets User" json_true "j[0]['Config'].get('User') == '1000:1000'"
check "--change LABEL sets Labels" \
  json_true "j[0]['Config'].get('Labels') == {'org.example.name': 'cairn test', 'version': '1'}"
check "both images share the one layer blob" \
  json_true "[l['digest'] for l in j[0]['Layers']] == ['$plain_layer_digest']"
check "-m MESSAGE is the history entry's comment (as docker import -m)" \
  json_true "j[0]['History'][-1].get('comment') == 'imported for the test'"

run import "$bb_tar" cairnbb:bad -c 'RUN echo no'
check "a --change with RUN exits 1" status_is 1
check "a --change with RUN says which instructions are allowed" err_has "cannot be used with --change"
run inspect cairnbb:bad
check "a refused --change imports nothing" status_is 1

status=0
"$cairn" --root "$store" import - cairnbb:stdin <"$bb_tar" >"$tmp/out" 2>"$tmp/err" || status=$?
check "import - reads the tarball from standard input" status_is 0
run inspect cairnbb:stdin
check "an import from standard input has the same layer" \
  json_true "j[0]['RootFS']['diff_ids'] == ['$bb_sha']"

SOURCE_DATE_EPOCH=1700000000 run import "$bb_tar" cairnbb:sde1
first=$(cat "$tmp/out")
SOURCE_DATE_EPOCH=1700000000 run import "$bb_tar" cairnbb:sde2
check "with SOURCE_DATE_EPOCH, importing twice gives the same image ID" [ "$first" = "$(cat "$tmp/out")" ]
run inspect cairnbb:sde1
check "with SOURCE_DATE_EPOCH, Created is that time" json_true "j[0]['Created'] == '2023-11-14T22:13:20Z'"

run import "$tmp/busybox.tar.gz" cairnbb:gz
check "import of a gzip-compressed tarball exits 0" status_is 0
gz_id=$(head -n1 "$tmp/out")

run rmi cairnbb:stdin cairnbb:sde1 cairnbb:sde2
check "rmi of several images at once exits 0" status_is 0

# --- images -------------------------------------------------------------------------
run images
check "images exits 0" status_is 0
check "images prints a header" out_matches '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$'
check "images lists the changed image with its short ID" \
  out_matches "^cairnbb +changed +${changed_id:7:12} +(Less than a minute ago|[0-9]+ minutes? ago) +[0-9.]+(kB|MB)$"
check "images lists the plain image" out_matches "^cairnbb +plain +${plain_id:7:12} "
check "images lists no removed image" out_lacks "stdin"
run images --format json
check "images --format json exits 0" status_is 0
check "images --format json lists the three images" json_true "len(j) == 3"
check "images --format json shows name, repository, tag and ID" \
  json_true "any(r['Id'] == '$changed_id' and r['Repository'] == 'cairnbb' and r['Tag'] == 'changed' and r['Name'] == 'docker.io/library/cairnbb:changed' for r in j)"
check "images --format json shows the size and the creation time" \
  json_true "all(r['Size'] > 100000 and r['Created'].endswith('Z') and r['CreatedUnix'] > 0 for r in j)"
run images -q
check "images -q prints the short IDs only" \
  same_files <(printf '%s\n' "${changed_id:7:12}" "${plain_id:7:12}" "${gz_id:7:12}" | sort) \
  <(sort "$tmp/out")

# --- tag ------------------------------------------------------------------------------
run tag cairnbb:changed example.com/team/app:v2
check "tag exits 0" status_is 0
run inspect example.com/team/app:v2
check "the new name resolves to the same image" json_true "j[0]['Id'] == '$changed_id'"
check "the image has both names" \
  json_true "sorted(j[0]['RepoTags']) == ['cairnbb:changed', 'example.com/team/app:v2']"
run images
check "images lists the new name" out_matches "^example\.com/team/app +v2 +${changed_id:7:12} "
run tag nosuch:image other:name
check "tag of a missing image exits 1" status_is 1
check "tag of a missing image names it" err_has "no such image: nosuch:image"
run tag cairnbb:changed 'Bad/Name:x'
check "tag to an invalid name exits 1" status_is 1
check "tag to an invalid name says why" err_has "must be lowercase"

# --- history ----------------------------------------------------------------------------
run history cairnbb:changed
check "history exits 0" status_is 0
check "history prints a header" out_matches '^CREATED +CREATED BY +SIZE +COMMENT$'
check "history shows the import step" out_matches '  cairn import [^ ]'
check "history shows the -m message" out_has "imported for the test"
check "history shows the layer size" out_matches ' [0-9.]+(kB|MB) '

# --- save -----------------------------------------------------------------------------
for format in hybrid docker oci; do
  run save --format "$format" -o "$tmp/save-$format.tar" cairnbb:changed
  check "save --format $format exits 0" status_is 0
  check "save --format $format leaves no partial file" [ ! -e "$tmp/save-$format.tar.cairn-partial" ]
done
members "$tmp/save-hybrid.tar"
check "the hybrid archive has oci-layout and index.json" \
  has_member oci-layout index.json
check "the hybrid archive has manifest.json and repositories" \
  has_member manifest.json repositories
check "the hybrid archive holds the layer blob" has_member "blobs/sha256/${plain_layer_digest#sha256:}"
check "the hybrid archive holds the config blob" has_member "blobs/sha256/${changed_id#sha256:}"
members "$tmp/save-docker.tar"
check "the docker archive has manifest.json and the config as ID.json" \
  has_member manifest.json "${changed_id#sha256:}.json" repositories
docker_layer=$(layer_of <(tar -xOf "$tmp/save-docker.tar" manifest.json))
check "the docker archive has the layer manifest.json names, as DIR/layer.tar" \
  eval_layer_tar_member "$docker_layer"
check "the docker archive has no OCI index" lacks_member index.json
members "$tmp/save-oci.tar"
check "the oci archive has oci-layout, index.json and blobs" \
  has_member oci-layout index.json "blobs/sha256/${changed_id#sha256:}"
check "the oci archive has no manifest.json" lacks_member manifest.json
tool tar -xOf "$tmp/save-hybrid.tar" index.json
check "the hybrid index names the image for containerd and the tag for OCI tools" \
  json_true "[m['annotations'] for m in j['manifests']] == [{'io.containerd.image.name': 'docker.io/library/cairnbb:changed', 'org.opencontainers.image.ref.name': 'changed'}]"
tool tar -xOf "$tmp/save-hybrid.tar" manifest.json
check "the hybrid manifest.json has the docker RepoTags" \
  json_true "[m['RepoTags'] for m in j] == [['cairnbb:changed']]"

status=0
"$cairn" --root "$store" save --format hybrid cairnbb:changed >"$tmp/save-stdout.tar" 2>"$tmp/err" || status=$?
check "save to standard output exits 0" status_is 0
check "save to standard output writes the same bytes as save -o (saves are deterministic)" \
  cmp -s "$tmp/save-hybrid.tar" "$tmp/save-stdout.tar"
run save -o "$tmp/save-missing.tar" cairnbb:missing
check "save of a missing image exits 1" status_is 1
check "save of a missing image names it" err_has "cairnbb:missing"
check "a failed save leaves no file behind" \
  absent "$tmp/save-missing.tar" "$tmp/save-missing.tar.cairn-partial"
run save -o "$tmp/save-multi.tar" cairnbb:plain cairnbb:changed
check "save of two images into one archive exits 0" status_is 0

# --- load into fresh stores -------------------------------------------------------------
for format in hybrid docker oci; do
  fresh="$tmp/load-$format"
  run_in "$fresh" load -i "$tmp/save-$format.tar"
  check "load of the $format archive into an empty store exits 0" status_is 0
  check "load of the $format archive reports the name" out_line "Loaded image: cairnbb:changed"
  run_in "$fresh" inspect cairnbb:changed
  check "the image loaded from the $format archive has the same ID" json_true "j[0]['Id'] == '$changed_id'"
  check "the image loaded from the $format archive keeps its config" \
    json_true "j[0]['Config'].get('Env') == ['FOO=bar', 'BAZ=two words'] and j[0]['Config'].get('User') == '1000:1000'"
  run_in "$fresh" store verify
  check "store verify passes after loading the $format archive" status_is 0
done
status=0
"$cairn" --root "$tmp/load-stdin" load <"$tmp/save-oci.tar" >"$tmp/out" 2>"$tmp/err" || status=$?
check "load reads the archive from standard input" status_is 0
run_in "$tmp/load-stdin" images -q
check "the image loaded from standard input is listed" out_line "${changed_id:7:12}"
run_in "$tmp/load-multi" load -i "$tmp/save-multi.tar"
check "load of a two-image archive exits 0" status_is 0
run_in "$tmp/load-multi" images -q
check "load of a two-image archive loads both" \
  same_files <(printf '%s\n' "${changed_id:7:12}" "${plain_id:7:12}" | sort) <(sort "$tmp/out")
run_in "$tmp/load-hybrid" load -i "$tmp/save-hybrid.tar"
check "loading an archive again is fine (the store has its blobs)" status_is 0

# --- layer listing round trip ----------------------------------------------------------
tar_listing "$bb_tar" "$tmp/listing.orig"
layer=$(layer_of <(tar -xOf "$tmp/save-hybrid.tar" manifest.json))
tar -xOf "$tmp/save-hybrid.tar" "$layer" >"$tmp/layer-plain.blob"
tar_listing "$tmp/layer-plain.blob" "$tmp/listing.plain"
check "the busybox listing survives import (plain tar) and save" \
  same_files "$tmp/listing.orig" "$tmp/listing.plain"
check "the listing compared is not empty (busybox, its applet links, /etc)" \
  listing_is_busybox "$tmp/listing.orig"
tar -xOf "$tmp/save-docker.tar" "$docker_layer" >"$tmp/layer-docker.tar"
check "the docker archive's layer.tar is the original tarball, byte for byte" \
  cmp -s "$bb_tar" "$tmp/layer-docker.tar"
run save -o "$tmp/save-gz.tar" cairnbb:gz
layer=$(layer_of <(tar -xOf "$tmp/save-gz.tar" manifest.json))
tar -xOf "$tmp/save-gz.tar" "$layer" >"$tmp/layer-gz.blob"
tar_listing "$tmp/layer-gz.blob" "$tmp/listing.gz"
check "the busybox listing survives import (gzip, repacked by cairn) and save" \
  same_files "$tmp/listing.orig" "$tmp/listing.gz"
py_listing "$bb_tar" "$tmp/pylisting.orig"
py_listing "$tmp/layer-gz.blob" "$tmp/pylisting.gz"
check "the repacked busybox layer has the same contents (file digests)" \
  same_files "$tmp/pylisting.orig" "$tmp/pylisting.gz"

# --- skopeo -------------------------------------------------------------------------------
skopeo_why=""
command -v skopeo >/dev/null 2>&1 || skopeo_why="skopeo is not installed"
skopeo_run() { if [ -z "$skopeo_why" ]; then tool skopeo "$@"; else status=77; : >"$tmp/out"; fi; }
skopeo_run inspect "oci-archive:$tmp/save-hybrid.tar"
check_if "$skopeo_why" "skopeo inspect oci-archive: reads the hybrid archive" status_is 0
check_if "$skopeo_why" "skopeo sees the layer (oci-archive:)" json_true "j['Layers'] == ['$plain_layer_digest']"
skopeo_run inspect --raw --config "oci-archive:$tmp/save-hybrid.tar"
check_if "$skopeo_why" "skopeo reads the config of the hybrid archive (oci-archive:) with the image ID's digest" \
  out_digest_is "$changed_id"
skopeo_run inspect "docker-archive:$tmp/save-hybrid.tar"
check_if "$skopeo_why" "skopeo inspect docker-archive: reads the hybrid archive" status_is 0
check_if "$skopeo_why" "skopeo sees the config (docker-archive:)" \
  json_true "j['Env'] == ['FOO=bar', 'BAZ=two words'] and j['Os'] == 'linux'"
skopeo_run inspect --raw --config "docker-archive:$tmp/save-hybrid.tar"
check_if "$skopeo_why" "skopeo reads the config of the hybrid archive (docker-archive:) with the image ID's digest" \
  out_digest_is "$changed_id"
skopeo_run inspect "docker-archive:$tmp/save-docker.tar"
check_if "$skopeo_why" "skopeo inspect docker-archive: reads the docker archive" status_is 0
skopeo_run inspect "oci-archive:$tmp/save-oci.tar"
check_if "$skopeo_why" "skopeo inspect oci-archive: reads the oci archive" status_is 0
run inspect cairnbb:changed
manifest_digest=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["ManifestDigest"])' "$tmp/out")
skopeo_run inspect "oci:$store:docker.io/library/cairnbb:changed"
check_if "$skopeo_why" "skopeo inspect oci:STORE:docker.io/library/NAME:TAG reads the store root" status_is 0
check_if "$skopeo_why" "skopeo finds the image's manifest in the store root" \
  json_true "j['Digest'] == '$manifest_digest'"
skopeo_run inspect --raw --config "oci:$store:docker.io/library/cairnbb:plain"
check_if "$skopeo_why" "skopeo reads the other image's config from the store root" out_digest_is "$plain_id"

# --- umoci ----------------------------------------------------------------------------------
umoci_why=""
command -v umoci >/dev/null 2>&1 || umoci_why="umoci is not installed"
for format in hybrid oci; do
  status=77
  : >"$tmp/out"
  if [ -z "$umoci_why" ]; then
    mkdir -p "$tmp/layout-$format"
    tar -C "$tmp/layout-$format" -xf "$tmp/save-$format.tar"
    # hybrid: ref.name is the tag (as docker writes it); oci: the full reference.
    tag=changed
    [ "$format" = oci ] && tag=docker.io/library/cairnbb:changed
    tool umoci unpack --rootless --image "$tmp/layout-$format:$tag" "$tmp/bundle-$format"
  fi
  check_if "$umoci_why" "umoci unpack --rootless reads the extracted $format archive" status_is 0
  check_if "$umoci_why" "the $format bundle's rootfs has bin/busybox" \
    executable_file "$tmp/bundle-$format/rootfs/bin/busybox"
  check_if "$umoci_why" "the $format bundle's rootfs has the applet links" \
    link_points_to "$tmp/bundle-$format/rootfs/bin/sh" /bin/busybox
  [ -z "$umoci_why" ] && tool cat "$tmp/bundle-$format/config.json"
  check_if "$umoci_why" "umoci turns the $format image config into the runtime config (cwd, user, env)" \
    json_true "j['process']['cwd'] == '/srv' and j['process']['user']['uid'] == 1000 and 'FOO=bar' in j['process']['env']"
done

# --- podman ---------------------------------------------------------------------------------
pod load -i "$tmp/save-hybrid.tar"
check_if "$podman_why" "podman load reads the hybrid archive" status_is 0
pod image inspect --format '{{.Id}}' cairnbb:changed
check_if "$podman_why" "podman has the image under its name with cairn's image ID" \
  pod_out_line "${changed_id#sha256:}"
run save -o "$tmp/save-plain.tar" cairnbb:plain
pod load -i "$tmp/save-plain.tar"
check_if "$podman_why" "podman load reads a second hybrid archive" status_is 0
pod run --rm --network=none cairnbb:plain /bin/echo ok
check_if "$podman_why" "podman runs /bin/echo ok in the imported busybox image" pod_out_line ok
pod run --rm --network=none cairnbb:changed "$cmd_text"
check_if "$podman_why" "podman applies ENTRYPOINT, ENV, WORKDIR and USER of the changed image" \
  pod_out_line "bar two words /srv 1000:1000"
pod rmi -a -f
for format in docker oci; do
  pod load -i "$tmp/save-$format.tar"
  check_if "$podman_why" "podman load reads the $format archive" status_is 0
  pod images --format '{{.ID}}' --no-trunc
  check_if "$podman_why" "podman has cairn's image ID from the $format archive" \
    pod_out_matches "^(sha256:)?${changed_id#sha256:}\$"
  pod rmi -a -f
done

run store verify
check "store verify passes" status_is 0
check "store verify reports what it checked and no problems" out_matches '^[0-9]+ blobs and [0-9]+ layers checked, 0 problems$'

# --- rmi and prune ------------------------------------------------------------------------
run rmi example.com/team/app:v2
check "rmi of one of two names exits 0" status_is 0
check "rmi of one of two names untags" out_line "Untagged: example.com/team/app:v2"
check "rmi of one of two names deletes nothing" out_lacks "Deleted"
run inspect cairnbb:changed
check "the image stays under its other name" json_true "j[0]['RepoTags'] == ['cairnbb:changed']"
run tag cairnbb:changed cairnbb:again
run rmi "$changed_id"
check "rmi by ID of an image with two names exits 1" status_is 1
check "rmi by ID of an image with two names says to remove the names" err_has "has several names"
run rmi cairnbb:again
run rmi cairnbb:changed
check "rmi of the last name exits 0" status_is 0
check "rmi of the last name untags" out_line "Untagged: cairnbb:changed"
check "rmi of the last name deletes the image" out_line "Deleted: $changed_id"
run inspect "$changed_id"
check "the removed image is gone (by ID too)" status_is 1
run images -q
check "images no longer lists the removed image" out_lacks "${changed_id:7:12}"
check "the removed image's config blob stays until prune" [ -f "$store/blobs/sha256/${changed_id#sha256:}" ]
run rmi cairnbb:nosuch
check "rmi of a missing image exits 1" status_is 1
run prune
check "prune exits 0" status_is 0
check "prune reports what it removed" out_matches '^Removed [1-9][0-9]* blobs and 0 layers; freed '
check "prune removed the config blob of the removed image" [ ! -e "$store/blobs/sha256/${changed_id#sha256:}" ]
check "prune kept the layer blob the other images use" [ -f "$store/blobs/sha256/${plain_layer_digest#sha256:}" ]
run store verify
check "store verify passes after prune" status_is 0
run save -o "$tmp/after-prune.tar" cairnbb:plain
check "the remaining image still saves after prune" status_is 0
run rmi "$plain_id" cairnbb:gz
check "rmi by ID of an image with one name exits 0" status_is 0
check "rmi by ID deletes the image" out_line "Deleted: $plain_id"
run images -q
check "no images are left" out_empty
run prune
check "prune after removing every image exits 0" status_is 0
check "prune removes every blob when no image is left" \
  empty_dir "$store/blobs/sha256"
check "prune removes every unpacked layer when no image is left" \
  empty_dir "$store/cairn/layers"
run store verify
check "store verify passes on the emptied store" status_is 0
tool cat "$store/index.json"
check "the emptied store is still a valid OCI layout with an empty index" json_true "j['manifests'] == []"

# --- Debian minbase -----------------------------------------------------------------------
deb_tar=${CAIRN_DEBIAN_TAR:-}
deb_why=""
if [ -z "$deb_tar" ]; then
  deb_why="CAIRN_DEBIAN_TAR is not set"
elif [ ! -r "$deb_tar" ]; then
  deb_why="CAIRN_DEBIAN_TAR=$deb_tar cannot be read"
fi
# Both reasons to skip the podman checks of the Debian image.
deb_podman_why=${deb_why:-$podman_why}
deb_id=""
status=77
: >"$tmp/out"
: >"$tmp/deb.saved"
if [ -z "$deb_why" ]; then
  # Compressed, so that cairn unpacks it and packs its own tar (a plain tar is kept as is).
  gzip -1 -c "$deb_tar" >"$tmp/debian.tar.gz"
  run import "$tmp/debian.tar.gz" cairndeb:bookworm
  deb_id=$(head -n1 "$tmp/out")
fi
check_if "$deb_why" "import of the Debian minbase (gzip) exits 0" status_is 0
if [ -z "$deb_why" ]; then
  run save -o "$tmp/save-debian.tar" cairndeb:bookworm
fi
check_if "$deb_why" "save of the Debian image exits 0" status_is 0
if [ -z "$deb_why" ]; then
  layer=$(layer_of <(tar -xOf "$tmp/save-debian.tar" manifest.json))
  tar -xOf "$tmp/save-debian.tar" "$layer" >"$tmp/layer-debian.blob"
  py_listing "$deb_tar" "$tmp/deb.orig"
  py_listing "$tmp/layer-debian.blob" "$tmp/deb.saved"
fi
check_if "$deb_why" "the Debian listing (owners, modes, sizes, mtimes, links, contents, xattrs) survives import and save" \
  same_files "$tmp/deb.orig" "$tmp/deb.saved"
check_if "$deb_why" "the saved Debian layer has /etc/shadow as root:shadow 0640" \
  grep -qE '^etc/shadow - 0:42 0640 ' "$tmp/deb.saved"
check_if "$deb_why" "the saved Debian layer has /usr/bin/passwd setuid 4755" \
  grep -qE '^usr/bin/passwd - 0:0 4755 ' "$tmp/deb.saved"
check_if "$deb_why" "the saved Debian layer has setgid directories (/var/local 2775 root:staff)" \
  grep -qE '^var/local d 0:50 2775 ' "$tmp/deb.saved"
check_if "$deb_why" "the saved Debian layer keeps hard-link groups" grep -q ' links: ' "$tmp/deb.saved"
[ -z "$deb_why" ] && run store verify
check_if "$deb_why" "store verify passes with the Debian image" status_is 0
[ -z "$deb_podman_why" ] && pod load -i "$tmp/save-debian.tar"
check_if "$deb_podman_why" "podman load reads the Debian archive" status_is 0
[ -z "$deb_podman_why" ] && pod run --rm --network=none cairndeb:bookworm /bin/echo ok
check_if "$deb_podman_why" "podman runs /bin/echo ok in the Debian image" pod_out_line ok
[ -z "$deb_podman_why" ] &&
  pod run --rm --network=none cairndeb:bookworm stat -c '%a %u:%g' /etc/shadow /usr/bin/passwd /var/local
check_if "$deb_podman_why" "in podman, the Debian image's owners and modes are intact" \
  pod_out_joined "640 0:42 4755 0:0 2775 0:50"
[ -z "$deb_podman_why" ] && pod rmi -a -f
[ -z "$deb_why" ] && run rmi cairndeb:bookworm
check_if "$deb_why" "rmi of the Debian image deletes it" out_line "Deleted: $deb_id"

echo "# $(($(date +%s) - start_time)) s"
finish
