"""A tiny Flask app for cairn's demo: one page that says who serves it."""
import os
import pwd
import signal
import sys
import tempfile

from flask import Flask

app = Flask(__name__)


def workdir_writable():
    """Whether the process can create a file in its working directory (/app, chowned to it)."""
    try:
        with tempfile.NamedTemporaryFile(dir=os.getcwd()):
            return True
    except OSError:
        return False


@app.route("/")
def index():
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "?"
    lines = [
        "hello from cairn",
        f"uid: {uid} ({name})",
        f"workdir: {os.getcwd()} ({'writable' if workdir_writable() else 'read-only'})",
    ]
    return "\n".join(lines) + "\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.route("/healthz")
def healthz():
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


if __name__ == "__main__":
    # As a container's first process, python would ignore SIGTERM (`podman stop` would wait
    # for its timeout and then kill it): exit on it instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app.run(host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "8080")))
