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
  - The root key survives between runs where O(root_store) says - a 0600 file on the controller, a secret of
    AWS Secrets Manager, or (only when asked for, see the warning there) a Kubernetes Secret - and is reused
    when present. It can also come from a vault or an AWX credential as O(root_cert) and O(root_key).
  - The root key is read only when something must be signed or stored - a new or reissued intermediate, a
    new root, a root store to write. A run that keeps every intermediate reads the root's certificates only
    (from a file store, not its key lines; from AWS Secrets Manager, the fingerprint tag alone) and reports
    RV(root.key_read=false).
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
      - The role M(multicloud.mesh.mesh_ca) defaults to a file on the controller,
        C(~/.multicloud-mesh/<mesh_id>/root-ca.pem).
    type: dict
    suboptions:
      type:
        description:
          - V(file) - a PEM file on the controller (certificates then the key) written with mode 0600; folders the
            module creates for it are 0700.
          - V(aws_secretsmanager) - a secret of AWS Secrets Manager named O(root_store.name), whose value is JSON
            with the entries C(root-cert.pem) and C(root-key.pem); tagged C(app.kubernetes.io/managed-by) and
            C(multicloud.mesh/root-fingerprint) (the root's SHA-256 fingerprint, public), so that a run with
            nothing to sign needs only C(secretsmanager:DescribeSecret). Needs C(boto3).
          - V(secret) - an Opaque Secret (entries C(root-cert.pem) and C(root-key.pem)) in a chosen cluster.
            B(Not recommended) and warned about on every run - the remote secrets of a multi-cluster mesh give
            every other cluster's istiod the C(istio-reader) ClusterRole in each cluster, which reads Secrets in
            all namespaces, so one compromised cluster could read the root key and forge identities for the whole
            mesh. Use it only for a cluster outside the mesh, or with that risk accepted.
        type: str
        choices: [file, secret, aws_secretsmanager]
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
        description:
          - Name of the Secret (O(root_store.type=secret)), or name or ARN of the secret of AWS Secrets Manager
            (O(root_store.type=aws_secretsmanager); created when missing, which needs its name, not an ARN).
        type: str
        default: mesh-root-ca
      kms_key_id:
        description:
          - KMS key (ID, ARN or alias) that encrypts a secret of AWS Secrets Manager the module creates; the account's
            C(aws/secretsmanager) key by default.
        type: str
      recovery_window_days:
        description:
          - With O(remove_root_store=true) and O(root_store.type=aws_secretsmanager) - days during which the deleted
            secret can still be restored (7 to 30), or V(0) to delete it at once without recovery.
        type: int
        default: 30
      region:
        description:
          - AWS region of the secret, for O(root_store.type=aws_secretsmanager).
          - E(AWS_REGION), E(AWS_DEFAULT_REGION) or E(EC2_REGION) when not set.
        type: str
        aliases: [aws_region, ec2_region]
      profile:
        description:
          - Named profile of the AWS shared configuration files. Mutually exclusive with O(root_store.access_key).
          - E(AWS_PROFILE) or E(AWS_DEFAULT_PROFILE) when not set.
        type: str
        aliases: [aws_profile]
      access_key:
        description:
          - AWS access key ID; E(AWS_ACCESS_KEY_ID), E(AWS_ACCESS_KEY) or E(EC2_ACCESS_KEY) when not set (the AWX
            C(Amazon Web Services) credential sets E(AWS_ACCESS_KEY_ID)); else boto3's default chain.
        type: str
        aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
      secret_key:
        description: AWS secret access key; E(AWS_SECRET_ACCESS_KEY), E(AWS_SECRET_KEY) or E(EC2_SECRET_KEY) when not set.
        type: str
        aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
      session_token:
        description:
          - AWS session token; E(AWS_SESSION_TOKEN), E(AWS_SECURITY_TOKEN) or E(EC2_SECURITY_TOKEN) when not set.
        type: str
        aliases: [aws_session_token, security_token, aws_security_token]
      endpoint_url:
        description:
          - URL of the AWS API instead of the public endpoint (the sandbox's AWS emulator); E(AWS_ENDPOINT_URL) when
            not set.
        type: str
        aliases: [aws_endpoint_url]
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
    description:
      - With O(state=absent), also delete the root store (file or Secret). The root is then lost.
      - With O(clusters=[]), only the root store is removed (for a mesh whose clusters are already deleted).
    type: bool
    default: false
requirements:
  - cryptography >= 42 (Python library)
  - boto3 >= 1.34 and botocore >= 1.34, for O(root_store.type=aws_secretsmanager)
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
- name: Mesh CA for two clusters, root kept in a 0600 file on the controller
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    clusters:
      - name: mesh-1
        kubeconfig: ~/.kube/mesh-1
      - name: mesh-2
        kubeconfig: ~/.kube/mesh-2
    root_store:
      type: file
      path: ~/.multicloud-mesh/mesh1/root-ca.pem
  register: ca

- name: Root kept in AWS Secrets Manager (an ephemeral runner such as AWX keeps nothing)
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    clusters: "{{ mesh_clusters }}"
    root_store:
      type: aws_secretsmanager
      name: multicloud-mesh/mesh1/root-ca
      region: eu-central-1

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
    root_store: {type: file, path: ~/.multicloud-mesh/mesh1/root-ca.pem}
    rotate: true

- name: Remove the cacerts Secrets (the root stays in its store)
  multicloud.mesh.mesh_ca:
    mesh_id: mesh1
    clusters: "{{ mesh_clusters }}"
    root_store: {type: file, path: ~/.multicloud-mesh/mesh1/root-ca.pem}
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
    key_read:
      description:
        - Whether the root's private key was read (or generated, or given) in this run - only when an intermediate
          had to be signed or the root store written.
      type: bool
    store:
      description: Where the root is stored (C(file:<path>), C(aws_secretsmanager:<name or ARN>) or
        C(secret:<namespace>/<name>)) and whether that changed.
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
import json
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
from ansible_collections.multicloud.mesh.plugins.module_utils import aws
from ansible_collections.multicloud.mesh.plugins.module_utils import mesh_ca as ca
from ansible_collections.multicloud.mesh.plugins.module_utils import validate

CONNECTION_KEYS = tuple(KUBE_ARG_SPEC)
STORE_TYPES = ("file", "secret", "aws_secretsmanager")
# The tag of an AWS Secrets Manager root store that names the root it holds (public), so that a
# run with nothing to sign reads no secret value (secretsmanager:DescribeSecret only).
FINGERPRINT_TAG = "multicloud.mesh/root-fingerprint"
SECRET_STORE_WARNING = (
    "root_store %s keeps the mesh root CA key in a Kubernetes Secret of a workload cluster. Istio's remote "
    "secrets give the istiod of every other linked cluster the istio-reader ClusterRole in this cluster, which "
    "reads Secrets in all namespaces: one compromised cluster can read the root key and forge workload "
    "identities for the whole mesh. Prefer root_store type=file (0600 on the controller) or "
    "type=aws_secretsmanager, or root_cert/root_key from a vault or an AWX credential.")


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


def _make_private_dirs(directory):
    """Create the missing folders of ``directory``, each 0700 (existing ones are left alone)."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for folder in reversed(missing):
        os.mkdir(folder, 0o700)
        os.chmod(folder, 0o700)  # whatever the umask


def _root_from_clusters(fingerprint, clusters):
    """The root certificates (no key) whose signing CA has ``fingerprint``, taken from the
    cert-chain.pem of a cluster's managed cacerts; None when no cluster holds them."""
    for cluster in clusters:
        if cluster.cacerts is None or not _managed(cluster.cacerts):
            continue
        data = _decode(cluster.cacerts.get("data"))
        try:
            chain = ca.load_certs(data.get("cert-chain.pem") or "", "cert-chain.pem")
        except ca.CAError:
            continue
        if len(chain) < 2 or ca.fingerprint(chain[1]) != fingerprint:
            continue
        try:
            return ca.load_public_root("".join(ca.cert_pem(c) for c in chain[1:]), source="store")
        except ca.CAError:
            continue
    return None


def _cert_view(pem):
    try:
        return _view(ca.describe(ca.load_certs(pem, "root")[0]))
    except ca.CAError:
        return {"subject": "unreadable"}


class FileStore(object):
    """A PEM file on the controller: the certificates, then the key (0600, folders made 0700)."""

    def __init__(self, path):
        self.path = path  # type path: already expanded
        self.location = "file:%s" % path

    def public_root(self, clusters):
        """(root certificates without the key, trusted) or (None, False); the key lines are not read."""
        if not os.path.exists(self.path):
            return None, False
        with open(self.path, "r") as handle:
            text = ca.store_certs_text(handle)
        return (ca.load_public_root(text, source="store"), True) if text else (None, False)

    def public_ok(self):
        return (os.stat(self.path).st_mode & 0o777) == 0o600

    def view(self):
        if not os.path.exists(self.path):
            return None
        with open(self.path, "r") as handle:
            text = ca.store_certs_text(handle)
        return _cert_view(text) if text else None

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
        _make_private_dirs(os.path.dirname(os.path.abspath(self.path)))
        write_file_0600(self.path, ca.store_text(root))

    def exists(self):
        return os.path.exists(self.path)

    def remove(self):
        os.unlink(self.path)


class SecretStore(object):
    """An Opaque Secret in a chosen cluster (only when asked for: see SECRET_STORE_WARNING)."""

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

    def public_root(self, clusters):
        # The Kubernetes API returns a Secret whole: its key entry was read with it.
        cert = _decode((self.current or {}).get("data")).get(ca.STORE_CERT_KEY)
        return (ca.load_public_root(cert, source="store"), True) if cert else (None, False)

    def public_ok(self):
        return self.current is not None and _managed(self.current)

    def view(self):
        cert = _decode((self.current or {}).get("data")).get(ca.STORE_CERT_KEY)
        return _cert_view(cert) if cert else None

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


class AWSSecretStore(object):
    """A secret of AWS Secrets Manager: its value is JSON with the entries root-cert.pem and
    root-key.pem; tags name the managing tool and the root's fingerprint (public), so that a run
    with nothing to sign only calls DescribeSecret and never reads the value."""

    def __init__(self, spec, timeout):
        session = aws.aws_session(spec)
        self.sm = aws.RetryingClient(aws.client(session, "secretsmanager", spec), timeout=timeout)
        self.secret_id = spec["name"]
        self.kms_key_id = spec.get("kms_key_id")
        self.recovery_window_days = spec["recovery_window_days"]
        self.location = "aws_secretsmanager:%s" % self.secret_id
        self.meta = self.sm.call_or_none("describe_secret", SecretId=self.secret_id)
        if self.meta and self.meta.get("DeletedDate"):
            raise aws.AWSError("the secret %s is scheduled for deletion (on %s): restore it (aws secretsmanager "
                               "restore-secret) or name another secret" % (self.secret_id, self.meta["DeletedDate"]))
        self.tags = dict((t["Key"], t["Value"]) for t in (self.meta or {}).get("Tags") or [])
        self._value = None  # the parsed secret value, once read

    def public_root(self, clusters):
        fingerprint = self.tags.get(FINGERPRINT_TAG)
        if self.meta is None or not fingerprint:
            return None, False
        # the certificates come from a cluster (checked against the stored fingerprint): only a run that
        # changes nothing may rest on them
        return _root_from_clusters(fingerprint, clusters), False

    def public_ok(self):
        return self.tags.get(ca.MANAGED_BY_LABEL) == ca.MANAGED_BY

    def view(self):
        if self._value and self._value.get(ca.STORE_CERT_KEY):
            return _cert_view(self._value[ca.STORE_CERT_KEY])
        if self.tags.get(FINGERPRINT_TAG):
            return {"fingerprint": self.tags[FINGERPRINT_TAG]}
        return None

    def _read_value(self):
        if self._value is None:
            if self.meta is None:
                self._value = {}
                return self._value
            got = self.sm.call_or_none("get_secret_value", SecretId=self.secret_id)
            text = (got or {}).get("SecretString")
            if not text:
                self._value = {}
                return self._value
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                raise ca.CAError("the root store %s does not hold JSON with the entries %s and %s"
                                 % (self.location, ca.STORE_CERT_KEY, ca.STORE_KEY_KEY))
            self._value = value
        return self._value

    def read(self):
        value = self._read_value()
        if not value.get(ca.STORE_CERT_KEY) and not value.get(ca.STORE_KEY_KEY):
            return None
        return value.get(ca.STORE_CERT_KEY, ""), value.get(ca.STORE_KEY_KEY, "")

    def _want(self, root):
        return {ca.STORE_CERT_KEY: root.bundle_pem, ca.STORE_KEY_KEY: root.key_pem}

    def _want_tags(self, root):
        return {ca.MANAGED_BY_LABEL: ca.MANAGED_BY, FINGERPRINT_TAG: root.fingerprint}

    def needs_write(self, root):
        if self.meta is None:
            return True
        tags = self._want_tags(root)
        return self._read_value() != self._want(root) or any(self.tags.get(k) != v for k, v in tags.items())

    def write(self, root):
        text = json.dumps(self._want(root), sort_keys=True)
        tags = [{"Key": k, "Value": v} for k, v in sorted(self._want_tags(root).items())]
        if self.meta is None:
            if self.secret_id.startswith("arn:"):
                raise aws.AWSError("the secret %s does not exist; to create it, give its name instead of an ARN"
                                   % self.secret_id)
            args = {"Name": self.secret_id, "SecretString": text, "Tags": tags,
                    "Description": "Root CA (certificate and key) of an Istio mesh, kept by multicloud.mesh.mesh_ca"}
            if self.kms_key_id:
                args["KmsKeyId"] = self.kms_key_id
            self.sm.call("create_secret", **args)
            return
        if self._read_value() != self._want(root):
            self.sm.call("put_secret_value", SecretId=self.secret_id, SecretString=text)
        if any(self.tags.get(t["Key"]) != t["Value"] for t in tags):
            self.sm.call("tag_resource", SecretId=self.secret_id, Tags=tags)

    def exists(self):
        return self.meta is not None

    def remove(self):
        if self.recovery_window_days == 0:
            self.sm.call("delete_secret", SecretId=self.secret_id, ForceDeleteWithoutRecovery=True)
        else:
            self.sm.call("delete_secret", SecretId=self.secret_id, RecoveryWindowInDays=self.recovery_window_days)


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
        if not names and not (p["state"] == "absent" and p["remove_root_store"]):
            self.fail("clusters is empty: give at least one cluster (only state=absent with remove_root_store=true "
                      "takes none, to remove the root store alone, as teardown.yml does after the clusters are gone)")
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
        if store and store["type"] == "aws_secretsmanager":
            problems = ["root_store.%s" % e for e in aws.connection_errors(store)]
            if not (store.get("name") or "").strip():
                problems.append("root_store.name (the secret's name or ARN) must not be empty")
            if store["recovery_window_days"] not in [0] + list(range(7, 31)):
                problems.append("root_store.recovery_window_days must be 0 (delete at once) or 7 to 30, got %d"
                                % store["recovery_window_days"])
            if problems:
                self.fail("; ".join(problems))
            if not aws.HAS_BOTO3:
                self.module.fail_json(msg=missing_required_lib("boto3"), exception=aws.BOTO3_IMP_ERR)
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
        timeout = self.params["request_timeout"]
        try:
            if store["type"] == "aws_secretsmanager":
                return AWSSecretStore(store, max(60, 2 * timeout))
            self.module.warn(SECRET_STORE_WARNING % ("secret:%s/%s" % (store["namespace"], store["name"])))
            return SecretStore(store, self.params, timeout)
        except KubeError as exc:
            self.fail("cannot read the root store, nothing was changed: %s" % exc.msg)
        except aws.AWSError as exc:
            self.fail("cannot read the root store, nothing was changed: %s" % exc.message)

    def public_root(self, store, clusters, now):
        """The root from its store WITHOUT its key, when every cluster's intermediate can be kept:
        then the run signs nothing and the key is never read. None otherwise (a full read follows)."""
        p = self.params
        try:
            root, trusted = store.public_root(clusters)
        except ca.CAError:
            return None  # the full read reports it
        if root is None or not store.public_ok():
            return None
        for cluster in clusters:
            existing = _decode(cluster.cacerts.get("data")) if cluster.cacerts is not None else None
            if ca.reissue_reason(existing, root, cluster.name, p["renew_before_days"], p["rotate"], now):
                return None
            if not trusted:
                data = ca.cacerts_data(root, existing["ca-cert.pem"], existing["ca-key.pem"])
                if any(existing.get(k) != v for k, v in data.items()) or not _managed(cluster.cacerts):
                    return None
        return root

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
        now = ca.utcnow()
        root = None
        try:
            if self.user_root is None and not p["rotate_root"]:
                root = self.public_root(store, clusters, now)
            if root is None:
                root = self.load_root(store, clusters)
            store_changed = store is not None and root.key is not None and store.needs_write(root)
        except ca.CAError as exc:
            self.fail(exc.msg)
        except aws.AWSError as exc:
            self.fail("cannot read the root store, nothing was changed: %s" % exc.message)
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
                                   trust_domain=p["trust_domain"], now=now)
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
            except (KubeError, OSError, aws.AWSError) as exc:
                self.fail("cannot write the root store %s, no cluster was changed: %s"
                          % (store.location, getattr(exc, "msg", None) or getattr(exc, "message", None) or str(exc)))

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
        root_info["key_read"] = root.key is not None
        changed = store_changed or any(r["changed"] for r in results)
        result = {"changed": changed, "root": root_info, "root_fingerprint": root.fingerprint, "clusters": results}
        if self.module._diff:
            result["diff"] = {"before": {"root": self._store_view(store, root, store_changed), "clusters": before},
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
    def _store_view(store, root, store_changed):
        """What the store held before the run: certificate facts, never the key (and without reading it)."""
        if store is None:
            return None
        if root.source == "store" and not store_changed:
            return _view(root.describe())
        try:
            return store.view()
        except (ca.CAError, OSError):
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
            except (KubeError, OSError, aws.AWSError) as exc:
                why = getattr(exc, "msg", None) or getattr(exc, "message", None) or str(exc)
                errors.append("root store %s: %s" % (store.location, why))
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
            aws.aws_argument_spec(),  # region, profile, access_key, ... for type aws_secretsmanager
            type=dict(type="str", required=True, choices=list(STORE_TYPES)),
            path=dict(type="path"),
            kubeconfig=dict(type="raw", no_log=True),
            context=dict(type="str"),
            namespace=dict(type="str", default="mesh-ca"),
            name=dict(type="str", default="mesh-root-ca"),
            kms_key_id=dict(type="str"),
            recovery_window_days=dict(type="int", default=30),
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
