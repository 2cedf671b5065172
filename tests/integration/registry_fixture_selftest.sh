#!/usr/bin/env bash
# Proves the registry fixtures (registry_fixture.sh, the token server, the faulty proxy)
# with curl and skopeo, independently of cairn: each registry mode takes a push and gives
# the image back, auth refuses what it should, and each proxy mode breaks blob downloads
# the way registry tests rely on. Exits 77 without docker-registry, skopeo or python3-jwt.
set -euo pipefail
tmp=$(mktemp -d /tmp/cairn-registry-selftest.XXXXXX)
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=registry_fixture.sh
. "$(dirname "$0")/registry_fixture.sh"
cleanup() {
  registry_stop_all
  rm -rf "$tmp"
}
trap cleanup EXIT
registry_skip_unless_available
command -v skopeo >/dev/null || skip_all "skopeo is not installed (apt-get install skopeo)"
isolate_home
# skopeo's auth file inside $tmp; the fixture keeps this REGISTRY_* variable from the
# registries, which would take it as a configuration override.
export REGISTRY_AUTH_FILE="$tmp/auth.json"

# attempt COMMAND...: runs COMMAND, its output in $tmp/out and $tmp/err, its status in $status.
attempt() {
  status=0
  "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}
succeeds() { attempt "$@" && [ "$status" -eq 0 ]; }
fails() { attempt "$@"; [ "$status" -ne 0 ]; }
# fails_with STATUS COMMAND...: COMMAND exits with STATUS.
fails_with() {
  local want=$1
  shift
  attempt "$@"
  [ "$status" -eq "$want" ]
}
# http_code_is CODE CURL-ARGS...: curl gets an HTTP response with status CODE.
http_code_is() {
  local want=$1
  shift
  attempt curl -sS -o "$tmp/body" -w '%{http_code}' "$@"
  [ "$(cat "$tmp/out")" = "$want" ]
}
out_has() { grep -q -- "$1" "$tmp/out"; }
err_has() { grep -qi -- "$1" "$tmp/err"; }
file_has() { grep -q -- "$2" "$1" || { { echo "no '$2' in $1:"; cat "$1"; } >"$tmp/diff"; false; }; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
sk() { timeout 60 skopeo --insecure-policy "$@"; }

# A one-layer OCI image, made by hand: the layer holds incompressible bytes so that
# "half of the blob" is a real cut.
oci="$tmp/oci"
mkdir -p "$oci/blobs/sha256" "$tmp/layer"
add_blob() {
  local hex
  hex=$(sha256_of "$1")
  cp "$1" "$oci/blobs/sha256/$hex"
  echo "$hex"
}
head -c 300000 /dev/urandom >"$tmp/layer/noise"
echo "hello from the registry fixture" >"$tmp/layer/hello.txt"
tar -C "$tmp/layer" --owner=0 --group=0 --numeric-owner -cf "$tmp/layer.tar" hello.txt noise
gzip -n -c "$tmp/layer.tar" >"$tmp/layer.tar.gz"
layer_hex=$(add_blob "$tmp/layer.tar.gz")
layer_size=$(stat -c %s "$tmp/layer.tar.gz")
cat >"$tmp/config.json" <<EOF
{"architecture": "amd64", "os": "linux", "config": {},
 "rootfs": {"type": "layers", "diff_ids": ["sha256:$(sha256_of "$tmp/layer.tar")"]}}
EOF
config_hex=$(add_blob "$tmp/config.json")
cat >"$tmp/manifest.json" <<EOF
{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
 "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:$config_hex", "size": $(stat -c %s "$tmp/config.json")},
 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": "sha256:$layer_hex", "size": $layer_size}]}
EOF
manifest_hex=$(add_blob "$tmp/manifest.json")
cat >"$oci/index.json" <<EOF
{"schemaVersion": 2,
 "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:$manifest_hex", "size": $(stat -c %s "$tmp/manifest.json"),
                "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
EOF
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
image="oci:$oci:latest"

# Predicates for `check`; each leaves what it ran in $tmp/out and $tmp/err.
inspect_shows_layer() { succeeds sk inspect "$@" && out_has "sha256:$layer_hex"; }
manifest_is_stored() { # manifest_is_stored URL: GET gives back exactly the pushed manifest
  succeeds curl -fsS -H "Accept: application/vnd.oci.image.manifest.v1+json" "$1" &&
    cmp -s "$tmp/out" "$tmp/manifest.json"
}
skopeo_refuses_certificate() { fails sk inspect "$@" && err_has "certificate"; }
challenge_is() { # challenge_is URL PATTERN: a 401 whose headers match PATTERN
  http_code_is 401 -D "$tmp/headers" "$1" && file_has "$tmp/headers" "$2"
}
token_server_refuses() { http_code_is 401 "$@" && file_has "$tmp/body" UNAUTHORIZED; }
size_is() { [ "$(stat -c %s "$1")" = "$2" ]; }
digest_is() { [ "$(sha256_of "$1")" = "$2" ]; }
download_is_cut() { # download_is_cut URL FILE: curl reports a short transfer
  fails_with 18 curl -sS -o "$2" "$1" && [ "$(stat -c %s "$2")" -lt "$layer_size" ]
}
download_is_whole() { succeeds curl -fsS "${@:3}" -o "$2" "$1" && digest_is "$2" "$layer_hex"; }
download_is_corrupt() {
  succeeds curl -fsS -o "$2" "$1" && size_is "$2" "$layer_size" && ! digest_is "$2" "$layer_hex"
}
head_is_untouched() { http_code_is 200 -I "$1" && grep -qi "^Content-Length: $layer_size" "$tmp/body"; }
logged() { file_has "$PROXY_LOG" "$1"; }
pushed_through_proxy() {
  succeeds sk copy --dest-tls-verify=false "$image" "docker://$PROXY_ADDR/cairn/via-proxy:1" &&
    logged "^PATCH /v2/cairn/via-proxy/blobs/uploads/" &&
    logged "^PUT /v2/cairn/via-proxy/blobs/uploads/"
}
manifest_deletes() { # manifest_deletes URL: DELETE by digest, then the tag is gone
  http_code_is 202 -X DELETE "$1/manifests/sha256:$manifest_hex" && http_code_is 404 "$1/manifests/1"
}
unreachable() { fails curl -sS --max-time 2 "$1"; }

# plain
registry_start plain
plain_addr=$REGISTRY_ADDR plain_url=$REGISTRY_URL
check "plain: GET /v2/ answers 200" http_code_is 200 "$REGISTRY_URL/v2/"
check "plain: skopeo pushes the image" \
  succeeds sk copy --dest-tls-verify=false "$image" "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "plain: skopeo inspect reads it back, layer included" \
  inspect_shows_layer --tls-verify=false "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "plain: the manifest is stored byte for byte" \
  manifest_is_stored "$REGISTRY_URL/v2/cairn/fixture/manifests/1"

# tls
registry_start tls
mkdir -p "$tmp/certs"
cp "$REGISTRY_CA" "$tmp/certs/ca.crt" # skopeo's cert dirs take CAs as *.crt
check "tls: GET /v2/ over https with the test CA answers 200" \
  http_code_is 200 --cacert "$REGISTRY_CA" "$REGISTRY_URL/v2/"
check "tls: the certificate is also good for localhost" \
  http_code_is 200 --cacert "$REGISTRY_CA" "https://localhost:${REGISTRY_ADDR#*:}/v2/"
check "tls: curl without the CA refuses the certificate (exit 60)" \
  fails_with 60 curl -sS "$REGISTRY_URL/v2/"
check "tls: skopeo pushes with the CA" \
  succeeds sk copy --dest-cert-dir "$tmp/certs" "$image" "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "tls: skopeo without the CA fails on the certificate" \
  skopeo_refuses_certificate "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "tls: skopeo inspect with the CA reads the image back" \
  inspect_shows_layer --cert-dir "$tmp/certs" "docker://$REGISTRY_ADDR/cairn/fixture:1"

# htpasswd
registry_start htpasswd
creds="$REGISTRY_USER:$REGISTRY_PASSWORD"
check "htpasswd: GET /v2/ without credentials is 401 with a Basic challenge" \
  challenge_is "$REGISTRY_URL/v2/" "Basic realm"
check "htpasswd: GET /v2/ with the credentials is 200" http_code_is 200 -u "$creds" "$REGISTRY_URL/v2/"
check "htpasswd: a wrong password is 401" http_code_is 401 -u "$REGISTRY_USER:wrong" "$REGISTRY_URL/v2/"
check "htpasswd: skopeo cannot push without credentials" \
  fails sk copy --dest-tls-verify=false "$image" "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "htpasswd: skopeo pushes with the credentials" succeeds sk copy --dest-tls-verify=false \
  --dest-creds "$creds" "$image" "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "htpasswd: skopeo inspect with the credentials reads it back" \
  inspect_shows_layer --tls-verify=false --creds "$creds" "docker://$REGISTRY_ADDR/cairn/fixture:1"

# token
registry_start token
creds="$REGISTRY_USER:$REGISTRY_PASSWORD"
check "token: GET /v2/ is 401 with a Bearer challenge naming the token server" challenge_is \
  "$REGISTRY_URL/v2/" 'Bearer realm="http://127.0.0.1:[0-9]*/token",service="cairn-test-registry"'
realm=$(sed -n 's/.*Bearer realm="\([^"]*\)".*/\1/p' "$tmp/headers")
push_scope="service=cairn-test-registry&scope=repository:cairn/fixture:pull,push"
token_for() { # token_for CURL-ARGS...: the token that the token server gives
  curl -fsS "$@" | "$registry_python" -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
check "token: the registry accepts the token server's token (x5c signature)" http_code_is 200 \
  -H "Authorization: Bearer $(token_for "$realm?service=cairn-test-registry")" "$REGISTRY_URL/v2/"
uploads="$REGISTRY_URL/v2/cairn/fixture/blobs/uploads/"
check "token: an anonymous token cannot start an upload" http_code_is 401 -X POST \
  -H "Authorization: Bearer $(token_for "$realm?$push_scope")" "$uploads"
check "token: the user's token starts an upload" http_code_is 202 -X POST \
  -H "Authorization: Bearer $(token_for -u "$creds" "$realm?$push_scope")" "$uploads"
oauth_token=$(token_for -d grant_type=password -d "username=$REGISTRY_USER" \
  -d "password=$REGISTRY_PASSWORD" -d service=cairn-test-registry "$realm")
check "token: the OAuth2 password grant (POST) gives a token too" \
  http_code_is 200 -H "Authorization: Bearer $oauth_token" "$REGISTRY_URL/v2/"
check "token: a wrong password gets a 401 from the token server" \
  token_server_refuses -u "$REGISTRY_USER:wrong" "$realm?service=cairn-test-registry"
check "token: skopeo cannot push anonymously" \
  fails sk copy --dest-tls-verify=false "$image" "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "token: skopeo pushes with the credentials" succeeds sk copy --dest-tls-verify=false \
  --dest-creds "$creds" "$image" "docker://$REGISTRY_ADDR/cairn/fixture:1"
check "token: skopeo pulls anonymously" succeeds sk copy --src-tls-verify=false \
  "docker://$REGISTRY_ADDR/cairn/fixture:1" "oci:$tmp/pulled-token:1"
check "token: the log shows anonymous requests granted pull only" file_has "$REGISTRY_TOKEN_LOG" \
  "^user=anonymous scope=repository:cairn/fixture:pull,push granted=cairn/fixture:pull$"
check "token: the log shows the user granted push" file_has "$REGISTRY_TOKEN_LOG" \
  "^user=cairn-user scope=repository:cairn/fixture:pull,push granted=cairn/fixture:pull,push$"
check "token: the log shows the refused password" \
  file_has "$REGISTRY_TOKEN_LOG" "^user=cairn-user scope=- granted=refused$"

# proxies, in front of the plain registry that holds cairn/fixture:1
blob_path="/v2/cairn/fixture/blobs/sha256:$layer_hex"
half=$((layer_size / 2))
registry_start_proxy cut-once "$plain_addr"
check "cut-once: the first download stops short (curl exit 18)" \
  download_is_cut "http://$PROXY_ADDR$blob_path" "$tmp/cut"
check "cut-once: curl -C - resumes with a Range request and completes the blob" \
  download_is_whole "http://$PROXY_ADDR$blob_path" "$tmp/cut" -C -
check "cut-once: the log shows the cut" \
  logged "^GET $blob_path range=- status=200 action=cut:$half/$layer_size$"
check "cut-once: the log shows the 206 resume" \
  logged "^GET $blob_path range=bytes=$half- status=206 action=pass$"
check "cut-once: a later whole download is not cut" \
  download_is_whole "http://$PROXY_ADDR$blob_path" "$tmp/again"
registry_start_proxy corrupt "$plain_addr"
check "corrupt: the download has the right length and the wrong digest" \
  download_is_corrupt "http://$PROXY_ADDR$blob_path" "$tmp/bad"
check "corrupt: HEAD of the blob is untouched" head_is_untouched "http://$PROXY_ADDR$blob_path"
registry_start_proxy pass "$plain_addr"
check "pass: skopeo inspect through the proxy" \
  inspect_shows_layer --tls-verify=false "docker://$PROXY_ADDR/cairn/fixture:1"
check "pass: skopeo pulls through the proxy" \
  succeeds sk copy --src-tls-verify=false "docker://$PROXY_ADDR/cairn/fixture:1" \
  "oci:$tmp/pulled-proxy:1"
check "pass: skopeo pushes through the proxy (uploads follow the rewritten Location)" \
  pushed_through_proxy
check "pass: the pushed image is in the registry behind the proxy" \
  manifest_is_stored "$plain_url/v2/cairn/via-proxy/manifests/1"

# deletes are enabled; stopping stops everything
check "plain: a manifest can be deleted" manifest_deletes "$plain_url/v2/cairn/via-proxy"
registry_stop_all
check "registry_stop_all stops the registries" unreachable "$plain_url/v2/"
check "registry_stop_all stops the proxies" unreachable "http://$PROXY_ADDR/v2/"
finish
