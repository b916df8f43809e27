#!/usr/bin/env python
"""Fail when a log holds one of the given secret values, in any form Ansible prints it.

  scan_output.py LOG [LOG ...] [--values FILE|-] [--kubeconfig KUBECONFIG ...] [--min-values N]

Values (never printed, never taken from the command line, where ps would show them):
  --values FILE   one secret value per line, or a JSON list of --save-values (`-`: standard input)
  --kubeconfig K  read from that cluster what verify.yml must not show: istio-system/cacerts'
                  ca-key.pem, and every remote secret (istio-system, label istio/multiCluster=true):
                  each data entry (a kubeconfig) and the bearer tokens and client keys inside it
  --key-file F    the private key block(s) of a PEM file (e.g. the mesh root store file)
  --save-values S also write the values collected to S (mode 0600, a JSON list), for a later scan
                  after the clusters are gone (--values S)
Each value is searched as is, JSON-escaped (as Ansible prints strings at -v), line by line for
private keys (PEM bodies), and base64-encoded at each of the 3 byte alignments (so it is found
inside the base64 of a larger text, e.g. a token inside a Secret's base64 kubeconfig).
Exit 0: no hit; 1: a hit (log, line number and what, never the value); 2: fewer than --min-values
values (default 1) were collected - a scan that has nothing to look for is a failure, not a pass.
"""

import argparse
import base64
import json
import os
import sys

MIN_LEN = 16  # shorter values would match by chance


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def _b64d(value):
    try:
        return base64.b64decode(value).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return ""


def forms(value):
    """(needle bytes, form) pairs for one secret value."""
    raw = value.encode("utf-8")
    out = {raw: "as is", json.dumps(value)[1:-1].encode(): "JSON-escaped"}
    # line by line only for a private key's PEM body: the other lines of a multi-line value (a kubeconfig's
    # server and certificate-authority-data) are public and stand in every kubeconfig of that cluster
    for line in value.splitlines() if "PRIVATE KEY-----" in value else []:
        line = line.strip()
        if len(line) >= 32 and not line.startswith("-----"):
            out.setdefault(line.encode(), "a line of it")
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw)
        start = 4 if shift else 0  # the first group mixes in the padding bytes
        end = len(enc) - 4 if (shift + len(raw)) % 3 else len(enc)  # the last group depends on what follows
        if end - start >= 20:
            out.setdefault(enc[start:end], "base64")
    return out


def from_kubeconfig(path):
    """(value, label) pairs of the Secrets verify.yml reads in that cluster."""
    import yaml
    from kubernetes import client, config
    api = client.CoreV1Api(config.new_client_from_config(config_file=path))
    out = []
    try:
        cacerts = api.read_namespaced_secret("cacerts", "istio-system", _request_timeout=20)
        key = _b64d((cacerts.data or {}).get("ca-key.pem", ""))
        if key:
            out.append((key, "istio-system/cacerts ca-key.pem"))
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    remote = api.list_namespaced_secret("istio-system", label_selector="istio/multiCluster=true", _request_timeout=20)
    for secret in remote.items:
        where = "istio-system/%s" % secret.metadata.name
        for name, value in (secret.data or {}).items():
            text = _b64d(value)
            out.append((text, "%s[%s]" % (where, name)))
            try:
                kubeconfig = yaml.safe_load(text) or {}
            except yaml.YAMLError:
                continue
            for user in (kubeconfig.get("users") or []) if isinstance(kubeconfig, dict) else []:
                u = user.get("user") or {}
                out.append((_text(u.get("token")), "%s[%s] token" % (where, name)))
                out.append((_b64d(u.get("client-key-data", "")), "%s[%s] client key" % (where, name)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--values", help="file with one secret value per line, - for stdin")
    parser.add_argument("--kubeconfig", action="append", default=[])
    parser.add_argument("--key-file", action="append", default=[])
    parser.add_argument("--save-values")
    parser.add_argument("--min-values", type=int, default=1)
    args = parser.parse_args(argv)
    values = []
    if args.values:
        handle = sys.stdin if args.values == "-" else open(args.values)
        with handle:
            text = handle.read()
        try:  # a file of --save-values: a JSON list (multi-line values kept whole)
            listed = json.loads(text)
        except ValueError:
            listed = text.splitlines()
        values += [(value, "value %d of %s" % (i + 1, args.values)) for i, value in enumerate(listed)]
    for path in args.kubeconfig:
        where = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))), os.path.basename(path))
        values += [(v, "%s (read with %s)" % (label, where)) for v, label in from_kubeconfig(path)]
    for path in args.key_file:
        with open(path) as handle:
            text = handle.read()
        start = text.find("-----BEGIN")
        keys = [block for block in text[start:].split("-----END") if "PRIVATE KEY" in block] if start >= 0 else []
        values += [(line, "private key of %s" % path) for block in keys for line in block.splitlines()
                   if line.strip() and "-----" not in line]
    values = [(v, label) for v, label in values if len(v.strip()) >= MIN_LEN]
    if args.save_values:
        fd = os.open(args.save_values, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump([value for value, _label in values], handle)
    if len(values) < args.min_values:
        print("scan_output: %d secret values collected, fewer than %d: nothing to scan for" % (len(values), args.min_values))
        return 2
    needles = {}
    for value, label in values:
        for needle, form in forms(value.strip()).items():
            needles.setdefault(needle, "%s (%s)" % (label, form))
    hits = 0
    for log in args.logs:
        with open(log, "rb") as handle:
            for number, line in enumerate(handle, 1):
                for needle, what in needles.items():
                    if needle in line:
                        hits += 1
                        print("scan_output: HIT %s:%d: %s" % (log, number, what))
    print("scan_output: %d values (%d needles), %d logs: %d hits" % (len(values), len(needles), len(args.logs), hits))
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
