# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Build and write kubeconfig files for the clusters the collection creates.

One context per cluster, named after the cluster; files are written 0600
atomically, and only when their content changes (so ``changed`` is exact).
The diff never contains credentials: user entries are redacted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import hashlib
import os
import tempfile

try:
    import yaml
except ImportError:  # pragma: no cover - reported by the caller
    yaml = None

REDACTED = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def build_kubeconfig(cluster_name, server, ca_pem, user):
    """Return a kubeconfig dict with one cluster, user and context named ``cluster_name``.

    ``user`` is the kubeconfig ``user`` mapping: ``{"token": ...}`` or
    ``{"exec": {...}}``.
    """
    if isinstance(ca_pem, str):
        ca_pem = ca_pem.encode("utf-8")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{
            "name": cluster_name,
            "cluster": {
                "server": server,
                "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
            },
        }],
        "users": [{"name": cluster_name, "user": user}],
        "contexts": [{
            "name": cluster_name,
            "context": {"cluster": cluster_name, "user": cluster_name},
        }],
        "current-context": cluster_name,
    }


def redact(config):
    """A copy of a kubeconfig dict safe to show in diff or results."""
    safe = copy.deepcopy(config or {})
    for entry in safe.get("users") or []:
        user = entry.get("user") or {}
        for key in list(user):
            if key in ("token", "client-key-data", "password", "client-certificate-data"):
                user[key] = REDACTED
        args = (user.get("exec") or {}).get("args") or []
        for index, arg in enumerate(args):
            # the token helper's source (kubeconfig_auth=builtin): its digest, not 200 lines, in a diff
            if index and args[index - 1] == "-c" and isinstance(arg, str) and "\n" in arg:
                args[index] = "<program of %d lines, sha256 %s>" % (
                    arg.count("\n"), hashlib.sha256(arg.encode("utf-8")).hexdigest()[:16])
    return safe


if yaml is not None:
    class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """SafeDumper that writes multi-line strings (the token helper's source in an exec entry) as
        literal blocks, readable in the file, instead of one escaped line."""

    def _str_representer(dumper, data):
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, _str_representer)


def _dump(config):
    return yaml.dump(config, Dumper=_Dumper, default_flow_style=False, sort_keys=True)


def write_file_0600(path, content, check_mode=False):
    """Write ``content`` (str) to ``path`` with mode 0600 when it differs.

    Returns True when the file changed (or would change in check mode).
    """
    path = os.path.expanduser(path)
    current = None
    if os.path.exists(path):
        with open(path, "r") as handle:
            current = handle.read()
    mode_ok = current is not None and (os.stat(path).st_mode & 0o777) == 0o600
    if current == content and mode_ok:
        return False
    if check_mode:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubeconfig-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def write_kubeconfig(path, cluster_name, server, ca_pem, user, check_mode=False):
    """Write a kubeconfig for one cluster to ``path`` (0600).

    Returns ``(changed, diff)``; the diff has ``before``/``after`` with
    credentials redacted.
    """
    config = build_kubeconfig(cluster_name, server, ca_pem, user)
    before = None
    expanded = os.path.expanduser(path)
    if os.path.exists(expanded):
        with open(expanded, "r") as handle:
            try:
                before = yaml.safe_load(handle)
            except yaml.YAMLError:
                before = None
    changed = write_file_0600(path, _dump(config), check_mode=check_mode)
    diff = {"before": redact(before), "after": redact(config),
            "before_header": path, "after_header": path}
    return changed, diff
