#!/usr/bin/python3
"""Token issuer for a docker-registry started with `auth: token` (registry_fixture.sh).

Implements the issuing side of the distribution token auth spec, just enough for tests:
  GET  /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]   (HTTP basic auth optional)
  POST /token  (OAuth2 form: grant_type=password&username=U&password=P&service=S&scope=...)
Anonymous requests get `pull` on repositories and nothing else; the configured user gets
every action it asks for; wrong credentials get a 401 with a JSON error.

Tokens are ES256 JWTs whose header carries the signing certificate in `x5c`. The registry
(distribution 2.8) accepts them because that same self-signed certificate is its
`rootcertbundle`: it verifies the x5c chain against the bundle, then the signature.

Each request appends one line to --log:
  user=<name|anonymous> scope=<scopes as requested, space-separated|-> granted=<repo:actions ...|->
where granted is `refused` when the credentials were wrong.
The server binds port 0 and writes the port it got to --port-file (no race over ports).
"""
import argparse
import base64
import binascii
import http.server
import json
import os
import threading
import time
import urllib.parse
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

TOKEN_LIFETIME = 300


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--key", required=True, help="PEM private key (EC P-256) that signs tokens")
    p.add_argument("--cert", required=True, help="PEM certificate of that key (goes into x5c)")
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True, help="audience when the client names none")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--log", required=True, help="file that gets one line per token request")
    p.add_argument("--port-file", required=True)
    return p.parse_args()


class TokenHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cairn-test-token-server"

    def log_message(self, fmt, *args):  # keep stderr quiet; the token log says what matters
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
        query = urllib.parse.parse_qs(url.query)
        user, password = self.basic_credentials()
        self.issue(query, user, password)

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": self.path}]})
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if form.get("grant_type", [""])[0] != "password":
            return self.reply(400, {"error": "unsupported_grant_type"})
        # OAuth2 puts several scopes in one space-separated parameter.
        form["scope"] = " ".join(form.get("scope", [])).split()
        self.issue(form, form.get("username", [None])[0], form.get("password", [None])[0])

    def basic_credentials(self):
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None, None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""  # malformed credentials are wrong credentials, not anonymous ones
        return user, password

    def issue(self, params, user, password):
        cfg = self.server.cfg
        scopes = params.get("scope", [])
        if user is not None and (user, password) != (cfg.user, cfg.password):
            self.server.log_line(user, scopes, None)
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                "message": "wrong user name or password"}]},
                              {"WWW-Authenticate": 'Basic realm="cairn-test-token-server"'})
        access = [grant for grant in (self.grant(s, user is not None) for s in scopes) if grant]
        self.server.log_line(user or "anonymous", scopes, access)
        now = int(time.time())
        claims = {
            "iss": cfg.issuer,
            "sub": user or "",
            "aud": params.get("service", [cfg.service])[0],
            "exp": now + TOKEN_LIFETIME,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = jwt.encode(claims, self.server.key, algorithm="ES256",
                           headers={"x5c": [self.server.cert_der_b64]})
        self.reply(200, {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

    @staticmethod
    def grant(scope, authenticated):
        """One access entry for SCOPE (type:name:actions), or None when nothing is granted."""
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if not name:
            return None
        wanted = [a for a in actions.split(",") if a]
        if not authenticated:
            wanted = [a for a in wanted if a == "pull" and kind == "repository"]
        return {"type": kind, "name": name, "actions": wanted} if wanted else None

    def reply(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class TokenServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cfg):
        super().__init__(("127.0.0.1", 0), TokenHandler)
        self.cfg = cfg
        with open(cfg.key, "rb") as f:
            self.key = f.read()
        with open(cfg.cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.cert_der_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.log_lock = threading.Lock()

    def log_line(self, user, scopes, access):
        if access is None:
            granted = "refused"
        else:
            granted = " ".join(f"{a['name']}:{','.join(a['actions'])}" for a in access) or "-"
        with self.log_lock, open(self.cfg.log, "a", encoding="utf-8") as f:
            f.write(f"user={user} scope={' '.join(scopes) or '-'} granted={granted}\n")


def main():
    cfg = parse_args()
    server = TokenServer(cfg)
    with open(cfg.port_file + ".part", "w", encoding="utf-8") as f:
        f.write(f"{server.server_address[1]}\n")
    # Renamed into place so that a reader never sees a half-written port.
    os.replace(cfg.port_file + ".part", cfg.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
