# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options for one Kubernetes cluster, shared by every module that talks to one.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - The kubeconfig of the cluster, as a path to a file, its YAML content, or a dictionary.
      - Falls back to the E(K8S_AUTH_KUBECONFIG) environment variable.
      - Either O(kubeconfig) or O(host) is required.
      - The option is C(no_log) (as in C(kubernetes.core)). Content is masked whole in the module's result
        and log, and so are the credentials of content or a dictionary (everything under C(users[].user), that
        is tokens, client keys and certificates, passwords). A path and the public parts of a dictionary
        (server URL, cluster and context names) stay readable.
      - The E(K8S_AUTH_*) environment variables are only used when neither O(kubeconfig) nor O(host)
        is given; a connection given in the task is never mixed with one from the environment.
    type: raw
  context:
    description:
      - The context of O(kubeconfig) to use; its current context by default.
      - Falls back to E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - The API server URL, for bearer-token access without a kubeconfig (AWX's
        "OpenShift or Kubernetes API Bearer Token" credential injects E(K8S_AUTH_HOST)).
    type: str
  api_key:
    description:
      - A bearer token for O(host). Falls back to E(K8S_AUTH_API_KEY).
    type: str
  ca_cert:
    description:
      - Path of the CA certificate that signs the API server's certificate, for O(host).
      - Falls back to E(K8S_AUTH_SSL_CA_CERT).
    type: str
    aliases: [ssl_ca_cert]
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Only disable for testing.
      - Falls back to E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  request_timeout:
    description:
      - Seconds to wait for each API request.
      - A request that fails transiently (API server unreachable or restarting, HTTP 429 or 5xx) is retried with jittered backoff
        for up to twice this long.
    type: int
    default: 30
requirements:
  - kubernetes >= 30.1 (Python library)
  - PyYAML
"""
