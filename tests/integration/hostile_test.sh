#!/usr/bin/env bash
# Integration test of cairn against hostile input: layer tars for `cairn import` and image
# archives for `cairn load`, crafted (with Python's tarfile) to write outside the layer,
# follow links out of it, change an entry's type, smuggle a bad whiteout, break the
# compression, blow up when decompressed, or lie about digests, media types and diff_ids.
# Each must be refused with exit status 1 and one message naming the offending entry
# (member, digest or stream), and leave the store as it was: `cairn images` unchanged, no
# new blob or layer, nothing left in cairn/tmp, and `cairn store verify` passing. Absolute
# member names, which docker accepts, must land inside the layer.
# Drives the real binary ($CAIRN_BINARY, else `cairn` in PATH) and prints one TAP line per
# assertion; exits 1 when any assertion failed, 77 when python3 is missing. The truncated
# zstd input needs the zstd program (skipped without it).
# Usage: CAIRN_BINARY=build/src/cairn tests/integration/hostile_test.sh
set -euo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
if [ -z "$python" ] || [ ! -x "$python" ]; then
  echo "1..0 # SKIP python3 is not installed (it crafts the hostile tars)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-hostile-test.XXXXXX")
# A file a broken cairn would create in /etc through a symlink (removed if it ever appears).
etc_canary="/etc/cairn-hostile-canary.${tmp##*.}"
cleanup() {
  chmod -R u+rwX "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
  if [ -e "$etc_canary" ]; then rm -f "$etc_canary"; fi
}
trap cleanup EXIT
isolate_home
mkdir -p "$tmp/work" "$tmp/in"
cd "$tmp/work"
store="$tmp/store"
in="$tmp/in"
start_time=$(date +%s)





out_empty() { [ ! -s "$tmp/out" ]; }
err_has() { grep -qF -e "$1" "$tmp/err"; }
# said TEXT / said_matches REGEX: the message of the last refused input (see refused).
said() { grep -qF -e "$1" "$tmp/refused.err" || show_refused; }
said_matches() { grep -qE -e "$1" "$tmp/refused.err" || show_refused; }
show_refused() {
  sed 's/^/refused with: /' "$tmp/refused.err" >"$tmp/diff"
  return 1
}
# same_files EXPECTED ACTUAL: equal files (check shows the diff).
same_files() { diff -u "$1" "$2" >"$tmp/diff"; }
empty_dir() {
  [ -d "$1" ] && [ -z "$(ls -A "$1")" ] && return 0
  ls -lA "$1" >"$tmp/diff" 2>&1
  return 1
}
# refusal: exit status 1, nothing on stdout (no "Loaded image", no ID), one error line.
refusal() { status_is 1 && out_empty && [ "$(wc -l <"$tmp/err")" -eq 1 ] && err_has "cairn: error: "; }
# contents: what the store holds, for before/after comparisons.
contents() {
  (cd "$store" && find blobs cairn/layers -mindepth 1 -maxdepth 2 | sort) >"$1"
}
unchanged() {
  contents "$tmp/contents.now"
  same_files "$tmp/contents.before" "$tmp/contents.now"
}

# refused import|load FILE TEXT DESCRIPTION [CAIRN_OPTION...]: imports or loads FILE and
# checks that it is refused with a message containing TEXT and that the store is unchanged.
refused() {
  local how=$1 file=$2 text=$3 description=$4
  shift 4
  if [ "$how" = import ]; then
    run "$@" import "$file" hostile:refused
  else
    run "$@" load -i "$file"
  fi
  cp "$tmp/err" "$tmp/refused.err"
  check "$description: refused with exit 1 and one error message" refusal
  check "$description: the message names $text" err_has "$text"
  # Before any other cairn command, which would clean up after a crashed one.
  check "$description: nothing is left in cairn/tmp" empty_dir "$store/cairn/tmp"
  check "$description: no blob or layer is added" unchanged
  run images --format json
  check "$description: cairn images is unchanged" same_files "$tmp/images.before" "$tmp/out"
  run store verify
  check "$description: store verify passes" status_is 0
}

# --- crafted inputs -----------------------------------------------------------------------
mkdir -p "$tmp/canary"
printf 'canary\n' >"$tmp/canary/passwd"
"$python" - "$in" "$tmp/canary" "$etc_canary" <<'PY'
import gzip, io, os, sys, tarfile

out, canary_dir, etc_canary = sys.argv[1:4]

def entry(name, kind=tarfile.REGTYPE, link="", mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode, ti.mtime = kind, link, mode, 1700000000
    return ti

def f(name, data=b"data\n"):
    return entry(name), data

def d(name):
    return entry(name, tarfile.DIRTYPE, mode=0o755), None

def sym(name, target):
    return entry(name, tarfile.SYMTYPE, target, 0o777), None

def hard(name, target):
    return entry(name, tarfile.LNKTYPE, target), None

def tar_bytes(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            if data is None:
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return buffer.getvalue()

def layer(name, entries):
    with open(os.path.join(out, name), "wb") as file:
        file.write(tar_bytes(entries))

layer("dotdot.tar", [d("ok"), f("ok/file"), f("../escape")])
layer("inner-dotdot.tar", [d("a"), f("a/file"), f("a/../../escape")])
layer("symlink-parent.tar", [sym("link", canary_dir), f("link/passwd", b"hostile\n")])
layer("symlink-etc-passwd.tar", [sym("link", "/etc"), f("link/passwd", b"hostile\n")])
layer("symlink-etc.tar", [sym("link", "/etc"), f("link/" + os.path.basename(etc_canary), b"hostile\n")])
layer("symlink-dotdot.tar", [sym("up", ".."), f("up/escape")])
layer("hardlink-outside.tar", [f("ok"), hard("x", "../../etc/passwd")])
layer("hardlink-symlink.tar", [sym("link", "/etc"), hard("x", "link/passwd")])
layer("hardlink-forward.tar", [hard("early", "later"), f("later")])
layer("dir-then-file.tar", [d("dir"), f("dir/inside"), f("dir")])
layer("symlink-then-dir.tar", [sym("d", "/tmp"), d("d"), f("d/file")])
layer("whiteout-dotdot.tar", [f("keep"), (entry(".wh.."), b"")])
layer("absolute.tar", [d("/etc"), f("/etc/hosts", b"127.0.0.1 absolute\n")])

good = tar_bytes([d("etc"), f("etc/good", b"good\n" * 1000)])
gz = bytearray(gzip.compress(good, mtime=0))
gz[-8] ^= 0xFF  # the CRC32 in the trailer
open(os.path.join(out, "bad-crc.tar.gz"), "wb").write(gz)
gz = gzip.compress(good, mtime=0)
open(os.path.join(out, "truncated.tar.gz"), "wb").write(gz[: len(gz) // 2])
open(os.path.join(out, "for-zstd.tar"), "wb").write(tar_bytes([f("random", os.urandom(300000))]))

class Zeros(io.RawIOBase):
    def __init__(self, n):
        self.n = n
    def readable(self):
        return True
    def readinto(self, b):
        k = min(len(b), self.n)
        b[:k] = bytes(k)
        self.n -= k
        return k

# A hostile first entry followed by 64 MB (of zeros, 60 kB compressed): the refusal must
# still name the entry while the decompressor is still busy.
with gzip.GzipFile(os.path.join(out, "dotdot-then-big.tar.gz"), "wb", mtime=0) as g:
    with tarfile.open(fileobj=g, mode="w|", format=tarfile.PAX_FORMAT) as t:
        t.addfile(entry("../escape"), io.BytesIO(b""))
        ti = entry("big")
        ti.size = 64 * 1000 * 1000
        t.addfile(ti, Zeros(ti.size))

# 200 MB of zeros, about 200 kB compressed.
with gzip.GzipFile(os.path.join(out, "bomb.tar.gz"), "wb", compresslevel=6, mtime=0) as g:
    with tarfile.open(fileobj=g, mode="w|", format=tarfile.PAX_FORMAT) as t:
        ti = entry("zeros")
        ti.size = 200 * 1000 * 1000
        t.addfile(ti, Zeros(ti.size))

# Layers for the images the hostile archives are made from (never in the test's store).
layer("victim.tar", [d("srv"), f("srv/victim", b"victim\n")])
layer("other.tar", [d("srv"), f("srv/other", b"other\n")])
layer("base.tar", [d("etc"), f("etc/base", b"base\n")])
PY

zstd_why=""
if command -v zstd >/dev/null 2>&1; then
  zstd -q -f "$in/for-zstd.tar" -o "$tmp/whole.tar.zst"
  head -c "$(($(stat -c %s "$tmp/whole.tar.zst") / 2))" "$tmp/whole.tar.zst" >"$in/truncated.tar.zst"
else
  zstd_why="the zstd program is not installed (apt-get install zstd)"
fi

# The images the archives are made from live in another store.
source_store="$tmp/source"
for image in victim other; do
  run_in "$source_store" import "$in/$image.tar" "cairn-hostile/$image:1"
  [ "$status" -eq 0 ] || { echo "Bail out! cannot import $image.tar: $(cat "$tmp/err")" >&2; exit 1; }
done
run_in "$source_store" save -o "$tmp/victim-hybrid.tar" cairn-hostile/victim:1
run_in "$source_store" save --format docker -o "$tmp/victim-docker.tar" cairn-hostile/victim:1
run_in "$source_store" save -o "$tmp/other-hybrid.tar" cairn-hostile/other:1
[ -s "$tmp/other-hybrid.tar" ] || { echo "Bail out! cannot save the source images" >&2; exit 1; }

"$python" - "$in" "$tmp/victim-hybrid.tar" "$tmp/victim-docker.tar" "$tmp/other-hybrid.tar" <<'PY'
import hashlib, io, json, os, sys, tarfile

out, hybrid, docker, other = sys.argv[1:5]

def members(path):
    with tarfile.open(path) as t:
        return [(m, t.extractfile(m).read() if m.isreg() else None) for m in t]

def get(items, name):
    return next(data for m, data in items if m.name == name)

def reg(name, data):
    m = tarfile.TarInfo(name)
    m.mode = 0o644
    return m, data

def write(name, items):
    with tarfile.open(os.path.join(out, name), "w", format=tarfile.PAX_FORMAT) as t:
        for m, data in items:
            if data is None:
                t.addfile(m)
            else:
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))

def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()

def blob(d):
    return "blobs/sha256/" + d[7:]

H = members(hybrid)
descriptor = json.loads(get(H, "index.json"))["manifests"][0]
manifest = json.loads(get(H, blob(descriptor["digest"])))
config_digest = manifest["config"]["digest"]
layer_digest = manifest["layers"][0]["digest"]
config = json.loads(get(H, blob(config_digest)))
blobs = [(m, data) for m, data in H if m.name.startswith("blobs")]

def oci(name, config_bytes=None, edit=None, layer_bytes=None):
    """A bare OCI archive of the victim with the config, manifest and index rehashed."""
    cb = get(H, blob(config_digest)) if config_bytes is None else config_bytes
    m = json.loads(json.dumps(manifest))
    m["config"]["digest"], m["config"]["size"] = digest(cb), len(cb)
    if edit:
        edit(m)
    mb = json.dumps(m).encode()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [dict(descriptor, digest=digest(mb), size=len(mb))]}
    lb = get(H, blob(layer_digest)) if layer_bytes is None else layer_bytes
    write(name, [reg("oci-layout", get(H, "oci-layout")), reg("index.json", json.dumps(index).encode()),
                 reg(blob(digest(cb)), cb), reg(blob(digest(mb)), mb), reg(blob(layer_digest), lb)])

# A symlink member in place of the config blob.
link = tarfile.TarInfo(blob(config_digest))
link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
write("member-symlink.tar", [(m, data) for m, data in H if m.name != link.name] + [(link, None)])
# A hard-link member.
hard = tarfile.TarInfo("blobs/sha256/hardlink")
hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
write("member-hardlink.tar", H + [(hard, None)])
# A member that climbs out with "..".
write("member-dotdot.tar", [reg("../evil", b"evil\n")] + H)
# docker manifest.json whose Layers entry climbs out (no OCI index, so it is used).
dm = json.loads(get(H, "manifest.json"))
dm[0]["Layers"] = ["../../etc/passwd"]
write("manifest-layer-escape.tar", blobs + [reg("manifest.json", json.dumps(dm).encode())])
dm = json.loads(get(H, "manifest.json"))
dm[0]["Config"] = "/etc/passwd"
write("manifest-config-absolute.tar", blobs + [reg("manifest.json", json.dumps(dm).encode())])
# The layer blob left out.
write("missing-blob.tar", [(m, data) for m, data in H if m.name != blob(layer_digest)])
# A config whose diff_ids do not match the layer, OCI and docker layouts.
bad = json.loads(json.dumps(config))
bad["rootfs"]["diff_ids"] = [digest(b"not the layer")]
oci("diffid-mismatch.tar", config_bytes=json.dumps(bad).encode())
D = members(docker)
dm = json.loads(get(D, "manifest.json"))
config_name = dm[0]["Config"]
dconfig = json.loads(get(D, config_name))
dconfig["rootfs"]["diff_ids"] = [digest(b"not the layer")]
write("docker-diffid-mismatch.tar",
      [(m, json.dumps(dconfig).encode() if m.name == config_name else data) for m, data in D])
# A config that is not JSON.
oci("config-not-json.tar", config_bytes=b"this is not JSON {")
# A layer of an unknown media type.
def evil_type(m):
    m["layers"][0]["mediaType"] = "application/vnd.example.evil.layer.v1.tar"
oci("unknown-mediatype.tar", edit=evil_type)
# A layer blob whose content does not match its digest: another valid layer under its name.
O = members(other)
other_manifest = json.loads(get(O, blob(json.loads(get(O, "index.json"))["manifests"][0]["digest"])))
oci("layer-digest-mismatch.tar", layer_bytes=get(O, blob(other_manifest["layers"][0]["digest"])))
# An index whose manifest "digest" is a path.
index = {"schemaVersion": 2, "manifests": [dict(descriptor, digest="sha256:../../../../etc/passwd")]}
write("digest-path.tar", [reg("oci-layout", get(H, "oci-layout")),
                          reg("index.json", json.dumps(index).encode())] + blobs)
PY
victim_layer=$("$python" -c 'import json, sys; m = json.load(sys.stdin); print(m[0]["Layers"][0])' \
  < <(tar -xOf "$tmp/victim-hybrid.tar" manifest.json))
victim_docker_layer=$("$python" -c 'import json, sys; m = json.load(sys.stdin); print(m[0]["Layers"][0])' \
  < <(tar -xOf "$tmp/victim-docker.tar" manifest.json))

printf '[storage]\nmax_layer_size = 1000000\n' >"$tmp/small.toml"

# --- the store, with one image that must survive everything ----------------------------------
run import "$in/base.tar" cairn-hostile/base:1
check "a valid layer imports (the store's baseline image)" status_is 0
run images --format json
cp "$tmp/out" "$tmp/images.before"
check "the baseline image is listed" grep -q '"Name": "docker.io/cairn-hostile/base:1"' "$tmp/images.before"
contents "$tmp/contents.before"
passwd_before=$(sha256sum /etc/passwd)

# --- hostile layer tars (cairn import) ---------------------------------------------------------
refused import "$in/dotdot.tar" "../escape" "a member ../escape"
refused import "$in/dotdot-then-big.tar.gz" "../escape" "a member ../escape followed by 64 MB of data"
refused import "$in/inner-dotdot.tar" "a/../../escape" "a member a/../../escape"
refused import "$in/symlink-parent.tar" "link/passwd" "a symlink link -> (absolute dir outside), then link/passwd"
# Literally link -> /etc, then link/passwd: only where a broken cairn could not overwrite
# the host's /etc/passwd anyway (the canary cases above cover root).
if [ "$(id -u)" -ne 0 ]; then
  refused import "$in/symlink-etc-passwd.tar" "link/passwd" "a symlink link -> /etc, then link/passwd"
else
  for i in 1 2 3 4 5 6; do
    skip "a symlink link -> /etc, then link/passwd ($i)" "running as root, a broken cairn would overwrite /etc/passwd"
  done
fi
refused import "$in/symlink-etc.tar" "link/${etc_canary##*/}" "a symlink link -> /etc, then a file below it"
refused import "$in/symlink-dotdot.tar" "up/escape" "a symlink up -> .., then up/escape"
refused import "$in/hardlink-outside.tar" '"x"' "a hard link x to ../../etc/passwd"
refused import "$in/hardlink-symlink.tar" '"x"' "a hard link x to link/passwd through link -> /etc"
refused import "$in/hardlink-forward.tar" '"early"' "a hard link to a member not yet written"
refused import "$in/dir-then-file.tar" '"dir"' "dir/ then a file dir (a type change)"
refused import "$in/symlink-then-dir.tar" '"d/"' "a symlink d then a directory d/ (a type change)"
refused import "$in/whiteout-dotdot.tar" '".wh.."' "a whiteout .wh.."
refused import "$in/bad-crc.tar.gz" "bad-crc.tar.gz" "gzip with a corrupted CRC"
check "gzip with a corrupted CRC: the message says the stream is corrupt" said_matches 'gzip.*(corrupt|check|CRC)'
refused import "$in/truncated.tar.gz" "truncated.tar.gz" "a truncated gzip stream"
check "a truncated gzip stream: the message says it is truncated" said_matches 'gzip.*truncated'
if [ -z "$zstd_why" ]; then
  refused import "$in/truncated.tar.zst" "truncated.tar.zst" "a truncated zstd stream"
  check "a truncated zstd stream: the message says it is truncated" said_matches 'zstd.*truncated'
else
  for i in 1 2 3 4 5 6 7; do skip "a truncated zstd stream ($i)" "$zstd_why"; done
fi
bomb_start=$(date +%s)
refused import "$in/bomb.tar.gz" '"zeros"' "a decompression bomb (200 MB of zeros, storage.max_layer_size = 1000000)" \
  --config "$tmp/small.toml"
check "a decompression bomb: the message names the limit" said "exceeds the limit of 1000000 bytes"
check "a decompression bomb: the message says how to raise the limit" said "storage.max_layer_size"
check "a decompression bomb is stopped early (under 10 s)" [ $(($(date +%s) - bomb_start)) -lt 10 ]

# --- hostile image archives (cairn load) ----------------------------------------------------------
config_hex=$("$python" -c '
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
index = json.load(t.extractfile("index.json"))
manifest = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
print(manifest["config"]["digest"][7:])' "$tmp/victim-hybrid.tar")
refused load "$in/member-symlink.tar" "blobs/sha256/$config_hex" "an archive member that is a symlink to /etc/passwd"
refused load "$in/member-hardlink.tar" "blobs/sha256/hardlink" "an archive member that is a hard link"
refused load "$in/member-dotdot.tar" "../evil" "an archive member ../evil"
refused load "$in/manifest-layer-escape.tar" "../../etc/passwd" "manifest.json with Layers [../../etc/passwd]"
refused load "$in/manifest-config-absolute.tar" "/etc/passwd" "manifest.json with Config /etc/passwd"
refused load "$in/missing-blob.tar" "$victim_layer" "an archive without its layer blob"
refused load "$in/diffid-mismatch.tar" "diff_id" "an OCI config whose diff_ids do not match the layer"
check "diff_ids that do not match: the message names the layer blob" said "$victim_layer"
refused load "$in/docker-diffid-mismatch.tar" "$victim_docker_layer" \
  "a docker-archive config whose diff_ids do not match the layer"
refused load "$in/config-not-json.tar" "not a JSON object" "a config that is not JSON"
refused load "$in/unknown-mediatype.tar" "application/vnd.example.evil.layer.v1.tar" \
  "a layer of an unknown media type"
refused load "$in/layer-digest-mismatch.tar" "$victim_layer" "a layer blob whose content does not match its digest"
check "a layer blob that does not match: the message says so" said_matches 'digest|does not match'
refused load "$in/digest-path.tar" "sha256:../../../../etc/passwd" "an index whose manifest digest is a path"

# --- nothing escaped -----------------------------------------------------------------------------
check "the canary file behind the absolute symlink is untouched" same_files <(printf 'canary\n') "$tmp/canary/passwd"
check "no file was created in /etc through a symlink" [ ! -e "$etc_canary" ]
check "/etc/passwd is untouched" [ "$(sha256sum /etc/passwd)" = "$passwd_before" ]
find "$tmp" -name escape -o -name evil >"$tmp/escaped"
check "no escape or evil file was written anywhere under the test directory" same_files /dev/null "$tmp/escaped"

# --- absolute member names are taken relative to the layer root -----------------------------------
run import "$in/absolute.tar" cairn-hostile/absolute:1
check "a layer with absolute member names (/etc/hosts) is accepted" status_is 0
absolute_diff_id=$(sha256sum "$in/absolute.tar" | cut -d' ' -f1)
check "the absolute member lands at etc/hosts in the unpacked layer" \
  same_files <(printf '127.0.0.1 absolute\n') "$store/cairn/layers/$absolute_diff_id/root/etc/hosts"
gzip -c "$in/absolute.tar" >"$tmp/absolute.tar.gz"
run import "$tmp/absolute.tar.gz" cairn-hostile/absolute:gz
check "a gzip layer with absolute member names is accepted" status_is 0
run save -o "$tmp/absolute-save.tar" cairn-hostile/absolute:gz
layer=$("$python" -c 'import json, sys; print(json.load(sys.stdin)[0]["Layers"][0])' \
  < <(tar -xOf "$tmp/absolute-save.tar" manifest.json))
tar -xOf "$tmp/absolute-save.tar" "$layer" | gzip -dc | tar -tf - >"$tmp/absolute.list"
check "cairn's own layer tar names it etc/hosts" grep -qxF etc/hosts "$tmp/absolute.list"
check "cairn's own layer tar has no absolute names" same_files /dev/null <(grep '^/' "$tmp/absolute.list" || true)
run store verify
check "store verify passes at the end" status_is 0

echo "# $(($(date +%s) - start_time)) s"
finish
