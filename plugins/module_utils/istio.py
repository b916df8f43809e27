# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Istio multi-cluster: input checks, rendering with a checksum-verified istioctl, linking.

- ``validate_clusters`` checks the module's cluster list before anything is changed.
- ``find_istioctl``/``verify_istioctl`` locate the istioctl of ``istio_version`` and check its
  sha256 against ``ISTIOCTL_SHA256``; an unknown version or checksum is an error.
- ``control_plane_iop``/``eastwest_iop`` build the IstioOperator inputs (the east-west one is
  what Istio's samples/multicluster/gen-eastwest-gateway.sh emits) and ``render`` runs
  ``istioctl manifest generate`` on them: the manifests come from Istio's own charts,
  compiled into that istioctl. istioctl is only used to render; nothing is applied by it.
- ``cross_network_gateway``/``istiod_gateway`` are Istio's samples/multicluster
  expose-services.yaml / expose-istiod.yaml objects.
- ``remote_secret`` builds the Secret of a link (what ``istioctl create-remote-secret`` makes,
  with the API address we choose and a time-bound TokenRequest token bound to ``token_anchor``;
  ``reader_token`` decides when a token is renewed).
- ``apply_order``/``delete_order`` sort objects: namespaces and CRDs first, webhooks and
  Istio configuration last when applying; the reverse when deleting, CRDs and webhooks last.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

from ansible_collections.multicloud.mesh.plugins.module_utils import istioctl_release, reader_token, validate
from ansible_collections.multicloud.mesh.plugins.module_utils.istioctl_release import sha256_file

ISTIO_NAMESPACE = "istio-system"
MANAGED_BY = "multicloud.mesh"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_MESH = "multicloud.mesh/mesh-id"
LABEL_MULTICLUSTER = "istio/multiCluster"
ANNOTATION_CLUSTER = "networking.istio.io/cluster"
LABEL_NETWORK = "topology.istio.io/network"
READER_SA = "istio-reader-service-account"
# The never-expiring token Secret (what istioctl create-remote-secret makes, and this collection made
# before time-bound tokens); a run deletes it, which revokes its token.
READER_TOKEN_SECRET = "istio-reader-service-account-istio-remote-secret-token"
TOKEN_ANCHOR = "istio-reader-token-anchor"
ANNOTATION_TOKEN_EXPIRES = "multicloud.mesh/token-expires"
EASTWEST_NAME = "istio-eastwestgateway"
CROSS_NETWORK_GATEWAY = "cross-network-gateway"
CACERTS = "cacerts"
CACERTS_KEYS = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")

# sha256 of istioctl per Istio version and platform. Only binaries listed here are run.
# 1.30.4 (linux-amd64): sandbox/build/build.sh istio (release-1.30 commit 9739e10eb9d7,
# Go 1.26.8, -trimpath, CGO_ENABLED=0; see docs/istio.md). A different build (other Go,
# official release archive) has another checksum and must be added here after review.
ISTIOCTL_SHA256 = {
    "1.30.4": {
        "linux-amd64": ["c1683578970f4575194bff7dd38e412e7c937aec82b2a79248d6202cfecb7e3e"],
    },
}
DEFAULT_ISTIO_VERSION = "1.30.4"

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class IstioError(Exception):
    """Bad input or a rendering problem; ``msg`` is fit for ``fail_json``."""

    def __init__(self, msg):
        super(IstioError, self).__init__(msg)
        self.msg = msg


# ---- input -------------------------------------------------------------------
def validate_clusters(clusters, networks=None, topology="multi_primary"):
    """Check the cluster list; returns the list with defaults filled.

    Errors (before anything changes): no clusters, a name that is not a DNS label,
    duplicate names, a cluster without a network, a network not in ``networks`` (when
    given), several primaries, or a primary_remote mesh whose primary is unknown.
    """
    if not clusters:
        raise IstioError("clusters is empty: give at least one cluster (name, kubeconfig, network)")
    seen = {}
    out = []
    for index, cluster in enumerate(clusters):
        name = cluster.get("name")
        if not name or not NAME_RE.match(name):
            raise IstioError("clusters[%d].name %r is not a DNS label (lowercase letters, digits, '-'; at most 63); "
                             "istiod uses it as the cluster ID" % (index, name))
        if name in seen:
            raise IstioError("duplicate cluster name %r (clusters[%d] and clusters[%d]); cluster names are the mesh's "
                             "cluster IDs and must be unique" % (name, seen[name], index))
        seen[name] = index
        network = cluster.get("network")
        if not network:
            raise IstioError("cluster %r has no network: set clusters[%d].network (clusters in different VPCs or clouds "
                             "are on different networks)" % (name, index))
        if networks is not None and network not in networks:
            raise IstioError("cluster %r names network %r, which is not in networks (%s)"
                             % (name, network, ", ".join(networks) or "empty"))
        if not cluster.get("kubeconfig") and not cluster.get("host"):
            raise IstioError("cluster %r has neither kubeconfig nor host" % name)
        out.append(dict(cluster))
    primaries = [c["name"] for c in out if c.get("primary")]
    if topology == "primary_remote":
        if len(primaries) > 1:
            raise IstioError("primary_remote allows one primary; marked primary: %s" % ", ".join(primaries))
        if not primaries:
            out[0]["primary"] = True
    else:
        for cluster in out:
            cluster["primary"] = True
    return out


def check_values(values):
    """User ``values`` may not override what the module sets per cluster."""
    glob = (values or {}).get("global") or {}
    owned = [k for k in ("meshID", "network") if k in glob]
    owned += ["multiCluster.clusterName"] if "clusterName" in (glob.get("multiCluster") or {}) else []
    if owned:
        raise IstioError("values.global.%s is set by the module from mesh_id and clusters; remove it from values"
                         % ", values.global.".join(owned))


def deep_merge(base, override):
    """Recursive dict merge; ``override`` wins; lists are replaced."""
    out = dict(base or {})
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# ---- istioctl ----------------------------------------------------------------
def platform():
    machine = os.uname()[4].lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return "%s-%s" % (os.uname()[0].lower(), arch)


def known_checksums(version, plat=None, table=None):
    """The accepted sha256 list of istioctl ``version`` on ``plat``; IstioError when none."""
    table = ISTIOCTL_SHA256 if table is None else table
    plat = plat or platform()
    if version not in table:
        raise IstioError("istio_version %s has no known istioctl checksum (known: %s); only pinned, checksum-verified "
                         "istioctl binaries are run" % (version, ", ".join(sorted(table)) or "none"))
    sums = [s for s in table[version].get(plat) or [] if not s.startswith("__")]
    if not sums:
        raise IstioError("istio_version %s has no known istioctl checksum for %s" % (version, plat))
    return sums


def candidate_paths(version, environ=None, home=None):
    """Where istioctl of ``version`` is looked for, in order (documented in the module)."""
    environ = os.environ if environ is None else environ
    home = home or os.path.expanduser("~")
    out = []
    if environ.get("MULTICLOUD_MESH_ISTIO_BIN"):
        out.append(os.path.join(environ["MULTICLOUD_MESH_ISTIO_BIN"], "istio-%s" % version, "istioctl"))
    out.append(os.path.join(home, ".cache", "multicloud.mesh", "bin", "istio-%s" % version, "istioctl"))
    out.append(os.path.join("/usr", "local", "lib", "multicloud.mesh", "istio-%s" % version, "istioctl"))
    on_path = shutil.which("istioctl", path=environ.get("PATH"))
    if on_path:
        out.append(on_path)
    return out


def find_istioctl(version, istioctl_path=None, environ=None, table=None,  # pylint: disable=too-many-arguments
                  release_url=None, release_sha256=None, home=None):
    """Path of a verified istioctl of ``version``; IstioError otherwise.

    Verified means: its sha256 is in ``ISTIOCTL_SHA256``, or (with ``release_url``) it was extracted
    from a release archive whose sha256 matched the published ``.sha256`` or ``release_sha256``
    (``istioctl_release``). With ``release_url`` and nothing verified found, the archive is
    downloaded into ``~/.cache/multicloud.mesh/bin/istio-<version>/``.
    """
    if release_url:
        try:
            sums = known_checksums(version, table=table)
        except IstioError:
            sums = []
    else:
        sums = known_checksums(version, table=table)
    paths = [os.path.expanduser(istioctl_path)] if istioctl_path else candidate_paths(version, environ, home)
    problems = []
    for path in paths:
        if not os.path.isfile(path):
            problems.append("%s: not found" % path)
            continue
        digest = sha256_file(path)
        if digest in sums:
            return path
        if release_url and istioctl_release.verified_binary(os.path.dirname(path), release_sha256) == path:
            return path
        problems.append("%s: sha256 %s is not the known checksum of istioctl %s" % (path, digest, version))
    if release_url and not istioctl_path:
        folder = os.path.join(home or os.path.expanduser("~"), ".cache", "multicloud.mesh", "bin", "istio-%s" % version)
        try:
            return istioctl_release.fetch(version, platform(), release_url, folder, release_sha256)
        except istioctl_release.ReleaseError as exc:
            raise IstioError("istioctl %s from %s: %s" % (version, release_url, exc.msg))
    raise IstioError("no checksum-verified istioctl %s found (%s). Build it with 'sandbox/build/build.sh istio' "
                     "and set istioctl_path or MULTICLOUD_MESH_ISTIO_BIN, or set istioctl_release_url to download "
                     "Istio's release archive (checked against its published sha256)" % (version, "; ".join(problems)))


# ---- IstioOperator inputs ------------------------------------------------------
# The sidecar's DNS proxy: pilot-agent runs it and asks istiod for the name table (NDS) only with
# ISTIO_META_DNS_CAPTURE=true in its environment, which the injector takes from the mesh config's
# defaultConfig.proxyMetadata. mesh_service_entry's default dns=istio_dns_proxy needs it for the
# <service>.<namespace>.global hosts. A default: the user's values win (e.g. "false" with stub DNS).
# No ISTIO_META_DNS_AUTO_ALLOCATE: mesh_service_entry's ServiceEntries always carry addresses.
DNS_PROXY_METADATA = {"ISTIO_META_DNS_CAPTURE": "true"}


def mesh_defaults():
    """Values the control plane gets unless ``values`` set them.

    - the sidecars' DNS proxy on (``.global`` names resolve only through it);
    - ``defaultRevision: default``: the base chart then renders ``istiod-default-validator``, the
      validating webhook for Istio objects *without* an ``istio.io/rev`` label (the revision's own
      validator only checks labelled ones). ``istioctl install`` creates it at install time;
      ``istioctl manifest generate``, which this module renders with, leaves it out unless asked.
    """
    return {"meshConfig": {"defaultConfig": {"proxyMetadata": dict(DNS_PROXY_METADATA)}},
            "defaultRevision": "default"}


def control_plane_iop(mesh_id, cluster, profile="default", values=None, topology="multi_primary",
                      remote_pilot_address=None):
    """The IstioOperator of one cluster's control plane (or of a remote cluster)."""
    glob = {"meshID": mesh_id, "multiCluster": {"clusterName": cluster["name"]}, "network": cluster["network"]}
    merged = deep_merge(deep_merge(mesh_defaults(), values or {}), {"global": glob})
    if topology == "primary_remote" and not cluster.get("primary"):
        profile = "remote"
        merged = deep_merge(merged, {
            "istiodRemote": {"injectionPath": "/inject/cluster/%s/net/%s" % (cluster["name"], cluster["network"])},
            "global": {"remotePilotAddress": remote_pilot_address or ""},
        })
    elif topology == "primary_remote":
        merged = deep_merge(merged, {"pilot": {"env": {"EXTERNAL_ISTIOD": True}}})
    return {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
            "metadata": {"name": "control-plane", "namespace": ISTIO_NAMESPACE},
            "spec": {"profile": profile, "values": merged}}


def eastwest_iop(network):
    """The east-west gateway IstioOperator, as Istio's gen-eastwest-gateway.sh --network emits it."""
    return {
        "apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
        "metadata": {"name": "eastwest", "namespace": ISTIO_NAMESPACE},
        "spec": {
            "revision": "", "profile": "empty",
            "components": {"ingressGateways": [{
                "name": EASTWEST_NAME, "enabled": True,
                "label": {"istio": "eastwestgateway", "app": EASTWEST_NAME, LABEL_NETWORK: network},
                "k8s": {
                    "env": [{"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": network}],
                    "service": {"ports": [
                        {"name": "status-port", "port": 15021, "targetPort": 15021},
                        {"name": "tls", "port": 15443, "targetPort": 15443},
                        {"name": "tls-istiod", "port": 15012, "targetPort": 15012},
                        {"name": "tls-webhook", "port": 15017, "targetPort": 15017},
                    ]},
                },
            }]},
            "values": {"gateways": {"istio-ingressgateway": {"injectionTemplate": "gateway"}},
                       "global": {"network": network}},
        },
    }


def cross_network_gateway():
    """samples/multicluster/expose-services.yaml: services exposed with AUTO_PASSTHROUGH on 15443."""
    return {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
            "metadata": {"name": CROSS_NETWORK_GATEWAY, "namespace": ISTIO_NAMESPACE},
            "spec": {"selector": {"istio": "eastwestgateway"},
                     "servers": [{"port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                                  "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": ["*.local"]}]}}


def istiod_gateway():
    """samples/multicluster/expose-istiod.yaml (primary of a primary_remote mesh)."""
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
               "metadata": {"name": "istiod-gateway", "namespace": ISTIO_NAMESPACE},
               "spec": {"selector": {"istio": "eastwestgateway"}, "servers": [
                   {"port": {"name": "tls-istiod", "number": 15012, "protocol": "tls"},
                    "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]},
                   {"port": {"name": "tls-istiodwebhook", "number": 15017, "protocol": "tls"},
                    "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]}]}}
    host = "istiod.%s.svc.cluster.local" % ISTIO_NAMESPACE
    virtual_service = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                       "metadata": {"name": "istiod-vs", "namespace": ISTIO_NAMESPACE},
                       "spec": {"hosts": ["*"], "gateways": ["istiod-gateway"], "tls": [
                           {"match": [{"port": 15012, "sniHosts": ["*"]}],
                            "route": [{"destination": {"host": host, "port": {"number": 15012}}}]},
                           {"match": [{"port": 15017, "sniHosts": ["*"]}],
                            "route": [{"destination": {"host": host, "port": {"number": 443}}}]}]}}
    return [gateway, virtual_service]


# ---- rendering -------------------------------------------------------------------
def render(istioctl, iop, runner=None, timeout=120):
    """Objects of ``istioctl manifest generate -f <iop>`` (list of dicts, in istioctl's order)."""
    runner = runner or _run
    handle, path = tempfile.mkstemp(prefix="mesh-iop-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(iop, out, default_flow_style=False)
        rc, stdout, stderr = runner([istioctl, "manifest", "generate", "-f", path], timeout)
    finally:
        os.unlink(path)
    if rc != 0:
        raise IstioError("istioctl manifest generate failed (rc=%s): %s" % (rc, (stderr or stdout).strip()[-2000:]))
    return parse_manifests(stdout)


def _run(argv, timeout):
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)  # rendering never needs (or touches) a cluster
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, universal_newlines=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        return 124, stdout, "timed out after %ss: %s" % (timeout, stderr)
    return proc.returncode, stdout, stderr


def _loader():
    return getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


def parse_manifests(text):
    out = []
    for doc in yaml.load_all(text, Loader=_loader()):
        if not doc:
            continue
        if doc.get("kind", "").endswith("List") and "items" in doc:
            out.extend(i for i in doc["items"] if i)
        else:
            out.append(doc)
    return out


def prepare(objects, namespace=ISTIO_NAMESPACE, extra_labels=None):
    """Default namespaces of namespaced objects, drop empty webhook caBundles (istiod fills them)."""
    out = []
    for obj in objects:
        obj = _copy(obj)
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") not in CLUSTER_SCOPED_KINDS and not meta.get("namespace"):
            meta["namespace"] = namespace
        if obj.get("kind") in WEBHOOK_KINDS:
            for hook in obj.get("webhooks") or []:
                client = hook.get("clientConfig") or {}
                if not client.get("caBundle"):
                    client.pop("caBundle", None)
        if extra_labels:
            meta.setdefault("labels", {}).update(extra_labels)
        out.append(obj)
    return out


def keep_runtime_fields(obj, live):
    """Leave istiod's runtime changes of its webhook configurations alone.

    istiod patches ``caBundle`` into every webhook (we never send one: ``prepare`` drops the
    chart's empty value, so istiod stays its only owner) and switches the validator's
    ``failurePolicy`` from Ignore to Fail once it answers. While we still own that field (istiod
    has not switched it yet) the live value is sent, so ownership and value stay; once istiod
    owns it, the field is left out, so a re-run neither resets it nor takes it back (server-side
    apply would record us as a second owner: a change on every first run after the switch).
    """
    if obj.get("kind") not in WEBHOOK_KINDS:
        return obj
    live_hooks = dict((h.get("name"), h) for h in (live or {}).get("webhooks") or [])
    from ansible_collections.multicloud.mesh.plugins.module_utils.apply import FIELD_MANAGER
    owned = _owned_webhook_fields(live, FIELD_MANAGER)
    for hook in obj.get("webhooks") or []:
        (hook.get("clientConfig") or {}).pop("caBundle", None)
        current = live_hooks.get(hook.get("name"))
        if current and current.get("failurePolicy") and obj["kind"] == "ValidatingWebhookConfiguration":
            if "failurePolicy" in owned.get(hook.get("name"), ()):
                hook["failurePolicy"] = current["failurePolicy"]
            else:
                hook.pop("failurePolicy", None)
    return obj


def _owned_webhook_fields(live, field_manager):
    """{webhook name: field names} that ``field_manager`` owns (by apply) in a webhook configuration."""
    out = {}
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != field_manager or entry.get("operation") != "Apply":
            continue
        hooks = (entry.get("fieldsV1") or {}).get("f:webhooks") or {}
        for key, fields in hooks.items():
            if not key.startswith("k:"):
                continue
            try:
                name = json.loads(key[2:]).get("name")
            except ValueError:
                continue
            out[name] = set(f[2:] for f in (fields or {}) if f.startswith("f:"))
    return out


def _copy(obj):
    return copy.deepcopy(obj)


WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
CLUSTER_SCOPED_KINDS = ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "PriorityClass")
APPLY_RANK = {
    "Namespace": 0, "CustomResourceDefinition": 1, "ServiceAccount": 2, "ClusterRole": 3, "Role": 3,
    "ClusterRoleBinding": 4, "RoleBinding": 4, "ConfigMap": 5, "Secret": 5, "Service": 6,
    "Deployment": 7, "DaemonSet": 7, "StatefulSet": 7, "PodDisruptionBudget": 8, "HorizontalPodAutoscaler": 8,
    "ValidatingAdmissionPolicy": 9, "ValidatingAdmissionPolicyBinding": 9,
    "MutatingWebhookConfiguration": 10, "ValidatingWebhookConfiguration": 10,
}
ISTIO_CONFIG_RANK = 11  # Gateway, VirtualService, EnvoyFilter...: after istiod and its webhooks


def needs_istiod(obj):
    """True for objects a serving istiod must see first: workloads whose pods only run when injected
    (gateways: ``sidecar.istio.io/inject: "true"``, container image ``auto``) and Istio configuration,
    which istiod's validating webhook checks."""
    if _rank(obj) == ISTIO_CONFIG_RANK:
        return True
    if obj.get("kind") not in ("Deployment", "DaemonSet", "StatefulSet"):
        return False
    template = (obj.get("spec") or {}).get("template") or {}
    meta = template.get("metadata") or {}
    if str((meta.get("annotations") or {}).get("sidecar.istio.io/inject", "")).lower() == "true":
        return True
    if str((meta.get("labels") or {}).get("sidecar.istio.io/inject", "")).lower() == "true":
        return True
    return any(c.get("image") == "auto" for c in (template.get("spec") or {}).get("containers") or [])


def _rank(obj):
    kind = obj.get("kind")
    if kind in APPLY_RANK:
        return APPLY_RANK[kind]
    if (obj.get("apiVersion") or "").split("/")[0].endswith("istio.io"):
        return ISTIO_CONFIG_RANK
    return 7


def apply_order(objects):
    """Stable sort for applying: namespaces, CRDs, RBAC, config, workloads, webhooks, Istio config."""
    return [entry[2] for entry in sorted(((_rank(o), i, o) for i, o in enumerate(objects)), key=lambda t: t[:2])]


def delete_order(objects):
    """Stable sort for deleting: Istio config and workloads first; webhooks, then CRDs last.

    Namespaces are never in the rendered set; the caller decides about istio-system.
    """
    def rank(obj):
        kind = obj.get("kind")
        if kind == "CustomResourceDefinition":
            return 30
        if kind in WEBHOOK_KINDS or kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
            return 20
        if kind in ("ClusterRole", "ClusterRoleBinding"):
            return 15
        if kind == "Namespace":
            return 25
        return 10 - _rank(obj) / 100.0 if _rank(obj) == ISTIO_CONFIG_RANK else 10 + _rank(obj) / 100.0
    return [entry[2] for entry in sorted(((rank(o), i, o) for i, o in enumerate(objects)), key=lambda t: t[:2])]


# ---- linking ---------------------------------------------------------------------
def token_anchor(mesh_id):
    """The Secret the reader tokens of a cluster are bound to: deleting it revokes them all."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": TOKEN_ANCHOR, "namespace": ISTIO_NAMESPACE,
                         "annotations": {"multicloud.mesh/purpose": "reader tokens of the remote secrets are bound "
                                                                    "to this Secret; deleting it revokes them"},
                         "labels": {LABEL_MANAGED: MANAGED_BY, LABEL_MESH: mesh_id}}}


def remote_kubeconfig(cluster_name, server, token, ca_pem):
    """The kubeconfig istiod uses to read ``cluster_name``: inline token and CA, no exec plugins."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem.encode("utf-8")).decode("ascii")}}],
        "users": [{"name": cluster_name, "user": {"token": token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
    }


def remote_secret_name(cluster_name):
    return "istio-remote-secret-%s" % cluster_name


def remote_secret(mesh_id, cluster_name, server, token, ca_pem, expires=None):  # pylint: disable=too-many-arguments
    """The Secret (in the other clusters) through which istiod reads ``cluster_name``.

    ``expires`` (the token's expiry, RFC 3339) goes into an annotation, so that a reader of
    metadata only (verify.yml) can show it without reading the token.
    """
    config = yaml.safe_dump(remote_kubeconfig(cluster_name, server, token, ca_pem), default_flow_style=False)
    annotations = {ANNOTATION_CLUSTER: cluster_name}
    if expires:
        annotations[ANNOTATION_TOKEN_EXPIRES] = expires
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": remote_secret_name(cluster_name), "namespace": ISTIO_NAMESPACE,
                         "labels": {LABEL_MULTICLUSTER: "true", LABEL_MANAGED: MANAGED_BY, LABEL_MESH: mesh_id},
                         "annotations": annotations},
            "data": {cluster_name: base64.b64encode(config.encode("utf-8")).decode("ascii")}}


def link_plan(clusters, topology="multi_primary", link="remote_secrets"):
    """{cluster name: [names of the clusters whose remote secret it holds]}."""
    plan = dict((c["name"], []) for c in clusters)
    if link != "remote_secrets":
        return plan
    for holder in clusters:
        if topology == "primary_remote" and not holder.get("primary"):
            continue
        plan[holder["name"]] = [c["name"] for c in clusters if c["name"] != holder["name"]]
    return plan


def revoke_reader_tokens(applier, anchor=True):
    """Delete the legacy never-expiring reader token Secret and (``anchor``) the anchor Secret that every
    time-bound reader token of the cluster is bound to: the API server refuses those tokens from then on."""
    applier.delete("v1", "Secret", READER_TOKEN_SECRET, ISTIO_NAMESPACE, wait=False)
    if anchor:
        applier.delete("v1", "Secret", TOKEN_ANCHOR, ISTIO_NAMESPACE, wait=False)


def namespace_object(name, labels=None):
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if labels:
        obj["metadata"]["labels"] = dict(labels)
    return obj


INJECTION_LABELS = {"istio-injection": "enabled"}


# ---- orchestration -----------------------------------------------------------------
def check_cacerts(secret):
    """Problem with a ``cacerts`` Secret (dict or None), or None when it is complete."""
    if secret is None:
        return "has no Secret %s/%s" % (ISTIO_NAMESPACE, CACERTS)
    data = secret.get("data") or {}
    missing = [k for k in CACERTS_KEYS if not data.get(k)]
    if missing:
        return "has a Secret %s/%s without %s" % (ISTIO_NAMESPACE, CACERTS, ", ".join(missing))
    return None


class ClusterRun(object):
    """One cluster of a run: its connection, applier and report."""

    def __init__(self, spec, kube, applier):
        self.spec = spec
        self.name = spec["name"]
        self.kube = kube
        self.applier = applier
        self.objects = []
        self.gateway_addresses = []
        self.linked = []
        self.installed = False
        self.cacerts_missing = False

    def report(self, version, state):
        return {
            "version": version if state == "present" else None,
            "revision": "default",
            "role": "primary" if self.spec.get("primary") else "remote",
            "network": self.spec["network"],
            "server": self.kube.server if self.kube else None,
            "gateway_addresses": self.gateway_addresses,
            "linked_clusters": sorted(self.linked),
            "changes": self.applier.summary() if self.applier else {},
            "cacerts_missing": self.cacerts_missing,
        }


class MeshInstaller(object):
    """Runs the module: ``prepare`` (all checks, no change), then ``install`` or ``uninstall``."""

    def __init__(self, params, connect, check_mode=False, diff=False, applier_class=None, renderer=None):
        from ansible_collections.multicloud.mesh.plugins.module_utils.apply import Applier
        self.params = params
        self.connect = connect
        self.check_mode = check_mode
        self.want_diff = diff
        self.applier_class = applier_class or Applier
        self.renderer = renderer or render
        self.runs = []
        self.warnings = []
        self.istioctl = None
        self.istioctl_info = {}
        self.reader_tokens = {}
        self._render_cache = {}

    # ---- checks (nothing changes) ----
    def prepare(self, validate_only=False):
        """validate_only: the option checks and the istioctl look-up only (no cluster is contacted)."""
        p = self.params
        problems = validate.errors(validate.not_empty(p.get("mesh_id"), "mesh_id"),
                                   # values of the labels LABEL_MESH and LABEL_NETWORK this module writes
                                   validate.label_value(p.get("mesh_id"), "mesh_id", "mesh ID (a Kubernetes label value)"),
                                   *[validate.label_value(c.get("network"), "clusters[%d].network" % i,
                                                          "network name (a Kubernetes label value)")
                                     for i, c in enumerate(p.get("clusters") or []) if c.get("network")],
                                   validate.at_least(p.get("wait_timeout"), "wait_timeout"),
                                   validate.at_least(p.get("reader_token_days"), "reader_token_days", unit="days"),
                                   validate.at_least(p.get("request_timeout"), "request_timeout"))
        if problems:
            raise IstioError("; ".join(problems))
        clusters = ([] if validate_only and not p.get("clusters")
                    else validate_clusters(p["clusters"], p.get("networks"), p["topology"]))
        check_values(p.get("values"))
        for namespace in p.get("injection_namespaces") or []:
            if not NAME_RE.match(namespace):
                raise IstioError("injection_namespaces: %r is not a namespace name" % namespace)
        pin = p.get("istioctl_sha256")
        if pin and not re.match(r"^[0-9a-fA-F]{64}\Z", pin):
            raise IstioError("istioctl_sha256 %r is not a sha256 (64 hexadecimal digits): give the checksum of the "
                             "release archive istioctl-<version>-<platform>.tar.gz" % pin)
        if pin and not p.get("istioctl_release_url"):
            raise IstioError("istioctl_sha256 pins the release archive's checksum: set istioctl_release_url too")
        self.istioctl = find_istioctl(p["istio_version"], p.get("istioctl_path"),
                                      release_url=p.get("istioctl_release_url"), release_sha256=pin)
        self.istioctl_info = {"path": self.istioctl, "sha256": sha256_file(self.istioctl)}
        if validate_only:
            return
        for spec in clusters:
            conn = dict((k, spec.get(k)) for k in ("kubeconfig", "context", "host", "api_key", "ca_cert",
                                                   "validate_certs"))
            conn["request_timeout"] = p.get("request_timeout") or 30
            try:
                kube = self.connect(conn)
                kube.version()
            except Exception as exc:  # pylint: disable=broad-except
                raise IstioError("cluster %s: %s" % (spec["name"], getattr(exc, "msg", None) or exc))
            applier = self.applier_class(kube, check_mode=self.check_mode, diff=self.want_diff)
            self.runs.append(ClusterRun(spec, kube, applier))
        if p["state"] == "present" and p.get("require_cacerts", True):
            roots = {}
            for run in self.runs:
                secret = run.applier.get("v1", "Secret", CACERTS, ISTIO_NAMESPACE)
                problem = check_cacerts(secret)
                if secret is None and self.check_mode:
                    # A check run cannot see what an earlier task (mesh_ca) would have created: predict the
                    # install and say that a real run needs the Secret first.
                    run.cacerts_missing = True
                    self.warnings.append("check mode: cluster %s %s; a real run fails unless multicloud.mesh.mesh_ca "
                                         "creates it first (as site.yml does), so the install is predicted without it"
                                         % (run.name, problem))
                    continue
                if problem:
                    raise IstioError("cluster %s %s: create it with multicloud.mesh.mesh_ca first (or set "
                                     "require_cacerts=false to let istiod self-sign, without cross-cluster trust)"
                                     % (run.name, problem))
                roots[run.name] = secret["data"]["root-cert.pem"]
            if len(set(roots.values())) > 1:
                raise IstioError("the clusters' cacerts have different root certificates (%s): they would not trust "
                                 "each other; issue all intermediates from one root with multicloud.mesh.mesh_ca"
                                 % ", ".join(sorted(roots)))

    # ---- results ----
    @property
    def changed(self):
        return any(run.applier.changed for run in self.runs if run.applier)

    def report(self):
        return dict((run.name, run.report(self.params["istio_version"], self.params["state"])) for run in self.runs)

    def diff(self):
        before, after = {}, {}
        for run in self.runs:
            d = run.applier.diff()
            if d["before"] or d["after"]:
                before[run.name] = d["before"]
                after[run.name] = d["after"]
        return {"before": before, "after": after}

    # ---- rendering ----
    def _render(self, iop):
        key = json.dumps(iop, sort_keys=True)
        if key not in self._render_cache:
            self._render_cache[key] = self.renderer(self.istioctl, iop)
        return copy.deepcopy(self._render_cache[key])

    def rendered(self, run, remote_pilot_address=None):
        p = self.params
        labels = {LABEL_MANAGED: MANAGED_BY}
        objects = prepare(self._render(control_plane_iop(p["mesh_id"], run.spec, p["profile"], p.get("values"),
                                                         p["topology"], remote_pilot_address)))
        objects += prepare(self._render(eastwest_iop(run.spec["network"])))
        objects.append(cross_network_gateway())
        if p["topology"] == "primary_remote" and run.spec.get("primary"):
            objects += istiod_gateway()
        # Istio's charts may render the same object in both IstioOperators (none known): keep the first.
        seen, out = set(), []
        for obj in objects:
            key = (obj.get("apiVersion"), obj.get("kind"), obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if key not in seen:
                seen.add(key)
                out.append(obj)
        for obj in out:
            if obj["kind"] in ("Namespace", "CustomResourceDefinition"):
                continue
            obj["metadata"].setdefault("labels", {}).update(labels)
        return out

    # ---- present ----
    def install(self):
        """Install every cluster, in the order istioctl and Istio's multicluster guides use.

        Per cluster: CRDs, then the control plane and its webhooks; then, once istiod serves and has
        patched its injection webhook's caBundle, what depends on it: the gateways (their pods are
        only runnable when injected) and Istio configuration (validated by istiod). Remote clusters
        (primary_remote) get their gateways after the link: the primary's istiod patches a remote
        cluster's injection webhook only once it reads that cluster through its remote secret.
        """
        p = self.params
        primaries = [r for r in self.runs if r.spec.get("primary")]
        remotes = [r for r in self.runs if not r.spec.get("primary")]
        pilot_address = None
        for run in primaries:
            self._install_cluster(run)
            self._install_injected(run)
        if remotes:
            addresses = primaries[0].gateway_addresses if primaries else []
            pilot_address = addresses[0] if addresses else None
            if pilot_address is None and not self.check_mode:
                raise IstioError("primary cluster %s has no east-west gateway address yet (wait=false?); remote "
                                 "clusters need it as remotePilotAddress" % primaries[0].name)
            for run in remotes:
                self._install_cluster(run, pilot_address)
        if p["link"] == "remote_secrets":
            self._link()
        else:
            for run in self.runs:
                self._prune_remote_secrets(run, keep=[])
                revoke_reader_tokens(run.applier)
        for run in remotes:
            self._install_injected(run)

    def _install_cluster(self, run, remote_pilot_address=None):
        """Namespace, CRDs, then everything that does not need a serving istiod."""
        p = self.params
        applier = run.applier
        timeout = p["wait_timeout"]
        labels = {LABEL_NETWORK: run.spec["network"]}
        if p["topology"] == "primary_remote" and not run.spec.get("primary"):
            primary = [r.name for r in self.runs if r.spec.get("primary")]
            ns = namespace_object(ISTIO_NAMESPACE, labels)
            ns["metadata"]["annotations"] = {"topology.istio.io/controlPlaneClusters": ",".join(primary)}
        else:
            ns = namespace_object(ISTIO_NAMESPACE, labels)
        applier.apply(ns)
        run.objects = apply_order(self.rendered(run, remote_pilot_address))
        crds = [o for o in run.objects if o["kind"] == "CustomResourceDefinition"]
        for obj in crds:
            applier.apply(obj)
        if crds and not self.check_mode and p["wait"]:
            for obj in crds:
                applier.wait_crd_established(obj["metadata"]["name"], timeout)
        for obj in run.objects:
            if obj["kind"] != "CustomResourceDefinition" and not needs_istiod(obj):
                applier.apply(obj, adjust=keep_runtime_fields)
        for namespace in p.get("injection_namespaces") or []:
            applier.apply(namespace_object(namespace, INJECTION_LABELS))
        run.installed = True

    def _install_injected(self, run):
        """After istiod serves this cluster's webhooks: the gateways and Istio configuration."""
        p = self.params
        applier = run.applier
        timeout = p["wait_timeout"]
        names = set((o["kind"], o["metadata"]["name"]) for o in run.objects)
        if p["wait"] and not self.check_mode:
            if ("Deployment", "istiod") in names:
                applier.wait_deployment_ready("istiod", ISTIO_NAMESPACE, timeout)
            self._wait_injector(run, timeout)
        for obj in run.objects:
            if needs_istiod(obj):
                applier.apply(obj, adjust=keep_runtime_fields)
        if p["wait"] and not self.check_mode:
            applier.wait_deployment_ready(EASTWEST_NAME, ISTIO_NAMESPACE, timeout)
            run.gateway_addresses = applier.wait_service_address(EASTWEST_NAME, ISTIO_NAMESPACE, timeout)
        else:
            from ansible_collections.multicloud.mesh.plugins.module_utils.apply import service_addresses
            run.gateway_addresses = service_addresses(applier.get("v1", "Service", EASTWEST_NAME, ISTIO_NAMESPACE))

    def _wait_injector(self, run, timeout):
        """Wait until istiod has patched the caBundle of this cluster's injection webhooks.

        The charts render them without one; istiod adds its CA when it serves (for a remote cluster:
        the primary's istiod, through the remote secret). Until then every injected pod is refused.
        """
        from ansible_collections.multicloud.mesh.plugins.module_utils.retry import WaitTimeout, wait_until
        hooks = [o["metadata"]["name"] for o in run.objects if o["kind"] == "MutatingWebhookConfiguration"]

        def patched(name):
            live = run.applier.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", name)
            return bool(live) and all(h.get("clientConfig", {}).get("caBundle") for h in live.get("webhooks") or [])
        try:
            wait_until(lambda: all(patched(name) for name in hooks), timeout=timeout, interval=1.0,
                       what="istiod to patch the caBundle of MutatingWebhookConfiguration %s" % ", ".join(hooks))
        except WaitTimeout as exc:
            who = ("its istiod" if run.spec.get("primary") else
                   "the primary's istiod, which reads this cluster through its remote secret (link: remote_secrets)")
            raise IstioError("cluster %s: %s; %s patches it once it serves: is it running and ready? Gateway pods "
                             "need the injection webhook, so nothing after this was applied" % (run.name, exc, who))

    def _link(self):
        p = self.params
        plan = link_plan([r.spec for r in self.runs], p["topology"], p["link"])
        by_name = dict((r.name, r) for r in self.runs)
        holders = {}  # source cluster -> the runs that hold its remote secret
        for holder in self.runs:
            for source in plan[holder.name]:
                holders.setdefault(source, []).append(holder)
        creds = {}
        for source in sorted(holders):
            creds[source] = self._reader_credentials(by_name[source], holders[source])
        for run in self.runs:
            keep = []
            for other in plan[run.name]:
                cred = creds[other]
                keep.append(remote_secret_name(other))
                run.linked.append(other)
                if cred["token"] is None:  # check mode: a token would be requested
                    exists = run.applier.get("v1", "Secret", remote_secret_name(other), ISTIO_NAMESPACE) is not None
                    run.applier.results.append({"ref": "Secret/%s/%s" % (ISTIO_NAMESPACE, remote_secret_name(other)),
                                                "action": "updated" if exists else "created", "changed": True})
                    continue
                source = by_name[other]
                server = source.spec.get("api_server") or source.kube.server
                run.applier.apply(remote_secret(p["mesh_id"], other, server, cred["token"], cred["ca"],
                                                cred["expires"]))
            self._prune_remote_secrets(run, keep)
        for run in self.runs:
            # The never-expiring token of earlier releases: deleting its Secret revokes it (its holders
            # got a time-bound token above). A cluster nobody reads loses its anchor too.
            revoke_reader_tokens(run.applier, anchor=run.name not in holders)
        self.reader_tokens = dict((name, dict((k, v) for k, v in cred.items() if k not in ("token", "ca")))
                                  for name, cred in creds.items())

    def _reader_credentials(self, run, holders):
        """The reader token (and CA) the holders of ``run``'s remote secret get.

        The newest token found in the holders' remote secrets is kept while it is good: a JWT that
        expires, has more than a third of its life left, lives no longer than asked, and that the
        cluster's API server still accepts (TokenReview). Otherwise (or with rotate_reader_tokens)
        a new one is requested. Returns ``{"token", "ca", "expires", "renewed", "reason"}``; in
        check mode a token that would be requested is None.
        """
        p = self.params
        reason = None
        if p.get("rotate_reader_tokens"):
            reason = "rotation asked for (rotate_reader_tokens=true)"
        else:
            found = [reader_token.from_remote_secret(h.applier.get("v1", "Secret", remote_secret_name(run.name),
                                                                   ISTIO_NAMESPACE), run.name) for h in holders]
            found = [t for t in found if t]
            if not found:
                reason = "no remote secret of %s yet" % run.name
            else:
                best = max(found, key=lambda t: reader_token.expiry(t) or 0)
                reason = (reader_token.renewal_reason(best, time.time(), p["reader_token_days"])
                          or self._review_token(run, best))
                if reason is None:
                    return {"token": best, "ca": self._cluster_ca(run),
                            "expires": reader_token.timestamp(reader_token.expiry(best)),
                            "renewed": False, "reason": None}
        if self.check_mode:
            return {"token": None, "ca": None, "expires": None, "renewed": True, "reason": reason}
        if p.get("rotate_reader_tokens"):
            # Deleting the anchor revokes every token bound to it, in every cluster that holds one.
            run.applier.delete("v1", "Secret", TOKEN_ANCHOR, ISTIO_NAMESPACE, wait=True, timeout=p["wait_timeout"])
        anchor = run.applier.apply(token_anchor(p["mesh_id"]))["object"]
        token, expires = self._request_token(run, anchor["metadata"]["uid"])
        return {"token": token, "ca": self._cluster_ca(run), "expires": reader_token.timestamp(expires),
                "renewed": True, "reason": reason}

    def _request_token(self, run, anchor_uid):
        """A new reader token (TokenRequest), bound to the anchor Secret; (token, exp as Unix seconds)."""
        from kubernetes.client import CoreV1Api
        days = self.params["reader_token_days"]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": days * reader_token.DAY,
                         "boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": TOKEN_ANCHOR,
                                            "uid": anchor_uid}}}
        answer = run.kube.call_raw(lambda: CoreV1Api(run.kube.api).create_namespaced_service_account_token(
            READER_SA, ISTIO_NAMESPACE, body, _request_timeout=run.kube.timeout),
            what="cluster %s: TokenRequest for %s/%s" % (run.name, ISTIO_NAMESPACE, READER_SA), convert=True)
        token = answer.status.token
        expires = reader_token.expiry(token)
        if expires is None:
            raise IstioError("cluster %s: the API server's TokenRequest answer for %s/%s holds no expiring token"
                             % (run.name, ISTIO_NAMESPACE, READER_SA))
        days_given = (expires - time.time()) / float(reader_token.DAY)
        if days_given < days * 0.9:
            self.warnings.append("cluster %s: the API server issued the reader token for %.1f days, not the %d "
                                 "asked for (reader_token_days; its --service-account-max-token-expiration caps "
                                 "it): re-run before %s to renew it, or the links to %s stop working"
                                 % (run.name, days_given, days, reader_token.timestamp(expires), run.name))
        return token, expires

    def _review_token(self, run, token):
        """None when ``run``'s API server accepts ``token`` as the reader account, else why not."""
        from kubernetes.client import AuthenticationV1Api
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        answer = run.kube.call_raw(lambda: AuthenticationV1Api(run.kube.api).create_token_review(
            body, _request_timeout=run.kube.timeout), what="cluster %s: TokenReview" % run.name, convert=True)
        status = answer.status
        want = "system:serviceaccount:%s:%s" % (ISTIO_NAMESPACE, READER_SA)
        if not status.authenticated:
            return "the API server of %s no longer accepts it (%s)" % (run.name, status.error or "revoked")
        if status.user is None or status.user.username != want:
            return "it authenticates as %s, not %s" % (getattr(status.user, "username", None), want)
        return None

    def _cluster_ca(self, run):
        """The cluster's CA (``kube-root-ca.crt``, which kube-controller-manager publishes in every namespace)."""
        from ansible_collections.multicloud.mesh.plugins.module_utils.retry import WaitTimeout, wait_until

        def probe():
            config_map = run.applier.get("v1", "ConfigMap", "kube-root-ca.crt", ISTIO_NAMESPACE)
            return ((config_map or {}).get("data") or {}).get("ca.crt")
        if self.check_mode:
            return probe()
        try:
            return wait_until(probe, timeout=min(self.params["wait_timeout"], 120), interval=0.5,
                              what="ConfigMap %s/kube-root-ca.crt" % ISTIO_NAMESPACE)
        except WaitTimeout as exc:
            raise IstioError("cluster %s: %s; kube-controller-manager's root CA publisher writes it (is it running "
                             "with --root-ca-file?)" % (run.name, exc))

    def _prune_remote_secrets(self, run, keep):
        selector = "%s=true,%s=%s,%s=%s" % (LABEL_MULTICLUSTER, LABEL_MANAGED, MANAGED_BY, LABEL_MESH,
                                            self.params["mesh_id"])
        for secret in run.applier.list("v1", "Secret", ISTIO_NAMESPACE, selector):
            if secret["metadata"]["name"] not in keep:
                run.applier.delete("v1", "Secret", secret["metadata"]["name"], ISTIO_NAMESPACE,
                                   wait=self.params["wait"], timeout=self.params["wait_timeout"])

    # ---- absent ----
    def uninstall(self):
        """Unlink every cluster first, then the primaries, then the remotes.

        An istiod writes into every cluster it reads through a remote secret (a primary's istiod makes the
        root-cert ConfigMaps of its remote clusters' namespaces): while it runs and reads a cluster, what is
        deleted there can come back. So the remote secrets go first, then the primaries (their istiod stops),
        then the remotes, whose objects need no istiod to be deleted.
        """
        for run in self.runs:
            self._prune_remote_secrets(run, keep=[])
            revoke_reader_tokens(run.applier)
        primaries = [r for r in self.runs if r.spec.get("primary")]
        for run in primaries + [r for r in self.runs if not r.spec.get("primary")]:
            self._uninstall_cluster(run)

    def _delete_istiod_leftovers(self, run):
        """What istiod created at runtime: root-cert/CRL ConfigMaps in every namespace (label
        istio.io/config=true), leader-election ConfigMaps and Leases, the IP auto-allocation map."""
        applier = run.applier
        found = [("v1", "ConfigMap", o) for o in applier.list("v1", "ConfigMap", label_selector="istio.io/config=true")]
        found += [("v1", "ConfigMap", o) for o in applier.list("v1", "ConfigMap", ISTIO_NAMESPACE)]
        found += [("coordination.k8s.io/v1", "Lease", o) for o in applier.list("coordination.k8s.io/v1", "Lease",
                                                                               ISTIO_NAMESPACE)]
        seen = set()
        for api_version, kind, obj in found:
            meta = obj["metadata"]
            key = (kind, meta.get("namespace"), meta["name"])
            if key in seen or (meta.get("labels") or {}).get(LABEL_MANAGED) == MANAGED_BY:
                continue
            seen.add(key)
            if meta["name"].startswith("istio-") or (meta.get("labels") or {}).get("istio.io/config") == "true":
                applier.delete(api_version, kind, meta["name"], meta.get("namespace"), wait=False)

    def _uninstall_cluster(self, run):
        """Delete one cluster's Istio objects, in groups; ``uninstall`` has already unlinked it."""
        p = self.params
        applier = run.applier
        wait, timeout = p["wait"], p["wait_timeout"]
        objects = delete_order(self.rendered(run, remote_pilot_address="unused"))
        groups = [
            [o for o in objects if o["kind"] not in CLUSTER_SCOPED_KINDS],
            [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")],
            [o for o in objects if o["kind"] in WEBHOOK_KINDS
             or o["kind"] in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")],
            [o for o in objects if o["kind"] == "CustomResourceDefinition"],
        ]
        for index, group in enumerate(groups):
            crds = index == len(groups) - 1
            if crds and not self.check_mode:
                for obj in group:
                    warm_custom_resources(applier, applier.get(CRD_API_VERSION, "CustomResourceDefinition",
                                                               obj["metadata"]["name"]))
            deleted = [o for o in group if applier.delete_object(o, wait=False)["changed"]]
            if deleted and wait and not self.check_mode:
                if crds:
                    wait_crds_gone(applier, [o["metadata"]["name"] for o in deleted], timeout)
                else:
                    applier.wait_all_gone(deleted, timeout)
            if index == 0:
                self._delete_istiod_leftovers(run)
        for namespace in p.get("injection_namespaces") or []:
            if applier.get("v1", "Namespace", namespace) is not None:
                applier.apply(namespace_object(namespace))  # drops the labels this field manager set
        if applier.get("v1", "Namespace", ISTIO_NAMESPACE) is None:
            return
        if applier.get("v1", "Secret", CACERTS, ISTIO_NAMESPACE) is None:
            applier.delete("v1", "Namespace", ISTIO_NAMESPACE, wait=wait and not self.check_mode, timeout=timeout)
        else:
            applier.apply(namespace_object(ISTIO_NAMESPACE))  # keep cacerts (mesh_ca's); drop our labels


# ---- deleting CRDs ------------------------------------------------------------------
# kube-apiserver's CRD finalizer (customresourcecleanup.apiextensions.k8s.io) lists a CRD's
# instances from the watch cache of that custom resource before it lets the CRD go. That cache
# is created on demand, by the first request for the resource; since Kubernetes 1.34
# (ResilientWatchCacheInitialization, locked on) a list on a cache that is still filling fails
# at once with 429 "storage is (re)initializing" instead of waiting. The finalizer then sets
# Terminating=True/InstanceDeletionFailed and retries 5 ms later from its workqueue; when its
# informer has not yet seen that status write, the retry's first status update conflicts and the
# finalizer drops the key ("we'll get called again"), and the update it then sees changed only
# the Terminating condition, which it ignores by design. Nothing wakes it until the informer's
# resync, 5 minutes later (apiextensions-apiserver@v0.35.4: pkg/controller/finalizer/
# crd_finalizer.go sync/updateCustomResourceDefinition, pkg/apiserver/apiserver.go resync).
# So before deleting a CRD its custom resources are listed once (the cache exists and is filled
# when the list answers), and a CRD still terminating after a failed or slow finalizer pass gets
# its finalizer queued again by an annotation change (any change outside the Terminating condition
# re-queues it).
CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
CRD_NUDGE_ANNOTATION = "multicloud.mesh/crd-finalizer-requeue"
CRD_NUDGE_AFTER = 5.0  # seconds a CRD may stay terminating before its finalizer is queued again
CRD_WARM_TIMEOUT = 10.0


def crd_storage_path(crd):
    """``/apis/<group>/<version>/<plural>`` of the version the finalizer lists (the storage version
    when it is served, else the first served one); None when the CRD serves nothing."""
    spec = (crd or {}).get("spec") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served")]
    if not served or not spec.get("group") or not (spec.get("names") or {}).get("plural"):
        return None
    version = ([v for v in served if v.get("storage")] or served)[0]["name"]
    return "/apis/%s/%s/%s" % (spec["group"], version, spec["names"]["plural"])


def crd_terminating(crd):
    """(reason, message) of a CRD's Terminating condition, or None when it has none."""
    for cond in ((crd or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Terminating":
            return cond.get("reason") or "", cond.get("message") or ""
    return None


def warm_custom_resources(applier, crd, timeout=CRD_WARM_TIMEOUT, sleep=time.sleep, clock=time.monotonic):
    """List the custom resources of ``crd`` (a live CRD dict) until the API server answers.

    The list creates the resource's watch cache and only succeeds once it is filled (an
    unpaginated list is not sent to etcd while the cache fills: 429). Best effort: returns
    whether a list succeeded; a CRD that is gone or serves nothing returns False.
    """
    path = crd_storage_path(crd)
    if path is None:
        return False
    deadline = clock() + timeout
    while True:
        try:
            applier.kube.dynamic.request("GET", path, _request_timeout=getattr(applier.kube, "timeout", 30))
            return True
        except Exception as exc:  # pylint: disable=broad-except
            status = getattr(exc, "status", None)
            if status not in (429, 500, 503, 504) or clock() >= deadline:
                return False
        sleep(0.2)


def requeue_crd_finalizer(applier, name, count):
    """Change an annotation of terminating CRD ``name`` so that the CRD finalizer looks at it again."""
    resource = applier.resource(CRD_API_VERSION, "CustomResourceDefinition")
    if resource is None:
        return False
    body = {"metadata": {"annotations": {CRD_NUDGE_ANNOTATION: str(count)}}}
    try:
        applier.kube.call_raw(lambda: resource.patch(body=body, name=name,
                                                     content_type="application/merge-patch+json",
                                                     _request_timeout=getattr(applier.kube, "timeout", 30)))
    except Exception as exc:  # pylint: disable=broad-except
        if getattr(exc, "status", None) in (404, 409, 422):
            return False  # gone meanwhile, or no longer patchable: the next probe tells
        from ansible_collections.multicloud.mesh.plugins.module_utils.apply import ApplyError
        from ansible_collections.multicloud.mesh.plugins.module_utils.kube import explain
        raise ApplyError("re-queueing the finalizer of CustomResourceDefinition/%s failed: %s"
                         % (name, explain(exc, applier.kube.server).msg))
    return True


def wait_crds_gone(applier, names, timeout, nudge_after=CRD_NUDGE_AFTER, sleep=None, clock=time.monotonic):
    """Wait until the CRDs ``names`` (deleted already) are gone; see the comment above.

    A CRD whose finalizer failed (Terminating reason InstanceDeletionFailed) or that is still
    terminating ``nudge_after`` seconds after the last look has its resources listed again and
    its finalizer re-queued. Raises ApplyError after ``timeout`` seconds with the CRDs' reasons.
    """
    from ansible_collections.multicloud.mesh.plugins.module_utils.apply import ApplyError
    from ansible_collections.multicloud.mesh.plugins.module_utils.retry import WaitTimeout, wait_until
    pending = dict((name, None) for name in names)
    started = clock()
    last_nudge = dict((name, started) for name in names)
    nudges = {}

    def probe():
        for name in list(pending):
            live = applier.get(CRD_API_VERSION, "CustomResourceDefinition", name)
            if live is None:
                pending.pop(name)
                continue
            pending[name] = crd_terminating(live)
            meta = live.get("metadata") or {}
            if not meta.get("deletionTimestamp") or CRD_CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
                continue  # not (or no longer) the CRD finalizer's to finish
            failed = (pending[name] or ("", ""))[0] == "InstanceDeletionFailed"
            if failed or clock() - last_nudge[name] >= nudge_after:
                warm_custom_resources(applier, live)
                nudges[name] = nudges.get(name, 0) + 1
                requeue_crd_finalizer(applier, name, nudges[name])
                last_nudge[name] = clock()
        return not pending
    try:
        wait_until(probe, timeout=timeout, interval=1.0, what="deletion", sleep=sleep, clock=clock)
    except WaitTimeout:
        details = ["CustomResourceDefinition/%s%s" % (name, " (Terminating: %s: %s)" % cond if cond else "")
                   for name, cond in sorted(pending.items())[:5]]
        raise ApplyError("timed out after %ss waiting for the deletion of %s in cluster %s"
                         % (timeout, ", ".join(details), applier.kube.server))
