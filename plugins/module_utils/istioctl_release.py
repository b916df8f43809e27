# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""istioctl from Istio's release archives, verified before it is ever run.

Istio publishes, per version and platform, ``istioctl-<version>-<platform>.tar.gz`` and next to
it ``<archive>.sha256`` (``<hex>  <file name>``). ``fetch`` downloads both from ``base_url``
(``<base_url>/<version>/<archive>``), checks the archive's sha256 against the published one or
against one the user pins, and only then extracts the single ``istioctl`` member into the cache
folder, with ``istioctl.verified.json`` beside it: the archive's URL and checksum and the
binary's sha256. ``verified_binary`` accepts a cached binary only while its sha256 is still the
recorded one. A failed verification raises before anything is extracted (and so before the
module applies anything), naming the expected and the actual checksum.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile

from ansible.module_utils.urls import open_url

# Istio's platform names in archive names, per (system, machine) of the controller.
PLATFORMS = {"linux-amd64": "linux-amd64", "linux-arm64": "linux-arm64", "darwin-amd64": "osx",
             "darwin-arm64": "osx-arm64"}
RECORD = "istioctl.verified.json"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ReleaseError(Exception):
    def __init__(self, msg):
        super(ReleaseError, self).__init__(msg)
        self.msg = msg


def archive_name(version, plat):
    if plat not in PLATFORMS:
        raise ReleaseError("Istio publishes no istioctl archive for %s (only %s)" % (plat, ", ".join(sorted(PLATFORMS))))
    return "istioctl-%s-%s.tar.gz" % (version, PLATFORMS[plat])


def sha256_file(path):
    """The sha256 (hex) of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _get(url, dest=None, timeout=60):
    """GET ``url`` into ``dest`` (a path) or return its text."""
    try:
        resp = open_url(url, timeout=timeout, http_agent="multicloud.mesh")
        if dest is None:
            return resp.read(1 << 16).decode("utf-8", "replace")
        with open(dest, "wb") as handle:
            shutil.copyfileobj(resp, handle)
        return dest
    except Exception as exc:  # pylint: disable=broad-except
        raise ReleaseError("downloading %s failed: %s" % (url, exc))


def verified_binary(folder, pinned_sha256=None):
    """The cached istioctl in ``folder`` when its sha256 is still the recorded one (and, with
    ``pinned_sha256``, its archive had that checksum), else None."""
    path, record = os.path.join(folder, "istioctl"), os.path.join(folder, RECORD)
    if not (os.path.isfile(path) and os.path.isfile(record)):
        return None
    try:
        with open(record) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if pinned_sha256 and data.get("archive_sha256") != pinned_sha256.lower():
        return None
    want = data.get("binary_sha256")
    return path if want and sha256_file(path) == want else None


def fetch(version, plat, base_url, folder, pinned_sha256=None):
    """Download, verify and extract istioctl ``version`` for ``plat`` into ``folder``; returns its path."""
    name = archive_name(version, plat)
    url = "%s/%s/%s" % (base_url.rstrip("/"), version, name)
    if pinned_sha256:
        expected, source = pinned_sha256.lower(), "istioctl_sha256"
    else:
        text = _get(url + ".sha256")
        fields = text.split()
        if not fields or not SHA256_RE.match(fields[0].lower()) or (len(fields) > 1 and fields[1].lstrip("*") != name):
            raise ReleaseError("%s.sha256 is not a checksum file for %s (it starts %r)" % (url, name, text[:80]))
        expected, source = fields[0].lower(), url + ".sha256"
    work = tempfile.mkdtemp(prefix="multicloud-mesh-istioctl-")
    try:
        archive = _get(url, os.path.join(work, name))
        actual = sha256_file(archive)
        if actual != expected:
            raise ReleaseError("%s: sha256 is %s, expected %s (from %s); the archive was not extracted and nothing was "
                               "applied" % (url, actual, expected, source))
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.lstrip("./") == "istioctl"]
            if len(members) != 1 or not members[0].isfile():
                raise ReleaseError("%s has no single regular file istioctl" % url)
            data = tar.extractfile(members[0]).read()
        os.makedirs(folder, mode=0o755, exist_ok=True)
        tmp = os.path.join(folder, ".istioctl.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o755)
        binary_sha256 = hashlib.sha256(data).hexdigest()
        with open(os.path.join(folder, RECORD + ".tmp"), "w") as handle:
            json.dump({"archive_url": url, "archive_sha256": actual, "checksum_from": source,
                       "binary_sha256": binary_sha256}, handle, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(folder, "istioctl"))
        os.replace(os.path.join(folder, RECORD + ".tmp"), os.path.join(folder, RECORD))
        return os.path.join(folder, "istioctl")
    finally:
        shutil.rmtree(work, ignore_errors=True)
