# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Authentication options of the modules that call Google Cloud APIs.
    DOCUMENTATION = r"""
options:
  auth_kind:
    description:
      - How to authenticate to Google Cloud.
      - V(serviceaccount) uses a service account key, from O(service_account_file) or
        O(service_account_contents).
      - V(application) uses Application Default Credentials (the file named by the
        E(GOOGLE_APPLICATION_CREDENTIALS) environment variable, C(gcloud auth application-default login),
        or the metadata server of a GCE VM or GKE pod).
      - V(accesstoken) uses the OAuth2 access token in O(access_token) as is.
      - When not set, the kind follows from the options given (O(access_token), then a service account
        key), else V(application).
      - The E(GCP_AUTH_KIND) environment variable is used when the option is not set.
    type: str
    choices: [serviceaccount, application, accesstoken]
  service_account_file:
    description:
      - Path to a service account key JSON file, for O(auth_kind=serviceaccount).
      - The E(GCP_SERVICE_ACCOUNT_FILE) or E(GCE_CREDENTIALS_FILE_PATH) environment variable (set by the
        AWX/AAP C(Google Compute Engine) credential type) is used when the option is not set.
    type: path
  service_account_contents:
    description:
      - The content of a service account key JSON file, as a string or a dictionary, for
        O(auth_kind=serviceaccount).
      - The E(GCP_SERVICE_ACCOUNT_CONTENTS) environment variable is used when the option is not set.
    type: jsonarg
  access_token:
    description:
      - An OAuth2 access token, for O(auth_kind=accesstoken).
      - The E(GCP_ACCESS_TOKEN) environment variable is used when the option is not set.
    type: str
  scopes:
    description:
      - OAuth2 scopes requested for the access token.
      - Defaults to C(https://www.googleapis.com/auth/cloud-platform).
      - The E(GCP_SCOPES) environment variable (comma separated) is used when the option is not set.
    type: list
    elements: str
  api_endpoint:
    description:
      - Base URL of the Kubernetes Engine API, without C(/v1).
      - Defaults to C(https://container.googleapis.com). The sandbox's GKE emulator sets this to its own URL.
      - The E(GKE_API_ENDPOINT) environment variable is used when the option is not set.
    type: str
notes:
  - Authentication uses the C(google-auth) library; C(gcloud) is not needed.
  - The credentials need the C(container.clusters.*) and C(container.operations.*) permissions on the project,
    for example through C(roles/container.admin).
requirements:
  - google-auth >= 2.29
  - requests >= 2.31
"""
