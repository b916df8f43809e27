# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cacerts_summary
short_description: Public facts of Istio's C(cacerts) Secret, never its key
version_added: 1.0.0
author: multicloud.mesh contributors
description:
  - Takes Istio's plug-in CA Secret (C(istio-system/cacerts)) as returned by M(kubernetes.core.k8s_info) and returns
    only public facts - names, SHA-256 fingerprints, subjects and expiry dates (notAfter) - plus the problems found.
  - Checks what the mesh CA module writes (the checks of C(plugins/module_utils/mesh_ca.py)) - all four entries
    present, C(ca-key.pem) matches C(ca-cert.pem), C(cert-chain.pem) starts with C(ca-cert.pem), every certificate of
    it is signed by the next, it ends with C(root-cert.pem), C(ca-cert.pem) is a CA with pathlen 0 and valid now.
  - When O(root) is given, C(root-cert.pem) must also be that root (the last certificate of O(root), like the trust
    anchor of a root bundle given to the mesh_ca module).
  - The result never holds key material or PEM text, and the problems never quote it, so it can be shown and
    logged. Read the Secret with C(no_log=true) and show only this filter's result.
options:
  _input:
    description:
      - The Secret - a dict with C(data) (base64 values, as the Kubernetes API returns them) or C(stringData) -, or
        a list of Secrets (the C(resources) of M(kubernetes.core.k8s_info); empty means there is no Secret), or
        V(null).
    type: raw
    required: true
  root:
    description:
      - PEM text of the mesh root certificate (public), or a bundle whose last certificate is the mesh root.
      - Empty (the default) compares with nothing.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Read istio-system/cacerts (holds the intermediate CA's key, so nothing of it is shown)
  kubernetes.core.k8s_info:
    kubeconfig: "{{ mesh_kubeconfig }}"
    kind: Secret
    namespace: istio-system
    name: cacerts
  register: cacerts_raw
  no_log: true

- name: Only fingerprints and expiry dates
  ansible.builtin.set_fact:
    cacerts: "{{ cacerts_raw.resources | multicloud.mesh.cacerts_summary(root=lookup('file', 'mesh-root.pem')) }}"

- name: Check it
  ansible.builtin.assert:
    that: cacerts.valid
    fail_msg: "cacerts: {{ cacerts.problems | join('; ') }}"
"""

RETURN = r"""
_value:
  description: Public facts of the Secret.
  type: dict
  contains:
    present:
      description: Whether there is a Secret.
      type: bool
    name:
      description: C(namespace/name) of the Secret (empty when there is none).
      type: str
    keys:
      description: The names of its data entries (names only).
      type: list
      elements: str
    valid:
      description: The Secret exists and RV(_value.problems) is empty.
      type: bool
    problems:
      description: What is wrong, one sentence each (empty when nothing is).
      type: list
      elements: str
    ca_cert:
      description: C(ca-cert.pem), the cluster's intermediate CA (empty when unreadable).
      type: dict
      contains:
        subject:
          description: RFC 4514 subject.
          type: str
        issuer:
          description: RFC 4514 issuer.
          type: str
        fingerprint:
          description: SHA-256 fingerprint, colon-separated hex.
          type: str
        not_after:
          description: Expiry date (notAfter), C(YYYY-MM-DDTHH:MM:SSZ).
          type: str
    root_cert:
      description: C(root-cert.pem), the mesh root the cluster trusts (same keys as RV(_value.ca_cert)).
      type: dict
    chain:
      description: The certificates of C(cert-chain.pem), in order (same keys as RV(_value.ca_cert)).
      type: list
      elements: dict
    expected_root:
      description: The root of O(root) (same keys as RV(_value.ca_cert)); empty when O(root) is empty.
      type: dict
    root_matches:
      description: Whether C(root-cert.pem) is the root of O(root); V(null) when O(root) is empty.
      type: bool
"""

import base64
import binascii

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

try:
    from ansible_collections.multicloud.mesh.plugins.module_utils import mesh_ca
except ImportError:  # pragma: no cover - only outside a collection tree
    mesh_ca = None

SECRET_ENTRIES = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")


def _facts(cert):
    info = mesh_ca.describe(cert)
    return {k: info[k] for k in ("subject", "issuer", "fingerprint", "not_after")}


def _secret(value):
    """The one Secret of ``value`` (None when there is none)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) > 1:
            raise AnsibleFilterError("cacerts_summary: expected one Secret, got %d" % len(value))
        return value[0] if value else None
    if isinstance(value, dict):
        return value
    raise AnsibleFilterError("cacerts_summary: expected a Secret (dict) or a list of Secrets, got %s"
                             % type(value).__name__)


def _data(secret, problems):
    """The Secret's entries as text; problems name entries that are not base64 text (never their content)."""
    out = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = to_text(base64.b64decode(to_text(value), validate=True), errors="strict")
        except (binascii.Error, ValueError, TypeError, UnicodeError):
            problems.append("data entry %s is not base64 of text" % key)
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = to_text(value)
    return out


def _cert_facts(text, what):
    try:
        return [_facts(c) for c in mesh_ca.load_certs(text, what)]
    except (mesh_ca.CAError, ValueError, TypeError):
        return []


def cacerts_summary(value, root=""):
    """See DOCUMENTATION."""
    if mesh_ca is None or not mesh_ca.HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("cacerts_summary needs the Python package cryptography on the controller")
    secret = _secret(value)
    result = {"present": secret is not None, "name": "", "keys": [], "valid": False, "problems": [],
              "ca_cert": {}, "root_cert": {}, "chain": [], "expected_root": {}, "root_matches": None}
    expected = None
    if root:
        try:
            expected = mesh_ca.load_certs(root, "the mesh root (root)")[-1]
            result["expected_root"] = _facts(expected)
        except mesh_ca.CAError as exc:
            raise AnsibleFilterError("cacerts_summary: %s" % exc.msg)
    if secret is None:
        result["problems"].append("no Secret")
        return result
    meta = secret.get("metadata") or {}
    result["name"] = "%s/%s" % (meta.get("namespace", ""), meta.get("name", "")) if meta.get("name") else ""
    problems = result["problems"]
    data = _data(secret, problems)
    result["keys"] = sorted(data)
    missing = [k for k in SECRET_ENTRIES if not data.get(k)]
    if missing:
        problems.append("missing or empty: %s" % ", ".join(missing))
    ca_cert = _cert_facts(data.get("ca-cert.pem", ""), "ca-cert.pem")
    root_cert = _cert_facts(data.get("root-cert.pem", ""), "root-cert.pem")
    result["ca_cert"] = ca_cert[0] if ca_cert else {}
    result["root_cert"] = root_cert[0] if root_cert else {}
    result["chain"] = _cert_facts(data.get("cert-chain.pem", ""), "cert-chain.pem")
    if not missing:
        problems.extend(mesh_ca.verify_cacerts(data))
    if len(root_cert) > 1:
        problems.append("root-cert.pem holds %d certificates, not the one mesh root" % len(root_cert))
    if expected is not None:
        result["root_matches"] = bool(root_cert) and root_cert[-1]["fingerprint"] == mesh_ca.fingerprint(expected)
        if not result["root_matches"]:
            problems.append("root-cert.pem (SHA-256 %s) is not the mesh root (SHA-256 %s)"
                            % (result["root_cert"].get("fingerprint", "unreadable"), mesh_ca.fingerprint(expected)))
    result["valid"] = not problems
    return result


class FilterModule(object):
    """multicloud.mesh filters."""

    def filters(self):
        return {"cacerts_summary": cacerts_summary}
