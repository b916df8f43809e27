"""Install the collection dependencies into .cache/collections and link this collection there.

The collections come from the pinned, hash-checked `ansible` wheel (collections-requirements.txt);
only the ones named in COLLECTIONS are extracted. The repository itself is linked as
.cache/collections/ansible_collections/multicloud/mesh so Ansible finds it by FQCN.
"""

import glob
import os
import subprocess
import sys
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEST = os.path.join(ROOT, ".cache", "collections")
WHEELS = os.path.join(ROOT, ".cache", "wheels")
COLLECTIONS = ("kubernetes/core", "amazon/aws", "awx/awx")


def main():
    link = os.path.join(DEST, "ansible_collections", "multicloud", "mesh")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.islink(link):
        os.symlink(os.path.relpath(ROOT, os.path.dirname(link)), link)
    stamp = os.path.join(DEST, ".deps-" + _pin())
    if os.path.exists(stamp):
        return 0
    os.makedirs(WHEELS, exist_ok=True)
    wheel = _find_wheel()
    if wheel is None:
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes",
                               "-r", os.path.join(ROOT, "collections-requirements.txt"), "-d", WHEELS])
        wheel = _find_wheel()
    prefixes = tuple("ansible_collections/%s/" % c for c in COLLECTIONS)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(prefixes):
                archive.extract(member, DEST)
    open(stamp, "w").close()
    print("[collections] %s extracted into %s" % (", ".join(c.replace("/", ".") for c in COLLECTIONS),
                                                  os.path.relpath(DEST, ROOT)))
    return 0


def _pin():
    with open(os.path.join(ROOT, "collections-requirements.txt")) as handle:
        for line in handle:
            if line.startswith("ansible=="):
                return line.split()[0].split("==")[1]
    raise SystemExit("collections-requirements.txt has no ansible== pin")


def _find_wheel():
    found = glob.glob(os.path.join(WHEELS, "ansible-%s-py3-none-any.whl" % _pin()))
    return found[0] if found else None


if __name__ == "__main__":
    sys.exit(main())
