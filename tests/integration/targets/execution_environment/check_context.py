"""Check the build context `ansible-builder create` wrote for execution-environment.yml.

    python check_context.py REPO CONTEXT_DIR
"""

import os
import re
import sys

import yaml


def fail(msg):
    sys.exit("FAIL: " + msg)


def read(path):
    with open(path) as handle:
        return handle.read()


def env_file(path):
    values = {}
    for line in read(path).splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip('"')
    return values


def main(repo, ctx):
    containerfile = os.path.join(ctx, "Containerfile")
    if not os.path.isfile(containerfile):
        fail("no Containerfile in %s: %s" % (ctx, os.listdir(ctx)))
    text = read(containerfile)
    build = os.path.join(ctx, "_build")
    ee = yaml.safe_load(read(os.path.join(repo, "execution-environment.yml")))
    if ee.get("version") != 3:
        fail("execution-environment.yml is not ansible-builder schema v3")

    # dependency files copied verbatim into the context
    for name in ("requirements.txt", "requirements.yml", "bindep.txt"):
        copied = os.path.join(build, name)
        if not os.path.isfile(copied):
            fail("_build/%s missing" % name)
        if read(copied) != read(os.path.join(repo, name)):
            fail("_build/%s differs from the collection's %s" % (name, name))
    for pkg in ("boto3", "botocore", "google-auth", "kubernetes", "cryptography", "PyYAML", "requests"):
        if not re.search(r"^%s\b" % re.escape(pkg), read(os.path.join(build, "requirements.txt")), re.M):
            fail("python dependency %s missing from _build/requirements.txt" % pkg)
    galaxy = yaml.safe_load(read(os.path.join(build, "requirements.yml")))
    names = {c["name"] for c in galaxy["collections"]}
    if not {"kubernetes.core", "amazon.aws"} <= names:
        fail("collection requirements lack kubernetes.core/amazon.aws: %s" % names)
    bindep = read(os.path.join(build, "bindep.txt"))
    for pkg in ("ca-certificates", "tar"):
        if not re.search(r"^%s\s" % pkg, bindep, re.M):
            fail("bindep.txt lacks %s" % pkg)

    # the collection's own EE metadata, which introspection of the installed collection reads
    meta = yaml.safe_load(read(os.path.join(repo, "meta", "execution-environment.yml")))
    if meta.get("dependencies") != {"python": "requirements.txt", "system": "bindep.txt"}:
        fail("meta/execution-environment.yml dependencies: %s" % meta.get("dependencies"))

    # the Containerfile: stages, pins, dependency files, introspection, the collection tarball
    expect = [
        'ARG EE_BASE_IMAGE="%s"' % ee["images"]["base_image"]["name"],
        'ARG PYCMD="/usr/bin/python3.11"',
        "ansible-core==2.19.14",
        "ansible-runner==",
        "FROM $EE_BASE_IMAGE AS base", "AS galaxy", "AS builder", "AS final",
        "-r requirements.yml --collections-path \"/usr/share/ansible/collections\"",
        "COPY _build/requirements.txt requirements.txt",
        "COPY _build/bindep.txt bindep.txt",
        "introspect.py introspect --user-pip=requirements.txt --user-bindep=bindep.txt",
        "/output/scripts/install-from-bindep",
        "COPY _build/collection/ /build/collection/",
        "ansible-galaxy collection install --offline /build/collection/multicloud-mesh-*.tar.gz",
    ]
    for needle in expect:
        if needle not in text:
            fail("Containerfile lacks %r" % needle)
    pin = [line for line in read(os.path.join(repo, "test-requirements.txt")).splitlines()
           if line.startswith("ansible-core==")]
    if not pin or pin[0] not in text:
        fail("the EE's ansible-core is not the project's pin %s" % pin)
    tarballs = [f for f in os.listdir(os.path.join(build, "collection")) if f.startswith("multicloud-mesh-")]
    if len(tarballs) != 1:
        fail("expected one collection tarball in _build/collection, found %s" % tarballs)

    # no cloud CLIs: the modules authenticate in Python
    content = [line for line in (text + bindep + read(os.path.join(build, "requirements.txt"))).splitlines()
               if not line.lstrip().startswith("#")]
    lowered = "\n".join(content).lower()
    for cli in ("awscli", "aws-cli", "google-cloud-sdk", "google-cloud-cli", "gcloud"):
        if cli in lowered:
            fail("%s is in the execution environment" % cli)

    # istioctl: the pinned version, verified with the collection's own checksum table
    version = re.search(r"^ARG ISTIO_VERSION=(\S+)$", text, re.M)
    if not version:
        fail("no ARG ISTIO_VERSION in the final stage")
    version = version.group(1)
    final = text[text.index("AS final"):]
    if "ISTIO_VERSION" not in final or "find_istioctl" not in final:
        fail("the istioctl step is not in the final stage or does not verify the checksum")
    pinned = env_file(os.path.join(repo, "sandbox", "build", "istio", "version.env")).get("ISTIO_VERSION")
    if pinned and pinned != version:
        fail("EE ISTIO_VERSION %s != sandbox/build/istio/version.env %s" % (version, pinned))
    sys.path.insert(0, os.path.join(repo, ".cache", "collections"))
    from ansible_collections.multicloud.mesh.plugins.module_utils import istio  # noqa: E402
    if istio.DEFAULT_ISTIO_VERSION != version or version not in istio.ISTIOCTL_SHA256:
        fail("EE ISTIO_VERSION %s is not the module's default %s / in its checksum table %s"
             % (version, istio.DEFAULT_ISTIO_VERSION, sorted(istio.ISTIOCTL_SHA256)))
    print("context OK: Containerfile (%d lines), requirements.txt, requirements.yml, bindep.txt, %s, istioctl %s"
          % (text.count("\n"), tarballs[0], version))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
