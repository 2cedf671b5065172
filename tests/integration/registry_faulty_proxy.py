#!/usr/bin/python3
"""HTTP reverse proxy in front of a plain-HTTP registry that breaks blob downloads on purpose.

Modes (--mode), applied to blob GETs only (GET /v2/<name>/blobs/sha256:<hex> answered 200
or 206; HEADs, manifests, uploads and everything else are relayed untouched):
  pass      relay everything (a sanity check of the proxy itself).
  cut-once  the first successful response for each digest sends the headers with the full
            Content-Length, then about half of the body, then closes the connection (a
            client sees a short read: curl exits 18). Later requests for that digest,
            `Range: bytes=N-` resumes included, are relayed properly (206 and all).
  corrupt   every blob body has its middle byte flipped: same length, wrong digest.

Request bodies (chunked or not) are read whole and sent upstream with a Content-Length;
Location headers that name the upstream are rewritten to name the proxy, so uploads keep
going through it. Threaded and keep-alive, since clients fetch several blobs at once.
Each request appends one line to --log:
  METHOD PATH range=<Range header|-> status=<upstream status> action=<what was done>
where action is pass, cut:SENT/TOTAL, corrupt:OFFSET/TOTAL or error:<reason>.
The proxy binds port 0 and writes the port it got to --port-file.
"""
import argparse
import http.client
import http.server
import os
import re
import threading
import urllib.parse

BLOB_PATH = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$")
# Headers that describe one hop, not the message: the proxy sets its own.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "host", "content-length"}
CHUNK = 64 * 1024


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the --log file is the record; keep stderr quiet
        pass

    def do_GET(self):
        self.relay()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def read_request_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers, dropped
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def relay(self):
        body = self.read_request_body()
        self.responded = False
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    upstream.putheader(key, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            self.relay_response(response)
        except (OSError, http.client.HTTPException) as e:
            self.record(502, f"error:{type(e).__name__}")
            self.close_connection = True
            if not self.responded:  # else the client sees the short body, then the close
                try:
                    self.send_error(502, f"upstream: {e}")
                except OSError:
                    pass
        finally:
            upstream.close()

    def relay_response(self, response):
        path = urllib.parse.urlsplit(self.path).path
        blob = BLOB_PATH.match(path) if self.command == "GET" else None
        length = response.getheader("Content-Length")
        fault = None
        if blob and response.status in (200, 206) and length and int(length) > 0:
            fault = self.server.fault_for(blob.group(1))
        self.responded = True
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() == "location":
                value = value.replace(f"//{self.server.upstream}", f"//{self.server.public}")
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        if self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200:
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            return self.record(response.status, "pass")
        if fault is None and length is None:
            data = response.read()  # chunked upstream: re-framed with a length
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return self.record(response.status, "pass")
        self.send_header("Content-Length", length)
        self.end_headers()
        self.stream(response, int(length), fault)

    def stream(self, response, total, fault):
        """Relays TOTAL body bytes, cutting or corrupting them as FAULT says."""
        middle = total // 2
        sent = 0
        while sent < total:
            data = response.read(min(CHUNK, total - sent))
            if not data:
                break
            if fault == "cut" and sent + len(data) >= middle:
                data = data[:middle - sent]
                self.wfile.write(data)
                sent += len(data)
                break
            if fault == "corrupt" and sent <= middle < sent + len(data):
                flipped = bytearray(data)
                flipped[middle - sent] ^= 0xFF
                data = bytes(flipped)
            self.wfile.write(data)
            sent += len(data)
        self.wfile.flush()
        if sent < total:
            # The promised length was not sent: the connection cannot be reused. Closing it
            # (the server's shutdown sends a FIN) is what the client sees as a short read.
            self.close_connection = True
        if fault == "cut":
            self.record(response.status, f"cut:{sent}/{total}")
        elif fault == "corrupt":
            self.record(response.status, f"corrupt:{middle}/{total}")
        else:
            self.record(response.status, "pass" if sent == total else f"error:short:{sent}/{total}")

    def record(self, status, action):
        line = f"{self.command} {self.path} range={self.headers.get('Range', '-')} " \
               f"status={status} action={action}\n"
        with self.server.lock, open(self.server.log, "a", encoding="utf-8") as f:
            f.write(line)


class ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode, upstream, log):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.mode, self.upstream, self.log = mode, upstream, log
        self.public = f"127.0.0.1:{self.server_address[1]}"
        self.lock = threading.Lock()
        self.cut_digests = set()

    def fault_for(self, digest):
        """What to do to a good blob response for DIGEST: None, "cut" or "corrupt"."""
        if self.mode == "corrupt":
            return "corrupt"
        if self.mode == "cut-once":
            with self.lock:
                if digest not in self.cut_digests:
                    self.cut_digests.add(digest)
                    return "cut"
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", required=True, choices=["pass", "cut-once", "corrupt"])
    p.add_argument("--upstream", required=True, help="HOST:PORT of a plain-HTTP registry")
    p.add_argument("--log", required=True, help="file that gets one line per request")
    p.add_argument("--port-file", required=True)
    args = p.parse_args()
    server = ProxyServer(args.mode, args.upstream, args.log)
    with open(args.port_file + ".part", "w", encoding="utf-8") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(args.port_file + ".part", args.port_file)  # a reader never sees half a port
    server.serve_forever()


if __name__ == "__main__":
    main()
