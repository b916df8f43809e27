#!/usr/bin/env python
"""Scan what a sandbox run printed and wrote for key material; exit 1 on a hit outside a 0600 file.

Needles (exact values, collected from the run's sandbox): the AWS secret access key and session
token of env.sh, the GKE service account key (private key lines, key id) of its key file, the
mesh CA's root and intermediate keys (the root store file under <home>/mesh-ca/, Secrets istio-system/cacerts),
every ServiceAccount token Secret and remote secret's reader token, the bearer tokens and client keys of every kubeconfig; each
also base64-encoded. Patterns: PEM private key headers, EKS tokens (k8s-aws-v1.), Google access
tokens (ya29.), JWTs (ServiceAccount tokens).

Scanned: the log folders given (all ansible-playbook output), every file under the sandbox home
except the emulators' and control planes' own state (EXCLUDED), the temp folders given, files
under the extra roots (e.g. /tmp, the repo's .cache) changed since --since (exact needles only
there: other processes may write other keys into /tmp).

  scan_secrets.py --home H --logs L --tmp T [--tmp T2] --since FILE --extra /tmp --extra .cache --json OUT
"""

import argparse
import base64
import json
import os
import re
import stat
import sys

EXCLUDED = ("clusters", "gke-emulator", "aws", "clouds/aws.log", "clouds/gke.log", "clouds/state.json")
PATTERNS = {
    "PEM private key": rb"-----BEGIN (?:RSA |EC |ENCRYPTED |OPENSSH )?PRIVATE KEY-----",
    "EKS token": rb"k8s-aws-v1\.[A-Za-z0-9_-]{40,}",
    "Google access token": rb"ya29\.[A-Za-z0-9_.-]{20,}",
    "JWT (ServiceAccount token)": rb"eyJhbGciOi[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}",
}


def pem_lines(pem):
    """The base64 body lines of a PEM block (each a unique needle)."""
    out = []
    for line in pem.splitlines():
        line = line.strip()
        if line and not line.startswith("-----") and len(line) >= 40:
            out.append(line)
    return out


class Needles:
    def __init__(self):
        self.items = {}  # bytes -> label

    def add(self, value, label):
        if not value:
            return
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if "PRIVATE KEY-----" in value:
            for line in pem_lines(value):
                self.items[line.encode()] = label + " (PEM line)"
            # the middle of the encoded key: its start encodes the PEM header and the DER prefix,
            # which every key of a type shares (a needle there matched any P-256 key)
            b64 = base64.b64encode(value.encode()).decode()
            mid = len(b64) // 2
            self.items[b64[mid - 40:mid + 40].encode()] = label + " (base64)"
            return
        if len(value) < 16:
            return
        self.items[value.encode()] = label
        b64 = base64.b64encode(value.encode()).decode()
        if len(b64) > 40:
            self.items[b64[4:len(b64) - 4].encode()] = label + " (base64)"


def _b64d(text):
    try:
        return base64.b64decode(text).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return ""


def collect(home):
    needles, found = Needles(), {}
    env = os.path.join(home, "clouds", "env.sh")
    with open(env) as handle:
        for line in handle:
            m = re.match(r"export (AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)=(.*)$", line.strip())
            if m:
                value = m.group(2).strip("'\"")
                needles.add(value, m.group(1))
                found[m.group(1)] = True
    found.setdefault("AWS_SESSION_TOKEN", False)
    with open(os.path.join(home, "clouds", "gcp-key.json")) as handle:
        key = json.load(handle)
    needles.add(key["private_key"], "GKE service account private key")
    needles.items[key["private_key_id"].encode()] = "GKE service account key id"
    found["gcp key"] = True
    kubeconfigs = []
    kdir = os.path.join(home, "kubeconfigs")
    if os.path.isdir(kdir):
        kubeconfigs += [os.path.join(kdir, n) for n in os.listdir(kdir)]
    cdir = os.path.join(home, "clusters")
    admin = []
    if os.path.isdir(cdir):
        for name in os.listdir(cdir):
            path = os.path.join(cdir, name, "admin.kubeconfig")
            if os.path.exists(path):
                admin.append(path)
    import yaml
    for path in kubeconfigs + admin:
        with open(path) as handle:
            data = yaml.safe_load(handle)
        for user in data.get("users") or []:
            u = user.get("user") or {}
            needles.add(u.get("token"), "kubeconfig bearer token (%s)" % os.path.basename(path))
            needles.add(_b64d(u.get("client-key-data", "")), "kubeconfig client key (%s)" % path.split("/")[-2 if path in admin else -1])
    # kubeconfig_auth=builtin: the token helper's tokens are in its cache (env.sh: MESH_TOKEN_CACHE_DIR)
    tdir = os.path.join(home, "token-cache")
    helper_tokens = 0
    for name in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        with open(os.path.join(tdir, name)) as handle:
            needles.add(json.load(handle).get("token"), "token helper token (%s)" % name)
        helper_tokens += 1
    counts = {"kubeconfigs": len(kubeconfigs), "admin kubeconfigs": len(admin), "token helper tokens": helper_tokens}
    from kubernetes import client, config
    sa_tokens = ca_keys = 0
    for path in admin:
        api = client.CoreV1Api(config.new_client_from_config(config_file=path))
        for secret in api.list_secret_for_all_namespaces(_request_timeout=20).items:
            data = secret.data or {}
            where = "%s/%s in %s" % (secret.metadata.namespace, secret.metadata.name, path.split("/")[-2])
            if secret.type == "kubernetes.io/service-account-token" and data.get("token"):
                needles.add(_b64d(data["token"]), "ServiceAccount token %s" % where)
                sa_tokens += 1
            if (secret.metadata.labels or {}).get("istio/multiCluster") == "true":
                # a remote secret: a kubeconfig with the reader token (TokenRequest; no token Secret holds it)
                for name, value in data.items():
                    for user in (yaml.safe_load(_b64d(value)) or {}).get("users") or []:
                        token = (user.get("user") or {}).get("token")
                        if token:
                            needles.add(token, "ServiceAccount token %s[%s]" % (where, name))
                            sa_tokens += 1
            for name, value in data.items():
                text = _b64d(value)
                if "PRIVATE KEY-----" in text:
                    needles.add(text, "private key %s[%s]" % (where, name))
                    ca_keys += 1
    # the mesh root's key in the default store: a 0600 file under <home>/mesh-ca/<mesh_id>/ (roles/mesh_ca)
    root_files = 0
    for dirpath, _dirs, files in os.walk(os.path.join(home, "mesh-ca")):
        for name in files:
            with open(os.path.join(dirpath, name)) as handle:
                text = handle.read()
            if "PRIVATE KEY-----" in text:
                needles.add(text[text.find("-----BEGIN", text.find("PRIVATE KEY-----") - 40):], "mesh root key (%s)" % name)
                root_files += 1
    counts.update({"ServiceAccount tokens": sa_tokens, "private keys in Secrets": ca_keys, "root store files": root_files})
    return needles, found, counts


def walk(root, since=None, skip=()):
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel, d)) not in skip]
        for name in filenames:
            path = os.path.join(dirpath, name)
            relpath = os.path.normpath(os.path.join(rel, name))
            if relpath in skip:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if since is not None and st.st_mtime < since:
                continue
            yield path, st


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--logs", action="append", default=[])
    parser.add_argument("--tmp", action="append", default=[])
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--extra-skip", action="append", default=[], help="paths under --extra not scanned")
    parser.add_argument("--since", required=True)
    parser.add_argument("--json")
    args = parser.parse_args()
    since = os.stat(args.since).st_mtime
    needles, found, counts = collect(args.home)
    exact = re.compile(b"|".join(re.escape(n) for n in sorted(needles.items, key=len, reverse=True)))
    generic = [(label, re.compile(rx)) for label, rx in PATTERNS.items()]
    files, total, hits, seen = 0, 0, [], set()
    excluded = 0

    def scan(path, st, with_patterns):
        nonlocal files, total
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return
        files += 1
        total += len(data)
        what = set(needles.items[m.group(0)] for m in exact.finditer(data))
        if with_patterns:
            what |= set(label for label, rx in generic if rx.search(data))
        if what:
            private = (st.st_mode & 0o077) == 0
            hits.append({"path": path, "mode": oct(st.st_mode & 0o777), "private": private,
                         "what": sorted(what)})

    home = os.path.abspath(args.home)
    for path, st in walk(home, skip=set(EXCLUDED)):
        scan(path, st, True)
    for path, st in walk(home):
        rel = os.path.relpath(path, home)
        if any(rel == e or rel.startswith(e + "/") for e in EXCLUDED):
            excluded += 1
    for root in args.logs + args.tmp:
        for path, st in walk(root):
            scan(path, st, True)
    skip_abs = [os.path.abspath(p) for p in args.extra_skip + [home]]
    for root in args.extra:
        for path, st in walk(root, since=since):
            if any(os.path.abspath(path).startswith(s + "/") for s in skip_abs):
                continue
            scan(path, st, False)
    violations = [h for h in hits if not h["private"]]
    report = {"files": files, "bytes": total, "needles": len(needles.items), "found": found, "counts": counts,
              "excluded_emulator_state_files": excluded, "hits": hits, "violations": len(violations)}
    print("secrets scan: %d files, %d bytes, %d needles (%s); %d emulator/control-plane state files not scanned"
          % (files, total, len(needles.items), ", ".join("%s %s" % (v, k) for k, v in counts.items()), excluded))
    print("  AWS session token in env.sh: %s" % ("yes" if found.get("AWS_SESSION_TOKEN") else "not set (nothing to find)"))
    for h in hits:
        print("  %s %s %s: %s" % ("ok (0600)" if h["private"] else "LEAK", h["mode"], h["path"], ", ".join(h["what"])))
    print("secrets scan: %d hits in 0600 files, %d outside 0600 files" % (len(hits) - len(violations), len(violations)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
