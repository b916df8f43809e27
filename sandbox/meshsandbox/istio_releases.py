"""A local stand-in for Istio's release downloads (github.com/istio/istio/releases/download).

Istio publishes per version and platform ``<version>/istioctl-<version>-<platform>.tar.gz`` and
``<archive>.sha256`` (``<hex>  <file name>``). This serves the same layout on 127.0.0.1 only, made
from the sandbox's own istioctl build, so the collection's download path (module option
``istioctl_release_url``) runs against real archives and checksum files:

    python -m meshsandbox.istio_releases --dir DIR --good 1.30.99 --tampered 1.30.98 --url-file F

- ``--good V``: an archive of the build for version V and its correct ``.sha256``.
- ``--tampered V``: the ``.sha256`` of the good archive, but an archive with one byte of istioctl
  changed (what a compromised mirror or a corrupted download gives).
Every GET is appended to ``DIR/requests.log`` (one path per line), so a test can count downloads.
Platform: the controller's (linux-amd64 here). Stops on SIGTERM/SIGINT.
"""
import argparse
import hashlib
import http.server
import io
import os
import signal
import sys
import tarfile

from .istiod import istio_bin

PLATFORM = {"x86_64": "linux-amd64", "aarch64": "linux-arm64"}.get(os.uname()[4], "linux-amd64")


def _archive(data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("istioctl")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def publish(directory, version, data, tampered=False):
    name = "istioctl-%s-%s.tar.gz" % (version, PLATFORM)
    folder = os.path.join(directory, version)
    os.makedirs(folder, exist_ok=True)
    good = _archive(data)
    served = _archive(data[:-1] + bytes([data[-1] ^ 0xFF])) if tampered else good
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(served)
    with open(os.path.join(folder, name + ".sha256"), "w") as handle:
        handle.write("%s  %s\n" % (hashlib.sha256(good).hexdigest(), name))
    return hashlib.sha256(good).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="meshsandbox.istio_releases", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--good", action="append", default=[])
    parser.add_argument("--tampered", action="append", default=[])
    parser.add_argument("--url-file", required=True)
    args = parser.parse_args(argv)
    with open(os.path.join(istio_bin(), "istioctl"), "rb") as handle:
        data = handle.read()
    for version in args.good:
        publish(args.dir, version, data)
    for version in args.tampered:
        publish(args.dir, version, data, tampered=True)
    log = os.path.join(args.dir, "requests.log")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=args.dir, **kw)

        def do_GET(self):  # noqa: N802 (http.server's name)
            with open(log, "a") as handle:
                handle.write(self.path + "\n")
            super().do_GET()

        def log_message(self, *a):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.url_file + ".tmp", "w") as handle:
        handle.write("http://127.0.0.1:%d" % server.server_address[1])
    os.replace(args.url_file + ".tmp", args.url_file)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
