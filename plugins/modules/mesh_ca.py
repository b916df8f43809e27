#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mesh_ca
short_description: Root CA of an Istio mesh and one intermediate CA per cluster, installed as cacerts
version_added: 0.1.0
description:
  - Generates the mesh's root CA (or uses one the user supplies, for enterprise PKI) and one intermediate CA
    per cluster, and installs each cluster's C(istio-system/cacerts) Secret with the entries Istio's plug-in
    CA reads - C(ca-cert.pem), C(ca-key.pem), C(root-cert.pem) and C(cert-chain.pem) (intermediate then
    root). Never uses Istio's sample certificates.
  - The root key survives between runs without a local disk - it is kept where O(root_store) says (a 0600
    file or a Kubernetes Secret in a chosen cluster) and reused when present.
  - Idempotent - an intermediate is reissued only when it is missing, unreadable, not signed by the current
    root, expiring within O(renew_before_days), or O(rotate=true); otherwise the Secret is kept byte for
    byte and the task reports C(changed=false). Adding a cluster issues exactly one new intermediate.
  - Every input is checked and every cluster is read before anything is changed - duplicate cluster names,
    a root certificate without its key, a key that does not match, a certificate that is not a CA, an
    unreachable cluster fail with a message naming the problem.
  - Key material is never returned or shown in a diff; results carry subjects, serials, dates and SHA-256
    fingerprints only.
author:
  - multicloud.mesh developers (@multicloud)
extends_documentation_fragment:
  - multicloud.mesh.kube
attributes:
  check_mode:
    support: full
    description: Reads the clusters and the root store and predicts every change without writing anything.
  diff_mode:
    support: full
    description: Shows the root and each cluster's intermediate (subject, serial, expiry, fingerprint) before
      and after; never keys.
options:
  mesh_id:
    description:
      - Identifier of the mesh, written as the OU of a generated root CA's subject.
      - The same ID as M(multicloud.mesh.istio_multicluster)'s O(multicloud.mesh.istio_multicluster#module:mesh_id),
        which writes it as a label value; so a Kubernetes label value here too (at most 63 letters, digits,
        C(-), C(_) and C(.), starting and ending with a letter or digit), checked before anything is read.
    type: str
    required: true
  clusters:
    description:
      - The clusters of the mesh; each gets its own intermediate CA in C(istio-system/cacerts).
      - Names must be unique; the intermediate's subject is C(O=Istio, L=<name>, CN=Intermediate CA <name>).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Cluster name, as used by Istio's C(clusterName).
        type: str
        required: true
      kubeconfig:
        description:
          - The cluster's kubeconfig, as a path, its YAML content, or a dictionary.
          - C(no_log) like O(kubeconfig); a path stays readable.
        type: raw
        required: true
      context:
        description: Context of O(clusters[].kubeconfig); its current context by default.
        type: str
  root_store:
    description:
      - Where the root certificate and key are kept between runs. Required with O(state=present) unless
        O(root_cert) and O(root_key) are given.
      - When it holds a root, that root is reused; when it is empty, a root is generated and written there
        before any cluster is touched.
      - If it is empty but clusters hold C(cacerts) this module made from another root, the task fails instead
        of silently replacing the mesh's root (restore the root or set O(rotate_root=true)).
      - With O(root_cert), the supplied root is written there too.
    type: dict
    suboptions:
      type:
        description:
          - V(file) - a PEM file (certificates then the key) written with mode 0600.
          - V(secret) - an Opaque Secret (entries C(root-cert.pem) and C(root-key.pem)) in a chosen cluster;
            restrict who may read it with RBAC.
        type: str
        choices: [file, secret]
        required: true
      path:
        description: Path of the file, for O(root_store.type=file).
        type: path
      kubeconfig:
        description:
          - Kubeconfig of the cluster holding the Secret, for O(root_store.type=secret). When not set, the
            module's connection options (O(kubeconfig), O(context), O(host), O(api_key), ...) are used.
          - C(no_log) like O(kubeconfig); a path stays readable.
        type: raw
      context:
        description: Context of O(root_store.kubeconfig).
        type: str
      namespace:
        description: Namespace of the Secret (created when missing).
        type: str
        default: mesh-ca
      name:
        description: Name of the Secret.
        type: str
        default: mesh-root-ca
  root_cert:
    description:
      - A root CA certificate to use instead of generating one (PEM). It may be a bundle whose first
        certificate is the signing CA (matching O(root_key)) and whose last is the trust anchor; then
        C(root-cert.pem) holds the anchor and C(cert-chain.pem) the whole chain.
      - Must be a CA allowed to sign CA certificates (no pathlen 0) and not expired.
    type: str
  root_key:
    description:
      - The unencrypted PEM private key of O(root_cert).
    type: str
  key_type:
    description:
      - Key type of generated keys (root and intermediates).
      - Changing it does not reissue existing intermediates; set O(rotate=true) to apply it to them.
    type: str
    choices: [ec-p256, rsa-2048, rsa-4096]
    default: ec-p256
  root_validity_days:
    description: Lifetime of a generated root CA, in days.
    type: int
    default: 3650
  intermediate_validity_days:
    description: Lifetime of each intermediate CA, in days (never past the root's expiry).
    type: int
    default: 365
  renew_before_days:
    description:
      - An intermediate expiring within this many days is reissued. Must be less than
        O(intermediate_validity_days).
    type: int
    default: 30
  trust_domain:
    description:
      - Istio trust domain, written as the SPIFFE URI SAN C(spiffe://<trust_domain>) of each intermediate.
    type: str
    default: cluster.local
  rotate:
    description:
      - Reissue every cluster's intermediate under the same root. Workloads keep trusting each other because
        the root is unchanged; istiod must pick up the new C(cacerts) (recent Istio releases reload it,
        older ones need a restart of istiod).
    type: bool
    default: false
  rotate_root:
    description:
      - Generate a new root, write it to O(root_store) and reissue every intermediate under it.
      - B(Disruptive) - until every workload has a certificate from the new root, workloads holding the old
        and the new root do not trust each other, across clusters too. Never happens unless set.
      - Cannot be combined with O(root_cert); supply the new root there instead.
    type: bool
    default: false
  state:
    description:
      - V(present) installs or refreshes the C(cacerts) Secrets.
      - V(absent) deletes the C(cacerts) Secrets this module manages (label
        C(app.kubernetes.io/managed-by=multicloud.mesh)); others are left alone with a warning. The root
        store is kept unless O(remove_root_store=true).
    type: str
    choices: [present, absent]
    default: present
  remove_root_store:
    description: With O(state=absent), also delete the root store (file or Secret). The root is then lost.
    type: bool
    default: false
requirements:
  - cryptography >= 42 (Python library)
notes:
  - The Secret is named C(cacerts) in namespace C(istio-system) (created when missing), as Istio's plug-in CA
    expects; create it before installing Istio, or istiod generates its own self-signed root.
  - In check mode a root that would be generated is generated in memory only, so its fingerprint in the
    result is not the one a real run produces.
seealso:
  - name: Istio - Plug in CA Certificates
    description: How istiod uses the cacerts Secret.
    link: https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/
"""

EXAMPLES = r"""
- name: Mesh CA for two clusters, root kept in a Secret of the first one
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    clusters:
      - name: mesh-1
        kubeconfig: ~/.kube/mesh-1
      - name: mesh-2
        kubeconfig: ~/.kube/mesh-2
    root_store:
      type: secret
      kubeconfig: ~/.kube/mesh-1
      namespace: mesh-ca
      name: mesh-root-ca
  register: ca

- name: Root kept in a 0600 file (for example on a persistent volume of the runner)
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    # name and kubeconfig of the mesh_cluster fact each cluster host sets
    clusters: >-
      {{ groups['mesh'] | map('extract', hostvars, 'mesh_cluster') | map('dict2items')
         | map('selectattr', 'key', 'in', ['name', 'kubeconfig']) | map('items2dict') | list }}
    root_store:
      type: file
      path: /var/lib/mesh/root-ca.pem

- name: Use the enterprise PKI's issuing CA as the mesh root
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    clusters: "{{ mesh_clusters }}"
    root_cert: "{{ lookup('ansible.builtin.file', 'pki/mesh-issuing-ca-chain.pem') }}"
    root_key: "{{ vault_mesh_issuing_ca_key }}"

- name: Reissue every intermediate under the same root
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    clusters: "{{ mesh_clusters }}"
    root_store: {type: secret, kubeconfig: ~/.kube/mesh-1}
    rotate: true

- name: Remove the cacerts Secrets (the root stays in its store)
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    clusters: "{{ mesh_clusters }}"
    root_store: {type: secret, kubeconfig: ~/.kube/mesh-1}
    state: absent
"""

RETURN = r"""
root:
  description: The root (signing) CA of the mesh; no key material.
  returned: when O(state=present)
  type: dict
  contains:
    subject:
      description: Subject of the signing CA.
      type: str
      sample: CN=Root CA,OU=mesh1,O=Istio
    issuer:
      description: Issuer of the signing CA (its own subject for a self-signed root).
      type: str
    serial:
      description: Serial number, hexadecimal.
      type: str
    not_before:
      description: Start of validity, UTC, ISO 8601.
      type: str
    not_after:
      description: Expiry, UTC, ISO 8601.
      type: str
      sample: "2036-11-23T13:20:00Z"
    fingerprint:
      description: SHA-256 fingerprint of the signing CA certificate.
      type: str
    anchor_fingerprint:
      description: SHA-256 fingerprint of the trust anchor (C(root-cert.pem)); the signing CA's own for a
        self-signed root.
      type: str
    key_type:
      description: Key type of the signing CA.
      type: str
      sample: ec-p256
    source:
      description: V(generated) (new in this run), V(store) (read from O(root_store)) or V(user) (O(root_cert)).
      type: str
    store:
      description: Where the root is stored (C(file:<path>) or C(secret:<namespace>/<name>)) and whether that
        changed.
      type: dict
      contains:
        location:
          description: The store.
          type: str
        changed:
          description: Whether the store was (or would be) written or removed.
          type: bool
root_fingerprint:
  description: SHA-256 fingerprint of the signing root CA (same as RV(root.fingerprint)).
  returned: when O(state=present)
  type: str
  sample: "3A:1F:...:9C"
clusters:
  description: One entry per cluster, in the order given; no key material.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Cluster name.
      type: str
    changed:
      description: Whether its C(cacerts) Secret (or namespace) was, or would be, changed.
      type: bool
    action:
      description:
        - V(created) (new Secret), V(reissued) (new intermediate in an existing Secret), V(updated) (same
          intermediate, other entries refreshed), V(unchanged); with O(state=absent) V(removed), V(absent) or
          V(unmanaged) (left alone).
      type: str
    reason:
      description: Why the intermediate was issued, for example C(no cacerts), C(rotation requested),
        C(not signed by the current root), C(expires within 30 days).
      type: str
    subject:
      description: Subject of the cluster's intermediate CA.
      type: str
      sample: CN=Intermediate CA mesh-1,L=mesh-1,O=Istio
    serial:
      description: Serial number of the intermediate, hexadecimal.
      type: str
    not_before:
      description: Start of validity, UTC.
      type: str
    not_after:
      description: Expiry, UTC.
      type: str
    fingerprint:
      description: SHA-256 fingerprint of the intermediate certificate.
      type: str
    key_type:
      description: Key type of the intermediate.
      type: str
    root_fingerprint:
      description: SHA-256 fingerprint of the root that signed it.
      type: str
    namespace_created:
      description: Whether C(istio-system) was (or would be) created.
      type: bool
root_store_removed:
  description: Whether the root store was (or would be) removed.
  returned: when O(state=absent)
  type: bool
"""

import base64
import os
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicloud.mesh.plugins.module_utils.kube import (
    HAS_KUBERNETES,
    KUBE_ARG_SPEC,
    KUBE_IMP_ERR,
    mask_kubeconfigs,
    KubeError,
    connect,
)
from ansible_collections.multicloud.mesh.plugins.module_utils.kubeconfig import write_file_0600
from ansible_collections.multicloud.mesh.plugins.module_utils import mesh_ca as ca
from ansible_collections.multicloud.mesh.plugins.module_utils import validate

CONNECTION_KEYS = tuple(KUBE_ARG_SPEC)


def _decode(data):
    out = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value).decode("utf-8")
        except (ValueError, UnicodeError, TypeError):
            out[key] = ""
    return out


def _encode(data):
    return dict((k, base64.b64encode(v.encode("utf-8")).decode("ascii")) for k, v in data.items())


def _managed(obj):
    return ((obj.get("metadata") or {}).get("labels") or {}).get(ca.MANAGED_BY_LABEL) == ca.MANAGED_BY


class Cluster(object):
    """One Kubernetes cluster and the objects this module reads and writes there."""

    def __init__(self, name, params, timeout):
        self.name = name
        self.cacerts = None
        self.namespace_found = False
        conn = dict((k, params.get(k)) for k in CONNECTION_KEYS if params.get(k) is not None)
        conn["request_timeout"] = timeout
        try:
            self.kube = connect(conn)
            self.secrets = self.kube.resource("v1", "Secret")
            self.namespaces = self.kube.resource("v1", "Namespace")
        except KubeError as exc:
            raise KubeError("%s: %s" % (name, exc.msg), exc.status)

    def _get(self, resource, name, namespace=None):
        try:
            kwargs = {"name": name}
            if namespace:
                kwargs["namespace"] = namespace
            return self.kube.call(resource.get, **kwargs).to_dict()
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise KubeError("%s: %s" % (self.name, exc.msg), exc.status)

    def get_secret(self, namespace, name):
        return self._get(self.secrets, name, namespace)

    def namespace_exists(self, namespace):
        return self._get(self.namespaces, namespace) is not None

    def _write(self, fn, **kwargs):
        try:
            return self.kube.call(fn, **kwargs)
        except KubeError as exc:
            raise KubeError("%s: %s" % (self.name, exc.msg), exc.status)

    def ensure_namespace(self, namespace):
        if not self.namespace_exists(namespace):
            self._write(self.namespaces.create, body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    def put_secret(self, namespace, name, data, exists):
        labels = {ca.MANAGED_BY_LABEL: ca.MANAGED_BY}
        if exists:
            self._write(self.secrets.patch, name=name, namespace=namespace, content_type="application/merge-patch+json",
                        body={"metadata": {"labels": labels}, "data": _encode(data)})
        else:
            self._write(self.secrets.create, namespace=namespace,
                        body={"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                              "metadata": {"name": name, "namespace": namespace, "labels": labels},
                              "data": _encode(data)})

    def delete_secret(self, namespace, name):
        self._write(self.secrets.delete, name=name, namespace=namespace)


class FileStore(object):
    def __init__(self, path):
        self.path = path  # type path: already expanded
        self.location = "file:%s" % path

    def read(self):
        """(cert bundle PEM, key PEM) or None."""
        if not os.path.exists(self.path):
            return None
        with open(self.path, "r") as handle:
            text = handle.read()
        if not text.strip():
            return None
        return ca.split_store_text(text)

    def needs_write(self, root):
        return write_file_0600(self.path, ca.store_text(root), check_mode=True)

    def write(self, root):
        write_file_0600(self.path, ca.store_text(root))

    def exists(self):
        return os.path.exists(self.path)

    def remove(self):
        os.unlink(self.path)


class SecretStore(object):
    def __init__(self, spec, module_params, timeout):
        conn = dict((k, module_params.get(k)) for k in CONNECTION_KEYS)
        if spec.get("kubeconfig") is not None:
            conn = {"kubeconfig": spec["kubeconfig"], "context": spec.get("context")}
        elif spec.get("context"):
            conn["context"] = spec["context"]
        self.namespace = spec["namespace"]
        self.name = spec["name"]
        self.location = "secret:%s/%s" % (self.namespace, self.name)
        self.cluster = Cluster("root_store %s" % self.location, conn, timeout)
        self.current = self.cluster.get_secret(self.namespace, self.name)

    def _want(self, root):
        return {ca.STORE_CERT_KEY: root.bundle_pem, ca.STORE_KEY_KEY: root.key_pem}

    def read(self):
        if self.current is None:
            return None
        data = _decode(self.current.get("data"))
        if not data.get(ca.STORE_CERT_KEY) and not data.get(ca.STORE_KEY_KEY):
            return None
        return data.get(ca.STORE_CERT_KEY, ""), data.get(ca.STORE_KEY_KEY, "")

    def needs_write(self, root):
        if self.current is None or not _managed(self.current):
            return True
        data = _decode(self.current.get("data"))
        return any(data.get(k) != v for k, v in self._want(root).items())

    def write(self, root):
        self.cluster.ensure_namespace(self.namespace)
        self.cluster.put_secret(self.namespace, self.name, self._want(root), self.current is not None)

    def exists(self):
        return self.current is not None

    def remove(self):
        self.cluster.delete_secret(self.namespace, self.name)


def _view(info):
    keys = ("subject", "serial", "not_after", "fingerprint")
    return dict((k, info.get(k)) for k in keys) if info else None


TRUST_DOMAIN_RE = re.compile(r"^[a-z0-9._-]{1,255}\Z")  # the SPIFFE ID standard's trust domain characters


class MeshCA(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.user_root = None

    # -- validation, before anything is read or written ------------------------------

    def validate(self):
        p = self.params
        problems = validate.errors(validate.not_empty(p["mesh_id"], "mesh_id"),
                                   # the mesh ID the istio_multicluster module writes as a label value
                                   validate.label_value(p["mesh_id"], "mesh_id", "mesh ID (a Kubernetes label value)"))
        if not TRUST_DOMAIN_RE.match(p["trust_domain"] or ""):
            problems.append("trust_domain %r is not a SPIFFE trust domain: use lowercase letters, digits, '.', '-' "
                            "and '_', like cluster.local" % p["trust_domain"])
        if problems:
            self.fail("; ".join(problems))
        names = [c["name"] for c in p["clusters"]]
        if not names:
            self.fail("clusters is empty: give at least one cluster")
        if any(not (n or "").strip() for n in names):
            self.fail("every cluster needs a non-empty name")
        dups = sorted(set(n for n in names if names.count(n) > 1))
        if dups:
            self.fail("duplicate cluster names: %s; each cluster needs a unique name" % ", ".join(dups))
        for key in ("root_validity_days", "intermediate_validity_days"):
            if p[key] < 1:
                self.fail("%s must be at least 1, got %d" % (key, p[key]))
        if p["renew_before_days"] < 0 or p["renew_before_days"] >= p["intermediate_validity_days"]:
            self.fail("renew_before_days (%d) must be between 0 and intermediate_validity_days (%d) - 1, "
                      "or every run would reissue the intermediates" % (p["renew_before_days"], p["intermediate_validity_days"]))
        if p["rotate_root"] and p["root_cert"]:
            self.fail("rotate_root cannot be combined with root_cert: to change a user-supplied root, pass the new one in root_cert")
        store = p["root_store"]
        if store and store["type"] == "file" and not store.get("path"):
            self.fail("root_store.path is required when root_store.type is file")
        if p["state"] == "present" and not store and not p["root_cert"]:
            self.fail("root_store is required unless root_cert and root_key are given: the root key must be kept "
                      "somewhere to be reused by the next run")
        if p["state"] == "present" and p["rotate_root"] and not store:
            self.fail("rotate_root needs root_store, where the new root is kept")
        if p["state"] == "present" and p["root_cert"]:
            try:
                self.user_root = ca.load_root(p["root_cert"], p["root_key"], source="user")
            except ca.CAError as exc:
                self.fail("%s; nothing was changed" % exc.msg)

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    # -- connections and reads ---------------------------------------------------------

    def connect_clusters(self):
        timeout = self.params["request_timeout"]
        clusters, errors = [], []
        for spec in self.params["clusters"]:
            try:
                cluster = Cluster(spec["name"], spec, timeout)
                cluster.cacerts = cluster.get_secret(ca.CACERTS_NAMESPACE, ca.CACERTS_NAME)
                cluster.namespace_found = cluster.cacerts is not None or cluster.namespace_exists(ca.CACERTS_NAMESPACE)
                clusters.append(cluster)
            except KubeError as exc:
                errors.append("cluster %s" % exc.msg)
        if errors:
            self.fail("cannot read every cluster, nothing was changed: %s" % "; ".join(errors))
        return clusters

    def open_store(self):
        store = self.params["root_store"]
        if not store:
            return None
        if store["type"] == "file":
            return FileStore(store["path"])
        try:
            return SecretStore(store, self.params, self.params["request_timeout"])
        except KubeError as exc:
            self.fail("cannot read the root store, nothing was changed: %s" % exc.msg)

    def load_root(self, store, clusters):
        p = self.params
        if self.user_root is not None:
            root = self.user_root
            if store is not None:
                held = store.read()
                if held:
                    try:
                        old = ca.load_root(held[0], held[1], source="store")
                        if old.fingerprint != root.fingerprint:
                            self.module.warn("the root store %s held another root (%s); it is replaced by root_cert"
                                             % (store.location, old.fingerprint))
                    except ca.CAError:
                        pass
            return root
        held = store.read()
        if held and not p["rotate_root"]:
            return ca.load_root(held[0], held[1], source="store")
        if not p["rotate_root"]:
            foreign = [c for c in clusters if c.cacerts is not None and _managed(c.cacerts)]
            if foreign:
                self.fail("the root store %s holds no root, but clusters %s have cacerts made by this module from "
                          "another root; restore that root into the store, or set rotate_root=true to replace it "
                          "(disruptive). Nothing was changed." % (store.location, ", ".join(c.name for c in foreign)))
        return ca.new_root(p["mesh_id"], p["key_type"], p["root_validity_days"])

    # -- present -----------------------------------------------------------------------

    def present(self):
        p = self.params
        clusters = self.connect_clusters()
        store = self.open_store()
        try:
            root = self.load_root(store, clusters)
        except ca.CAError as exc:
            self.fail(exc.msg)
        store_changed = store is not None and store.needs_write(root)
        left = ca.not_after(root.cert) - ca.utcnow()
        if left.days < p["intermediate_validity_days"]:
            self.module.warn("the root %s expires on %s, in %d days: intermediates cannot outlive it; plan a root "
                             "rotation (rotate_root, or a new root_cert)" % (root.fingerprint, root.describe()["not_after"], left.days))

        plans = []
        for cluster in clusters:
            existing = _decode(cluster.cacerts.get("data")) if cluster.cacerts is not None else None
            plan = ca.plan_cacerts(existing, root, cluster.name, key_type=p["key_type"],
                                   validity_days=p["intermediate_validity_days"],
                                   renew_before_days=p["renew_before_days"], rotate=p["rotate"],
                                   trust_domain=p["trust_domain"])
            label_missing = cluster.cacerts is not None and not _managed(cluster.cacerts)
            if label_missing and plan["reissued"]:
                self.module.warn("cluster %s: istio-system/cacerts was not made by this module and is replaced (%s)"
                                 % (cluster.name, plan["reason"]))
            plan["changed"] = plan["changed"] or label_missing or not cluster.namespace_found
            plans.append((cluster, existing, plan))

        # The root is stored before any cluster depends on it.
        if store_changed and not self.check_mode:
            try:
                store.write(root)
            except (KubeError, OSError) as exc:
                self.fail("cannot write the root store %s, no cluster was changed: %s"
                          % (store.location, getattr(exc, "msg", str(exc))))

        results, before, after, errors = [], {}, {}, []
        for cluster, existing, plan in plans:
            info = ca.describe(plan["cert"])
            if plan["changed"] and not self.check_mode:
                try:
                    if not cluster.namespace_found:
                        cluster.ensure_namespace(ca.CACERTS_NAMESPACE)
                    cluster.put_secret(ca.CACERTS_NAMESPACE, ca.CACERTS_NAME, plan["data"], cluster.cacerts is not None)
                except KubeError as exc:
                    errors.append(exc.msg)
            if cluster.cacerts is None:
                action = "created"
            elif plan["reissued"]:
                action = "reissued"
            else:
                action = "updated" if plan["changed"] else "unchanged"
            results.append({
                "name": cluster.name, "changed": plan["changed"], "action": action, "reason": plan["reason"],
                "subject": info["subject"], "serial": info["serial"], "not_before": info["not_before"],
                "not_after": info["not_after"], "fingerprint": info["fingerprint"], "key_type": info["key_type"],
                "root_fingerprint": root.fingerprint, "namespace_created": not cluster.namespace_found,
            })
            before[cluster.name] = self._existing_view(existing)
            after[cluster.name] = dict(_view(info), root_fingerprint=root.fingerprint)

        root_info = root.describe()
        root_info["store"] = {"location": store.location if store else None, "changed": store_changed}
        changed = store_changed or any(r["changed"] for r in results)
        result = {"changed": changed, "root": root_info, "root_fingerprint": root.fingerprint, "clusters": results}
        if self.module._diff:
            result["diff"] = {"before": {"root": self._store_view(store), "clusters": before},
                              "after": {"root": _view(root_info), "clusters": after}}
        if errors:
            self.fail("cannot install cacerts in every cluster: %s" % "; ".join(errors), **result)
        self.exit(result)

    def _existing_view(self, existing):
        if not existing or not existing.get("ca-cert.pem"):
            return None
        try:
            view = _view(ca.describe(ca.load_certs(existing["ca-cert.pem"], "ca-cert.pem")[0]))
            view["root_fingerprint"] = ca.fingerprint(ca.load_certs(existing.get("cert-chain.pem") or existing["root-cert.pem"],
                                                                    "cert-chain.pem")[-1])
            return view
        except (ca.CAError, KeyError):
            return {"subject": "unreadable"}

    @staticmethod
    def _store_view(store):
        if store is None:
            return None
        try:
            held = store.read()
        except ca.CAError:
            return {"subject": "unreadable"}
        if not held:
            return None
        try:
            return _view(ca.describe(ca.load_certs(held[0], "root")[0]))
        except ca.CAError:
            return {"subject": "unreadable"}

    # -- absent ------------------------------------------------------------------------

    def absent(self):
        clusters = self.connect_clusters()
        store = self.open_store() if self.params["remove_root_store"] else None
        if self.params["remove_root_store"] and store is None:
            self.fail("remove_root_store needs root_store")
        results, errors = [], []
        for cluster in clusters:
            secret = cluster.cacerts
            if secret is None:
                action = "absent"
            elif not _managed(secret):
                action = "unmanaged"
                self.module.warn("cluster %s: istio-system/cacerts is not labelled %s=%s, so it was left alone"
                                 % (cluster.name, ca.MANAGED_BY_LABEL, ca.MANAGED_BY))
            else:
                action = "removed"
                if not self.check_mode:
                    try:
                        cluster.delete_secret(ca.CACERTS_NAMESPACE, ca.CACERTS_NAME)
                    except KubeError as exc:
                        errors.append(exc.msg)
            results.append({"name": cluster.name, "changed": action == "removed", "action": action})
        store_removed = store is not None and store.exists()
        if store_removed and not self.check_mode:
            try:
                store.remove()
            except (KubeError, OSError) as exc:
                errors.append("root store %s: %s" % (store.location, getattr(exc, "msg", str(exc))))
        result = {"changed": store_removed or any(r["changed"] for r in results), "clusters": results,
                  "root_store_removed": store_removed}
        if self.module._diff:
            result["diff"] = {"before": {"clusters": dict((r["name"], r["action"] in ("removed", "unmanaged")) for r in results),
                                         "root_store": store.location if store_removed else None},
                              "after": {"clusters": dict((r["name"], r["action"] == "unmanaged") for r in results),
                                        "root_store": None}}
        if errors:
            self.fail("cannot remove everything: %s" % "; ".join(errors), **result)
        self.exit(result)

    def exit(self, result):
        self.module.exit_json(**result)

    def run(self):
        self.validate()
        if self.params["state"] == "absent":
            self.absent()
        else:
            self.present()


def main():
    argument_spec = dict(KUBE_ARG_SPEC)
    argument_spec.update(
        mesh_id=dict(type="str", required=True),
        clusters=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            kubeconfig=dict(type="raw", required=True, no_log=True),
            context=dict(type="str"),
        )),
        root_store=dict(type="dict", options=dict(
            type=dict(type="str", required=True, choices=["file", "secret"]),
            path=dict(type="path"),
            kubeconfig=dict(type="raw", no_log=True),
            context=dict(type="str"),
            namespace=dict(type="str", default="mesh-ca"),
            name=dict(type="str", default="mesh-root-ca"),
        )),
        root_cert=dict(type="str"),
        root_key=dict(type="str", no_log=True),
        key_type=dict(type="str", choices=list(ca.KEY_TYPES), default="ec-p256"),
        root_validity_days=dict(type="int", default=3650),
        intermediate_validity_days=dict(type="int", default=365),
        renew_before_days=dict(type="int", default=30),
        trust_domain=dict(type="str", default="cluster.local"),
        rotate=dict(type="bool", default=False),
        rotate_root=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        remove_root_store=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=[("root_cert", "root_key")],
        mutually_exclusive=[("kubeconfig", "host")],
        supports_check_mode=True,
    )
    mask_kubeconfigs(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBE_IMP_ERR)
    if not ca.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=ca.CRYPTOGRAPHY_IMP_ERR)
    try:
        MeshCA(module).run()
    except ca.CAError as exc:
        module.fail_json(msg=exc.msg)
    except KubeError as exc:
        module.fail_json(msg=exc.msg, status=exc.status)


if __name__ == "__main__":
    main()
