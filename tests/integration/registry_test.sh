#!/usr/bin/env bash
# Integration test of cairn pull, push, login and logout against real registries (Debian's
# docker-registry on 127.0.0.1, started by registry_fixture.sh): plain HTTP, TLS with a test
# CA given in cairn.toml, htpasswd basic auth, token auth with a token server (anonymous and
# credentialed bearer flows, scope changes from pull to push), a proxy that cuts the first
# download of each blob (the pull resumes) or corrupts blobs (nothing enters the store),
# mirrors, cross-repository mounts, chunked uploads and platform choice from an index. What
# cairn pushes is read by skopeo and rootless podman.
# Drives the real binary ($CAIRN_BINARY, else `cairn` in PATH); prints TAP; exits 1 when
# an assertion failed, 77 when a prerequisite is missing.
# Fixtures: CAIRN_BUSYBOX_TAR (the busybox rootfs tar).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tap.sh
. "$here/tap.sh"
# shellcheck source=registry_fixture.sh
. "$here/registry_fixture.sh"

require_cairn
registry_skip_unless_available
command -v skopeo >/dev/null 2>&1 || skip_all "skopeo is not installed"
{ [ -n "${CAIRN_BUSYBOX_TAR:-}" ] && [ -r "$CAIRN_BUSYBOX_TAR" ]; } ||
  skip_all "CAIRN_BUSYBOX_TAR does not name the busybox rootfs tar"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-registry-test.XXXXXX")
podman_used=""
cleanup() {
  registry_stop_all
  if [ -n "$podman_used" ]; then
    podman "${podman_opts[@]}" unshare rm -rf "$tmp/podman/root" "$tmp/podman/run" >/dev/null 2>&1 || true
    local pause
    for pause in "$tmp/xdg/libpod/tmp/pause.pid" "$tmp/xdg/containers/pause.pid"; do
      if [ -s "$pause" ]; then kill "$(cat "$pause")" 2>/dev/null || true; fi
    done
  fi
  chmod -R u+rwX "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
isolate_home
export XDG_RUNTIME_DIR="$tmp/xdg"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 0700 "$XDG_RUNTIME_DIR"
unset REGISTRY_AUTH_FILE DOCKER_CONFIG
store="$tmp/store"
config="$XDG_CONFIG_HOME/cairn/cairn.toml"
mkdir -p "$(dirname "$config")"

out_has() { grep -qF -e "$1" "$tmp/out"; }
out_line() { grep -qxF -e "$1" "$tmp/out"; }
err_has() { grep -qF -e "$1" "$tmp/err"; }
err_matches() { grep -qE -e "$1" "$tmp/err"; }
tool() {
  status=0
  "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}
check_if() {
  local why=$1
  shift
  if [ -n "$why" ]; then skip "$1" "$why"; else check "$@"; fi
}
# toml TEXT: the user's cairn.toml (replaced).
toml() { printf '%s\n' "$1" >"$config"; }
# image_id ROOT NAME: the image's ID (config digest) in a store.
inspect_field() {
  "$cairn" --root "$1" inspect "$2" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['$3'])" 2>/dev/null || true
}
image_id() { inspect_field "$1" "$2" Id; }
# same ACTUAL EXPECTED: equal strings (check shows both when not).
same() { [ "$1" = "$2" ] || { echo "expected '$2', got '$1'" >"$tmp/diff"; false; }; }
blob_count() { find "$1/blobs/sha256" -type f 2>/dev/null | wc -l; }

# --- an image built by cairn ------------------------------------------------------------------
"$cairn" --root "$store" import "$CAIRN_BUSYBOX_TAR" busybox:base >/dev/null
mkdir -p "$tmp/ctx"
printf 'hello from the registry test\n' >"$tmp/ctx/hello.txt"
head -c 3000000 /dev/urandom >"$tmp/ctx/random.bin"  # a layer of some size: resumes need one
cat >"$tmp/ctx/Dockerfile" <<'EOF'
FROM busybox:base
COPY hello.txt /hello.txt
COPY random.bin /data/random.bin
ENV GREETING=hi
CMD ["cat", "/hello.txt"]
EOF
run build -q -t app:1 "$tmp/ctx"
check "cairn build makes the image to push" status_is 0
app_id=$(image_id "$store" app:1)

# --- plain HTTP ---------------------------------------------------------------------------------
registry_start plain
plain=$REGISTRY_ADDR
run push --progress plain app:1 "$plain/test/app:1"
check "push to a plain-HTTP loopback registry needs no configuration" status_is 0
pushed_digest=$(sed -n 's/.*@\(sha256:[0-9a-f]*\)$/\1/p' "$tmp/out")
check "push prints REPOSITORY@DIGEST" out_line "$plain/test/app@$pushed_digest"
check "push shows each blob pushed" err_has ": Pushed"
run push --progress plain app:1 "$plain/test/app:1"
check "a second push skips every blob the registry has" err_has "Layer already exists"
check "... and uploads none" bash -c "! grep -q ': Pushed' '$tmp/err'"
tool skopeo inspect --tls-verify=false "docker://$plain/test/app:1"
check "skopeo inspect sees the pushed image" status_is 0
check "... with the digest cairn printed" out_has "\"Digest\": \"$pushed_digest\""
tool skopeo inspect --raw --tls-verify=false "docker://$plain/test/app:1"
"$cairn" --root "$store" inspect app:1 >/dev/null
check "the registry holds the manifest byte for byte" \
  bash -c "[ \"sha256:\$(sha256sum <'$tmp/out' | cut -d' ' -f1)\" = '$pushed_digest' ]"

run rmi app:1
run prune
run pull --progress plain "$plain/test/app:1"
check "pull brings it back after rmi" status_is 0
check "pull prints the full reference on stdout" out_line "$plain/test/app:1"
check "pull shows the layers it fetched" err_has "Pull complete"
check "pull reports the digest" err_has "Digest: $pushed_digest"
check "the pulled image has the pushed image's ID" same "$(image_id "$store" "$plain/test/app:1")" "$app_id"
"$cairn" --root "$store" tag "$plain/test/app:1" app:1
run pull --progress plain "$plain/test/app:1"
check "pulling again downloads nothing" err_has "Image is up to date"
check "... every layer already exists" bash -c "! grep -q 'Pull complete' '$tmp/err'"
run store verify
check "the store verifies after push and pull" status_is 0

# A fresh store gets the same image, by tag and by digest.
run_in "$tmp/store-b" pull "$plain/test/app@$pushed_digest"
check "pull by digest into an empty store" status_is 0
check "... the same image ID" same "$(image_id "$tmp/store-b" "$plain/test/app@$pushed_digest")" "$app_id"
layers_before=$(find "$tmp/store-b/cairn/layers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
check "pull keeps the layers as verified blobs (nothing unpacked yet)" same "$layers_before" 0
run_in "$tmp/store-b" store verify
check "... which store verify accepts" status_is 0
run_in "$tmp/store-b" run --rm "$plain/test/app@$pushed_digest"
check_if "$(unshare -Urm true 2>/dev/null && [ -w /dev/fuse ] || echo 'no user namespaces or /dev/fuse')" \
  "the pulled image runs (its CMD prints the copied file)" out_line "hello from the registry test"
check "... its layers unpacked on that first use" \
  same "$(find "$tmp/store-b/cairn/layers" -mindepth 1 -maxdepth 1 | wc -l)" 3

run pull "$plain/test/nothing:here"
check "pulling a missing repository fails" status_is 1
check "... saying it was not found" err_matches "not found in $plain/test/nothing"
run pull "$plain/test/app:nosuchtag"
check "pulling a missing tag fails with MANIFEST_UNKNOWN" err_has "MANIFEST_UNKNOWN"
run push nosuch:image "$plain/x/y:1"
check "pushing an image the store lacks fails clearly" err_has "no such image in the store"
run pull "127.0.0.1:1/x/y:1"
check "an unreachable registry is an error naming it" err_has "registry 127.0.0.1:1"
check "... with a hint" err_has "check the registry's address"

# Rootless podman reads what cairn pushed.
podman_opts=(--root "$tmp/podman/root" --runroot "$tmp/podman/run" --runtime runc)
podman_why=""
if ! command -v podman >/dev/null 2>&1; then
  podman_why="podman is not installed"
elif [ "$(id -u)" -eq 0 ]; then
  podman_why="running as root (the check is for rootless podman)"
elif ! podman "${podman_opts[@]}" info >/dev/null 2>&1; then
  podman_why="podman info fails here"
fi
[ -n "$podman_why" ] || podman_used=1
if [ -z "$podman_why" ]; then
  tool podman "${podman_opts[@]}" pull --tls-verify=false "$plain/test/app:1"
fi
check_if "$podman_why" "rootless podman pulls the image cairn pushed" status_is 0
if [ -z "$podman_why" ]; then
  tool podman "${podman_opts[@]}" image inspect --format '{{.Id}}' "$plain/test/app:1"
fi
check_if "$podman_why" "... with cairn's image ID" out_has "${app_id#sha256:}"

# --- builds: FROM pulled from a registry, and the build cache shared through one -----------------
sandbox_why=$(unshare -Urm true 2>/dev/null && [ -w /dev/fuse ] || echo 'no user namespaces or /dev/fuse')
"$cairn" --root "$store" push -q busybox:base "$plain/base/busybox:1" >/dev/null
mkdir -p "$tmp/ctx2"
printf 'cached content\n' >"$tmp/ctx2/data.txt"
{
  echo "FROM $plain/base/busybox:1"
  echo "COPY data.txt /data.txt"
  echo "WORKDIR /work"
  [ -n "$sandbox_why" ] || echo "RUN echo ran > /work/ran && cat /data.txt"
  echo "ENV STEP=last"
} >"$tmp/ctx2/Dockerfile"
run_in "$tmp/store-never" build --pull=never -t built "$tmp/ctx2"
check "build --pull=never with the base only in a registry fails" status_is 1
check "... telling the user to pull it first" err_has "cairn pull"
run_in "$tmp/store-build-a" build --progress plain --cache-to "type=registry,ref=$plain/cache/app:buildcache" -t built "$tmp/ctx2"
check "build pulls a missing FROM image from its registry (--pull=missing, the default)" status_is 0
check "... showing the pull" err_has "Pull complete"
check "... and exports its cache to the registry" err_has "cache exported to $plain/cache/app:buildcache"
built_a=$(image_id "$tmp/store-build-a" built)
tool skopeo inspect --raw --tls-verify=false "docker://$plain/cache/app:buildcache"
check "the cache is an OCI manifest whose config is cairn's cache index" \
  out_has "application/vnd.cairn.build-cache.config.v1+json"
run_in "$tmp/store-build-b" build --progress plain --cache-from "type=registry,ref=$plain/cache/app:buildcache" -t built "$tmp/ctx2"
check "a build on an empty store with --cache-from succeeds" status_is 0
steps=$(grep -c '^\[[0-9]*/[0-9]*\] ' "$tmp/err" || true)
check "... every step after FROM is a cache hit" \
  same "$(grep -c '^  CACHED' "$tmp/err" || true)" "$((steps - 1))"
check "... and the image is identical (same image ID)" same "$(image_id "$tmp/store-build-b" built)" "$built_a"
run_in "$tmp/store-build-b" store verify
check "... and that store verifies" status_is 0
run_in "$tmp/store-build-c" build -q --cache-from "$plain/cache/none:here" -t built "$tmp/ctx2"
check "--cache-from a reference that does not exist yet only warns" status_is 0
check "... saying so" err_has "not in the registry yet"
run_in "$tmp/store-build-d" build -q --cache-from "$plain/test/app:1" -t built "$tmp/ctx2"
check "--cache-from an ordinary image is refused as not a cairn cache" err_has "not a cairn build cache"
run build --cache-to "type=registry,ref=$plain/Bad/Name:1" "$tmp/ctx2"
check "a malformed --cache-to reference is refused before the build" err_has "--cache-to $plain/Bad/Name:1: invalid reference format"
check "... with no step run" bash -c "! grep -q '^\[' '$tmp/err'"
run build --cache-to "type=local,dest=/tmp/x" "$tmp/ctx2"
check "--cache-to with a type other than registry is refused" err_has "type=registry is the only cache type"
built_base=$(image_id "$tmp/store-build-a" "$plain/base/busybox:1")
sed "s|^FROM .*|FROM $built_base|" "$tmp/ctx2/Dockerfile" >"$tmp/ctx2/Dockerfile.id"
run_in "$tmp/store-build-a" build --pull=always -q -f "$tmp/ctx2/Dockerfile.id" "$tmp/ctx2"
check "build --pull=always with FROM an image ID takes it from the store" status_is 0
run_in "$tmp/store-build-a" build --pull=always -q -t built "$tmp/ctx2"
check "build --pull=always pulls the base even when the store has it" status_is 0
check "... (it asked the registry again)" bash -c "[ \"\$(grep -c 'GET /v2/base/busybox/manifests/1' '$REGISTRY_DIR/registry.log')\" -ge 2 ]"

# --- cross-repository mount, chunked upload, mirrors --------------------------------------------
run push --progress plain "$plain/test/app:1" "$plain/other/app:1"
check "push to another repository of the same registry works" status_is 0
check "... mounting the blobs from the repository the image came from" err_has "Mounted from test/app"
check "... uploading none" bash -c "! grep -q ': Pushed' '$tmp/err'"

# Without the name in test/app the blobs cannot be mounted: they must be uploaded.
"$cairn" --root "$store" rmi "$plain/test/app:1" >/dev/null
toml "[registry]
chunk_size = 1000000"
run push --progress plain app:1 "$plain/chunked/app:1"
check "push in PATCH chunks (registry.chunk_size) works" status_is 0
check "... the registry saw several PATCH requests" \
  bash -c "[ \"\$(grep -c '\"PATCH /v2/chunked/app/blobs/uploads' '$REGISTRY_DIR/registry.log')\" -ge 3 ]"
tool skopeo inspect --tls-verify=false "docker://$plain/chunked/app:1"
check "... and skopeo reads the result" status_is 0

registry_start plain upstream
upstream=$REGISTRY_ADDR
toml "[registry.hosts.\"$upstream\"]
mirrors = [\"$plain\"]"
run_in "$tmp/store-mirror" pull --progress plain "$upstream/test/app:1"
check "a pull is served by the host's mirror (the upstream registry is empty)" status_is 0
check "... stored under the name asked for" out_line "$upstream/test/app:1"
toml "[registry.hosts.\"$upstream\"]
mirrors = [\"127.0.0.1:1\"]"
run_in "$tmp/store-mirror2" pull "$upstream/test/app:1"
check "a broken mirror is passed over for the registry (which lacks the image)" err_has "not found in $upstream/test/app"
check "... with a warning naming the mirror" err_has "mirror 127.0.0.1:1"
toml ""

# --- platform choice from an index --------------------------------------------------------------
mkdir -p "$tmp/multi"
"$cairn" --root "$store" save --format oci -o "$tmp/app.oci.tar" app:1
tar -C "$tmp/multi" -xf "$tmp/app.oci.tar"
mkdir -p "$tmp/multi-src" && tar -C "$tmp/multi-src" -xf "$tmp/app.oci.tar"
python3 - "$tmp/multi-src/index.json" <<'PY'
import json, sys
index = json.load(open(sys.argv[1]))
index["manifests"][0].setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "app"
json.dump(index, open(sys.argv[1], "w"))
PY
python3 - "$tmp/multi" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
def blob(d): return os.path.join(root, "blobs", d.replace(":", "/"))
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(blob(d), "wb").write(data)
    return d, len(data)
index = json.load(open(os.path.join(root, "index.json")))
m_desc = index["manifests"][0]
manifest = json.load(open(blob(m_desc["digest"])))
entries = []
for arch in ("arm64", "amd64"):
    config = json.load(open(blob(manifest["config"]["digest"])))
    config["architecture"] = arch
    cd, cs = put(json.dumps(config).encode())
    m = dict(manifest, config=dict(manifest["config"], digest=cd, size=cs))
    md, ms = put(json.dumps(m).encode())
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                    "size": ms, "platform": {"os": "linux", "architecture": arch}})
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
xd, xs = put(json.dumps(idx).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
           "digest": xd, "size": xs, "annotations": {"org.opencontainers.image.ref.name": "multi"}}]},
          open(os.path.join(root, "index.json"), "w"))
PY
tool skopeo copy --all --dest-tls-verify=false "oci:$tmp/multi:multi" "docker://$plain/test/multi:1"
check "skopeo pushes a two-platform index (fixture)" status_is 0
host_arch=$(inspect_field "$store" app:1 Architecture)
run_in "$tmp/store-multi" pull "$plain/test/multi:1"
check "pull of a two-platform index works" status_is 0
check "pull from an index takes this machine's platform" \
  same "$(inspect_field "$tmp/store-multi" "$plain/test/multi:1" Architecture)" "$host_arch"
run_in "$tmp/store-multi" pull --platform linux/arm64 "$plain/test/multi:1"
check "pull --platform of the other platform works" status_is 0
check "pull --platform linux/arm64 takes the arm64 image" \
  same "$(inspect_field "$tmp/store-multi" "$plain/test/multi:1" Architecture)" arm64
run_in "$tmp/store-multi" pull --platform linux/s390x "$plain/test/multi:1"
check "a platform the index lacks is an error listing what it has" err_has "has no image for platform linux/s390x (it has: linux/arm64, linux/amd64)"
run_in "$tmp/store-single" pull --platform linux/s390x "$plain/test/app:1"
check "--platform that a single-platform image does not match is refused" \
  err_has "is for linux/$host_arch, not the platform asked for (linux/s390x)"
run_in "$tmp/store-single" pull --platform "linux/$host_arch" "$plain/test/app:1"
check "... and one that matches is taken" status_is 0
run_in "$tmp/store-multi" pull --platform 'linux//x' "$plain/test/multi:1"
check "a malformed --platform is refused" err_has "write it as os/arch[/variant]"

# --- Docker schema 2 --------------------------------------------------------------------------
tool skopeo copy --format v2s2 --dest-tls-verify=false "oci:$tmp/multi-src:app" "docker://$plain/test/v2s2:1"
check "skopeo pushes a Docker schema-2 image (fixture)" status_is 0
v2s2_digest=$(skopeo inspect --tls-verify=false "docker://$plain/test/v2s2:1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
run_in "$tmp/store-v2s2" pull "$plain/test/v2s2:1"
check "pull of a Docker schema-2 manifest works" status_is 0
check "... reporting the registry's manifest digest" err_has "Digest: $v2s2_digest"
check "... with the same image ID as the OCI original" same "$(image_id "$tmp/store-v2s2" "$plain/test/v2s2:1")" "$app_id"
run_in "$tmp/store-v2s2" push "$plain/test/v2s2:1" "$plain/test/v2s2-copy:1"
check "pushing it again keeps the Docker manifest byte for byte (same digest)" out_has "@$v2s2_digest"

# --- interrupted and corrupted downloads --------------------------------------------------------
registry_start_proxy cut-once "$plain"
run_in "$tmp/store-cut" pull --progress plain "$PROXY_ADDR/test/app:1"
check "a pull whose blob downloads are cut off half-way succeeds" status_is 0
check "... by resuming with a Range request" grep -q 'range=bytes=[1-9]' "$PROXY_LOG"
check "... the proxy did cut a download" grep -q 'action=cut:' "$PROXY_LOG"
check "... and the image is intact (same ID)" same "$(image_id "$tmp/store-cut" "$PROXY_ADDR/test/app:1")" "$app_id"
run_in "$tmp/store-cut" store verify
check "... and the store verifies" status_is 0

registry_start_proxy corrupt "$plain"
"$cairn" --root "$tmp/store-bad" import "$CAIRN_BUSYBOX_TAR" busybox:base >/dev/null
blobs_before=$(blob_count "$tmp/store-bad")
run_in "$tmp/store-bad" pull "$PROXY_ADDR/test/app:1"
check "a corrupted blob fails the pull" status_is 1
check "... as a digest mismatch" err_has "digest mismatch"
check "... saying the blob was discarded" err_has "discarded"
check "... nothing entered the store" bash -c "[ \"\$(find '$tmp/store-bad/blobs/sha256' -type f | wc -l)\" = '$blobs_before' ]"
run_in "$tmp/store-bad" images
check "... no image was added" bash -c "! grep -q 'test/app' '$tmp/out'"
run_in "$tmp/store-bad" store verify
check "... and the store verifies" status_is 0

# --- TLS with a test CA -------------------------------------------------------------------------
registry_start tls
tls=$REGISTRY_ADDR
run push app:1 "$tls/test/app:1"
check "push to a TLS registry whose CA is unknown fails" status_is 1
check "... naming the certificate problem" err_has "certificate"
check "... with the cairn.toml setting as hint" err_has "ca_file"
toml "[registry.hosts.\"$tls\"]
ca_file = \"$REGISTRY_CA\""
run push app:1 "$tls/test/app:1"
check "with ca_file in cairn.toml the push works" status_is 0
run_in "$tmp/store-tls" pull "$tls/test/app:1"
check "... and so does the pull" status_is 0
mkdir -p "$tmp/certs.d" && cp "$REGISTRY_CA" "$tmp/certs.d/ca.crt"
tool skopeo inspect --cert-dir "$tmp/certs.d" "docker://$tls/test/app:1"
check "skopeo (with the same CA) sees it" status_is 0
toml "[registry.hosts.\"$tls\"]
insecure = true"
run_in "$tmp/store-tls2" pull "$tls/test/app:1"
check "insecure = true skips verification" status_is 0
toml ""

# --- htpasswd basic auth ------------------------------------------------------------------------
registry_start htpasswd
basic=$REGISTRY_ADDR
run push app:1 "$basic/test/app:1"
check "push without credentials is refused" status_is 1
check "... as unauthorized" err_has "unauthorized"
check "... saying no credentials were found and where it looked" err_has "no credentials were found for it (searched $XDG_RUNTIME_DIR/containers/auth.json"
check "... with the hint to log in" err_has "cairn login $basic"
status=0
echo "wrong" | "$cairn" login -u "$REGISTRY_USER" --password-stdin "$basic" >"$tmp/out" 2>"$tmp/err" || status=$?
check "login with a wrong password fails" status_is 1
check "... and saves nothing" test ! -e "$XDG_RUNTIME_DIR/containers/auth.json"
status=0
printf '%s\n' "$REGISTRY_PASSWORD" | "$cairn" login -u "$REGISTRY_USER" --password-stdin "$basic" >"$tmp/out" 2>"$tmp/err" || status=$?
check "login with the right password succeeds" status_is 0
check "... saying so" out_line "Login Succeeded!"
check "... in \$XDG_RUNTIME_DIR/containers/auth.json, mode 0600" \
  bash -c "[ \"\$(stat -c %a '$XDG_RUNTIME_DIR/containers/auth.json')\" = 600 ]"
check "... in the containers auth.json format" python3 -c "
import json,base64,sys
a = json.load(open('$XDG_RUNTIME_DIR/containers/auth.json'))['auths']['$basic']['auth']
sys.exit(base64.b64decode(a).decode() != '$REGISTRY_USER:$REGISTRY_PASSWORD')"
run push app:1 "$basic/test/app:1"
check "after login the push works" status_is 0
tool skopeo inspect --tls-verify=false --authfile "$XDG_RUNTIME_DIR/containers/auth.json" "docker://$basic/test/app:1"
check "skopeo reads the image with the credentials cairn login saved" status_is 0
run logout "$basic"
check "logout removes them" out_line "Removed login credentials for $basic"
run pull "$basic/test/app:1"
check "after logout the pull is refused again" err_has "unauthorized"
run logout "$basic"
check "logout when not logged in is an error" status_is 1
# Credentials from docker's config.json are used too.
mkdir -p "$HOME/.docker"
printf '{"auths":{"http://%s/v2/":{"auth":"%s"}}}\n' "$basic" \
  "$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASSWORD" | base64 -w0)" >"$HOME/.docker/config.json"
run_in "$tmp/store-docker-config" pull "$basic/test/app:1"
check "credentials in ~/.docker/config.json are used" status_is 0
echo '{"auths":{"'"$basic"'":{"auth":"'"$(printf 'cairn-user:nope' | base64 -w0)"'"}}}' >"$HOME/.docker/config.json"
run_in "$tmp/store-docker-config2" pull "$basic/test/app:1"
check "refused credentials are named with the file they came from" err_has "refused the credentials of user \"cairn-user\" (from $HOME/.docker/config.json)"
rm -rf "$HOME/.docker"

# --- token auth ---------------------------------------------------------------------------------
registry_start token
token=$REGISTRY_ADDR
run push app:1 "$token/test/app:1"
check "anonymous push to a token registry is refused" status_is 1
check "... as unauthorized with the login hint" err_has "cairn login $token"
printf '%s\n' "$REGISTRY_PASSWORD" | "$cairn" login -u "$REGISTRY_USER" --password-stdin "$token" >"$tmp/out" 2>"$tmp/err" || true
check "login to the token registry (the token server checks the password)" out_line "Login Succeeded!"
run push --progress plain app:1 "$token/test/app:1"
check "after login the push works with a pull,push token" status_is 0
check "... the user asked the token server for pull,push" grep -q "user=$REGISTRY_USER scope=repository:test/app:pull,push" "$REGISTRY_TOKEN_LOG"
run_in "$tmp/store-token" pull "$token/test/app:1"
check "a logged-in pull asks for pull only" grep -q "user=$REGISTRY_USER scope=repository:test/app:pull granted" "$REGISTRY_TOKEN_LOG"
run logout "$token"
run_in "$tmp/store-token-anon" pull "$token/test/app:1"
check "an anonymous pull works with an anonymous token" status_is 0
check "... which the token server granted pull" grep -q "user=anonymous scope=repository:test/app:pull granted=test/app:pull" "$REGISTRY_TOKEN_LOG"
status=0
printf 'wrong\n' | "$cairn" login -u "$REGISTRY_USER" --password-stdin "$token" >"$tmp/out" 2>"$tmp/err" || status=$?
check "a wrong password is refused by the token server" err_has "token server refused the credentials"

# --- a registry that rate-limits -------------------------------------------------------------
cat >"$tmp/ratelimit.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/v2/":
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"{}"); return
        body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
        self.send_response(429); self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_HEAD = do_GET
    def log_message(self, *a): open(sys.argv[2], "a").write(self.requestline + "\n")
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
"$registry_python" "$tmp/ratelimit.py" "$tmp/ratelimit.port" "$tmp/ratelimit.log" &
ratelimit_pid=$!
for _ in $(seq 50); do [ -s "$tmp/ratelimit.port" ] && break; sleep 0.1; done
toml "[registry]
retries = 2"
run_in "$tmp/store-429" pull "127.0.0.1:$(cat "$tmp/ratelimit.port")/x/y:1"
check "a registry that keeps answering 429 fails the pull" status_is 1
check "... saying it is rate limiting, with its retry time" err_has "is rate limiting requests (HTTP 429 TOOMANYREQUESTS: slow down); it asks to retry after 1 s"
check "... after retrying as configured (1 + 2 requests for the manifest)" \
  same "$(grep -c 'manifests/1' "$tmp/ratelimit.log")" 3
kill "$ratelimit_pid" 2>/dev/null || true
toml ""

# --- usage errors -------------------------------------------------------------------------------
run pull
check "pull without a reference is a usage error" status_is 2
run pull 'Bad:Name'
check "a malformed reference is refused" err_has "invalid reference format"
run push --progress bogus app:1
check "a bad --progress is a usage error" status_is 2
toml "[registry.hosts.\"http://x\"]
insecure = true"
run pull busybox
check "a malformed registry host in cairn.toml is refused with file:line" err_matches "cairn.toml:1:[0-9]+: \"http://x\" is not a registry host"
toml ""

finish
