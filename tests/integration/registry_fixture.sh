# shellcheck shell=bash
# Real local registries (Debian's docker-registry, distribution 2.8) for integration tests.
# Sourced after tap.sh by scripts that run `set -euo pipefail`; the caller sets $tmp (a
# private temp dir) first and calls registry_stop_all from its cleanup trap. Everything
# listens on 127.0.0.1 only, on ports picked free at start, and works unprivileged. Call the
# functions directly, not in $(...) or a pipeline: they set variables and keep process ids.
#
# registry_skip_unless_available
#   skip_all (tap.sh) with the reason when docker-registry, htpasswd, openssl, curl or the
#   python3 modules jwt and cryptography are missing.
# registry_start MODE [NAME]
#   Starts a registry with its storage, config.yml and registry.log (warnings and an access
#   log) in $tmp/registry-NAME/ (NAME defaults to MODE; starting a NAME again keeps its
#   storage) and waits until GET /v2/ answers 200 or 401; returns 1 and prints the log when
#   it does not within ~10 s. Deletes are enabled. MODE:
#     plain     HTTP, no auth.
#     tls       HTTPS; the certificate (IP:127.0.0.1, DNS:localhost) is signed by a test CA
#               made here: ca.pem (and ca.key) in the registry's directory.
#     htpasswd  HTTP with basic auth (bcrypt htpasswd file).
#     token     HTTP with `auth: token`: service cairn-test-registry, issuer
#               cairn-test-issuer, realm http://127.0.0.1:PORT/token served by
#               registry_token_server.py (anonymous: pull only; the user: all it asks).
#   Then sets and exports, for the registry started last (a new call overwrites them):
#     REGISTRY_ADDR       127.0.0.1:PORT
#     REGISTRY_URL        http://127.0.0.1:PORT or https://127.0.0.1:PORT
#     REGISTRY_DIR        its directory
#     REGISTRY_CA         tls: the CA certificate to trust; else empty
#     REGISTRY_USER, REGISTRY_PASSWORD
#                         htpasswd and token: cairn-user and s3cret-pass; else empty
#     REGISTRY_TOKEN_LOG  token: one line per token request,
#                         `user=<name|anonymous> scope=<as requested|->
#                         granted=<repo:actions ...|-|refused>` (one line)
# registry_start_proxy MODE UPSTREAM_ADDR
#   Starts registry_faulty_proxy.py in front of the plain registry at UPSTREAM_ADDR and sets
#   PROXY_ADDR (127.0.0.1:PORT) and PROXY_LOG (one line per request: method, path, Range,
#   upstream status, action). MODE: pass, cut-once (the first download of each blob stops
#   halfway; later ones and Range resumes go through) or corrupt (every blob download has
#   its middle byte flipped). See the proxy's docstring.
# registry_stop_all
#   Stops every registry, token server and proxy started so far; safe to call again.
# $registry_python
#   A python3 that has jwt and cryptography, for the caller's own helpers too.

registry_fixture_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
registry_pids=()
registry_proxy_count=0
# Debian's python3-jwt lives in /usr/bin/python3's path, which a python3 earlier in PATH
# (pyenv, a venv) may not see: take the first interpreter that has the modules.
registry_python=python3
for registry_candidate in /usr/bin/python3 python3; do
  if "$registry_candidate" -c 'import jwt, cryptography' 2>/dev/null; then
    registry_python=$registry_candidate
    break
  fi
done
unset registry_candidate

registry_skip_unless_available() {
  local tool
  for tool in docker-registry htpasswd openssl curl; do
    command -v "$tool" >/dev/null ||
      skip_all "$tool is not installed (apt-get install docker-registry apache2-utils openssl curl)"
  done
  "$registry_python" -c 'import jwt, cryptography' 2>/dev/null ||
    skip_all "python3 cannot import jwt and cryptography (apt-get install python3-jwt python3-cryptography)"
}

# _registry_spawn LOG COMMAND...: COMMAND in the background, its output in LOG; sets
# registry_last_pid.
_registry_spawn() {
  local log=$1
  shift
  (
    # docker-registry takes REGISTRY_* variables as configuration overrides: keep the ones
    # this fixture exports (and any the caller has) away from it.
    while read -r var; do unset "$var"; done < <(compgen -e REGISTRY_ || true)
    exec "$@"
  ) </dev/null >"$log" 2>&1 &
  registry_last_pid=$!
  registry_pids+=("$registry_last_pid")
}

# _registry_fail WHAT LOG: reports that WHAT failed, with its log.
_registry_fail() {
  echo "# registry_fixture: $1 failed; its log ($2):" >&2
  sed 's/^/#   /' "$2" 2>/dev/null | tail -n 40 >&2
  return 1
}

# _registry_port_from FILE WHAT LOG: the port that the last spawned helper (which binds
# port 0 itself) wrote to FILE, waiting up to ~10 s for it.
_registry_port_from() {
  local _
  for _ in $(seq 100); do
    if [ -s "$1" ]; then
      cat "$1"
      return 0
    fi
    kill -0 "$registry_last_pid" 2>/dev/null || break
    sleep 0.1
  done
  _registry_fail "$2" "$3"
}

_registry_free_port() {
  "$registry_python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# _registry_new_key_cert KEY CERT SUBJECT [OPENSSL-REQ-OPTION...]: a P-256 key and a
# self-signed certificate, valid two days. openssl's messages go to openssl.log beside KEY.
_registry_new_key_cert() {
  local key=$1 cert=$2 subject=$3
  shift 3
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
    -keyout "$key" -out "$cert" -subj "$subject" "$@" 2>>"${key%/*}/openssl.log"
}

# _registry_make_tls DIR: ca.pem/ca.key, and server.pem/server.key signed by that CA.
_registry_make_tls() {
  local dir=$1
  _registry_new_key_cert "$dir/ca.key" "$dir/ca.pem" "/CN=cairn test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign ||
    return 1
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=localhost 2>>"$dir/openssl.log" ||
    return 1
  # Go (the registry) and OpenSSL clients match the address against subjectAltName only.
  printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
    'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -days 2 \
    -set_serial "0x$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" -extfile "$dir/server.ext" \
    -out "$dir/server.pem" 2>>"$dir/openssl.log"
}

# _registry_start_token_server DIR: the token issuer for DIR's registry; sets
# registry_token_port.
_registry_start_token_server() {
  local dir=$1
  # The registry trusts tokens whose x5c certificate is in its rootcertbundle: this one.
  _registry_new_key_cert "$dir/token.key" "$dir/token.pem" "/CN=cairn test token signer" ||
    _registry_fail "making the token signing key with openssl" "$dir/openssl.log" || return 1
  rm -f "$dir/token.port"
  : >"$REGISTRY_TOKEN_LOG"
  _registry_spawn "$dir/token-server.log" "$registry_python" \
    "$registry_fixture_dir/registry_token_server.py" --key "$dir/token.key" \
    --cert "$dir/token.pem" --issuer cairn-test-issuer --service cairn-test-registry \
    --user "$REGISTRY_USER" --password "$REGISTRY_PASSWORD" --log "$REGISTRY_TOKEN_LOG" \
    --port-file "$dir/token.port"
  registry_token_port=$(_registry_port_from "$dir/token.port" "starting the token server" \
    "$dir/token-server.log")
}

# _registry_ready URL INSTANCE: the registry at URL answers GET /v2/ with 200 or 401, and
# it is the one just started (its X-Cairn-Test-Registry header is INSTANCE), not another
# process that got the port first.
_registry_ready() {
  local headers
  headers=$(curl -s -o /dev/null -D - --max-time 2 ${REGISTRY_CA:+--cacert "$REGISTRY_CA"} \
    "$1/v2/" | tr -d '\r') || true
  grep -Eq '^HTTP/[0-9.]+ (200|401)' <<<"$headers" &&
    grep -qix "x-cairn-test-registry: $2" <<<"$headers"
}

registry_start() {
  : "${tmp:?registry_fixture.sh: set \$tmp before registry_start}"
  local mode=$1 name=${2:-$1}
  local dir="$tmp/registry-$name" scheme=http extra="" port instance attempt _
  case $mode in
    plain | tls | htpasswd | token) ;;
    *) echo "# registry_start: unknown mode '$mode'" >&2; return 1 ;;
  esac
  mkdir -p "$dir/storage"
  REGISTRY_CA="" REGISTRY_USER="" REGISTRY_PASSWORD="" REGISTRY_TOKEN_LOG=""
  case $mode in
    tls)
      _registry_make_tls "$dir" ||
        _registry_fail "making the test CA with openssl" "$dir/openssl.log" || return 1
      scheme=https REGISTRY_CA="$dir/ca.pem"
      # (under http:, where the config below puts $extra)
      extra=$(printf '%s\n' '  tls:' "    certificate: $dir/server.pem" "    key: $dir/server.key")
      ;;
    htpasswd)
      REGISTRY_USER=cairn-user REGISTRY_PASSWORD=s3cret-pass
      htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$dir/htpasswd" 2>/dev/null
      extra=$(printf '%s\n' 'auth:' '  htpasswd:' '    realm: cairn-test' "    path: $dir/htpasswd")
      ;;
    token)
      REGISTRY_USER=cairn-user REGISTRY_PASSWORD=s3cret-pass REGISTRY_TOKEN_LOG="$dir/token.log"
      _registry_start_token_server "$dir" || return 1
      extra=$(printf '%s\n' 'auth:' '  token:' "    realm: http://127.0.0.1:$registry_token_port/token" \
        '    service: cairn-test-registry' '    issuer: cairn-test-issuer' \
        "    rootcertbundle: $dir/token.pem")
      ;;
  esac
  # A free port can be taken between the probe and the registry's bind: then try another.
  for attempt in 1 2 3 4 5; do
    port=$(_registry_free_port)
    instance=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  headers:
    X-Cairn-Test-Registry: [$instance]
$extra
EOF
    _registry_spawn "$dir/registry.log" docker-registry serve "$dir/config.yml"
    for _ in $(seq 100); do
      if _registry_ready "$scheme://127.0.0.1:$port" "$instance"; then
        export REGISTRY_ADDR="127.0.0.1:$port" REGISTRY_URL="$scheme://127.0.0.1:$port" \
          REGISTRY_DIR="$dir" REGISTRY_CA REGISTRY_USER REGISTRY_PASSWORD REGISTRY_TOKEN_LOG
        return 0
      fi
      kill -0 "$registry_last_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$registry_last_pid" 2>/dev/null ||
      ! grep -q 'address already in use' "$dir/registry.log"; then
      break
    fi
    echo "# registry_start: port $port was taken (attempt $attempt), trying another" >&2
  done
  _registry_fail "starting the $mode registry $name" "$dir/registry.log"
}

registry_start_proxy() {
  : "${tmp:?registry_fixture.sh: set \$tmp before registry_start_proxy}"
  local mode=$1 upstream=$2 base port
  registry_proxy_count=$((registry_proxy_count + 1))
  base="$tmp/proxy-$registry_proxy_count"
  rm -f "$base.port"
  _registry_spawn "$base.stderr" "$registry_python" "$registry_fixture_dir/registry_faulty_proxy.py" \
    --mode "$mode" --upstream "$upstream" --log "$base.log" --port-file "$base.port"
  port=$(_registry_port_from "$base.port" "starting the $mode proxy" "$base.stderr") || return 1
  : >>"$base.log"
  export PROXY_ADDR="127.0.0.1:$port" PROXY_LOG="$base.log"
}

registry_stop_all() {
  local pid _
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${registry_pids[@]}"; do
    # The shell reaps its children as they exit, so kill -0 fails once one is gone.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  registry_pids=()
}
