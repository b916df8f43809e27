"""The collection works with AWX's built-in credential types, through the environment they inject.

For each built-in credential type the modules support, the environment AWX injects into a job
(awx-plugins ``awx_plugins/credentials/injectors.py``: ``aws``, ``gce``,
``kubernetes_bearer_token``; older AWX releases inject a subset, tested too) is set, and the
shared resolvers of module_utils must turn it into the connection the modules use, with no
custom injector and no module option set:

- "Amazon Web Services": AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SECURITY_TOKEN (and
  AWS_SESSION_TOKEN since awx-plugins) -> ``aws.aws_argument_spec`` / ``aws.aws_session``.
- "Google Compute Engine": a service account key file (type, private_key, client_email,
  project_id, token_uri) named by GCE_CREDENTIALS_FILE_PATH and GCP_SERVICE_ACCOUNT_FILE, with
  GCE_PROJECT/GCE_EMAIL and GCP_AUTH_KIND/GCP_PROJECT/GCP_ENV_TYPE (GOOGLE_APPLICATION_CREDENTIALS
  since awx-plugins) -> ``gcp.auth_argument_spec`` / ``gcp.gcp_credentials`` and the project.
- "OpenShift or Kubernetes API Bearer Token": K8S_AUTH_HOST, K8S_AUTH_API_KEY,
  K8S_AUTH_VERIFY_SSL ('True'/'False') and, when verifying, K8S_AUTH_SSL_CA_CERT (a file) ->
  ``kube.resolve_params`` / ``kube.build_configuration``. The same credential against a real
  cluster: tests/integration/targets/awx_credentials.

Option fallbacks declared with ``env_fallback`` are applied by Ansible's argument validation,
the same code AnsibleModule runs (``ArgumentSpecValidator``).
"""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # ansible_collections/multicloud/mesh -> the repo (make venv)

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402

from ansible_collections.multicloud.mesh.plugins.module_utils import aws, gcp, kube  # noqa: E402
from ansible_collections.multicloud.mesh.plugins.modules import cluster_info, eks_cluster, gke_cluster  # noqa: E402

# Every variable any of the three injectors sets, plus the ones a developer's shell may carry:
# each test starts from an environment without them.
CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "EC2_REGION",
    "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "GCE_CREDENTIALS_FILE_PATH", "GCE_EMAIL", "GCE_PROJECT", "GCP_SERVICE_ACCOUNT_FILE",
    "GCP_SERVICE_ACCOUNT_CONTENTS", "GCP_AUTH_KIND", "GCP_PROJECT", "GCP_ENV_TYPE", "GCP_ACCESS_TOKEN",
    "GCP_SCOPES", "GKE_API_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
    "K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_VERIFY_SSL", "K8S_AUTH_SSL_CA_CERT",
    "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    # no ~/.aws files of the machine running the tests
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def validate(spec, params=None):
    """Module parameters after Ansible's validation (env fallbacks applied), and the no_log values."""
    result = ArgumentSpecValidator(spec).validate(dict(params or {}))
    assert not result.error_messages, result.error_messages
    return result.validated_parameters, result._no_log_values


def required_free(spec):
    """The spec without `required` (the tests only look at the connection options)."""
    out = {}
    for key, value in spec.items():
        value = dict(value)
        value.pop("required", None)
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# "Amazon Web Services"
# ---------------------------------------------------------------------------------------------

def inject_aws(monkeypatch, security_token=None, both_tokens=True):
    """What AWX's aws injector sets (both_tokens=False: AWX releases before awx-plugins)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAWXINJECTED00001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "awx-secret-key")
    if security_token is not None:
        monkeypatch.setenv("AWS_SECURITY_TOKEN", security_token)
        if both_tokens:
            monkeypatch.setenv("AWS_SESSION_TOKEN", security_token)


@pytest.mark.parametrize("both_tokens", [True, False], ids=["awx-plugins", "older-awx"])
def test_aws_credential_with_security_token(monkeypatch, both_tokens):
    inject_aws(monkeypatch, security_token="awx-sts-token", both_tokens=both_tokens)
    params, no_log = validate(aws.aws_argument_spec(), {"region": "eu-central-1"})
    assert params["access_key"] == "AKIAAWXINJECTED00001"
    assert params["secret_key"] == "awx-secret-key"
    assert params["session_token"] == "awx-sts-token"
    assert {"awx-secret-key", "awx-sts-token"} <= set(no_log)
    assert aws.connection_errors(params) == []
    creds = aws.aws_session(params).get_credentials().get_frozen_credentials()
    assert (creds.access_key, creds.secret_key, creds.token) == ("AKIAAWXINJECTED00001", "awx-secret-key", "awx-sts-token")


def test_aws_credential_without_security_token(monkeypatch):
    inject_aws(monkeypatch)
    params = validate(aws.aws_argument_spec(), {"region": "eu-central-1"})[0]
    assert params["session_token"] is None
    assert aws.connection_errors(params) == []
    creds = aws.aws_session(params).get_credentials().get_frozen_credentials()
    assert creds.access_key == "AKIAAWXINJECTED00001" and creds.token is None


def test_aws_credential_has_no_region(monkeypatch):
    """AWX's AWS credential injects no region: it comes from a variable or AWS_REGION."""
    inject_aws(monkeypatch)
    params = validate(aws.aws_argument_spec())[0]
    assert any("region is required" in e for e in aws.connection_errors(params))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    params = validate(aws.aws_argument_spec())[0]
    assert params["region"] == "eu-west-1" and aws.connection_errors(params) == []


def test_aws_explicit_options_win_over_the_credential(monkeypatch):
    inject_aws(monkeypatch, security_token="awx-sts-token")
    given = {"region": "eu-central-1", "access_key": "AKIAEXPLICIT00000001", "secret_key": "explicit",
             "session_token": "explicit-token"}
    params = validate(aws.aws_argument_spec(), given)[0]
    assert (params["access_key"], params["secret_key"], params["session_token"]) == \
        ("AKIAEXPLICIT00000001", "explicit", "explicit-token")


def test_aws_credential_and_a_profile_conflict_clearly(monkeypatch):
    inject_aws(monkeypatch)
    params = validate(aws.aws_argument_spec(), {"region": "eu-central-1", "profile": "dev"})[0]
    assert any("mutually exclusive" in e and "AWS_ACCESS_KEY_ID" in e for e in aws.connection_errors(params))


def test_aws_credential_reaches_the_eks_cluster_module(monkeypatch):
    inject_aws(monkeypatch, security_token="awx-sts-token", both_tokens=False)
    params = validate(required_free(eks_cluster.argument_spec()), {"name": "mesh-1", "region": "eu-central-1"})[0]
    assert (params["access_key"], params["session_token"]) == ("AKIAAWXINJECTED00001", "awx-sts-token")


# ---------------------------------------------------------------------------------------------
# "Google Compute Engine"
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def inject_gce(monkeypatch, tmp_path, pem, legacy=False):
    """What AWX's gce injector sets: a key file and the variables naming it.

    legacy=True: only the GCE_* variables (the names of AWX's first GCE injector and of the old
    gce.py inventory script), to show each name alone is enough.
    """
    key = {"type": "service_account", "private_key": pem, "client_email": "awx@mesh-project.iam.gserviceaccount.com",
           "project_id": "mesh-project", "token_uri": "https://oauth2.googleapis.com/token"}
    path = tmp_path / "env" / "tmpgce"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(key, indent=2))
    os.chmod(str(path), 0o600)
    monkeypatch.setenv("GCE_EMAIL", key["client_email"])
    monkeypatch.setenv("GCE_PROJECT", "mesh-project")
    monkeypatch.setenv("GCE_CREDENTIALS_FILE_PATH", str(path))
    if not legacy:
        monkeypatch.setenv("GCP_SERVICE_ACCOUNT_FILE", str(path))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        monkeypatch.setenv("GCP_AUTH_KIND", "serviceaccount")
        monkeypatch.setenv("GCP_PROJECT", "mesh-project")
        monkeypatch.setenv("GCP_ENV_TYPE", "tower")
    return str(path), key


@pytest.mark.parametrize("legacy", [False, True], ids=["GCP_and_GCE", "GCE_only"])
def test_gce_credential_gives_service_account_credentials(monkeypatch, tmp_path, rsa_pem, legacy):
    path, key = inject_gce(monkeypatch, tmp_path, rsa_pem, legacy=legacy)
    params = validate(gcp.auth_argument_spec())[0]
    assert params["service_account_file"] == path
    assert params["auth_kind"] == (None if legacy else "serviceaccount")
    assert gcp._auth_kind(params) == "serviceaccount"
    credentials = gcp.gcp_credentials(params)  # nothing is fetched yet
    assert credentials.service_account_email == key["client_email"]
    assert credentials.project_id == "mesh-project"
    assert gcp.CLOUD_PLATFORM_SCOPE in credentials.scopes


@pytest.mark.parametrize("legacy", [False, True], ids=["GCP_and_GCE", "GCE_only"])
def test_gce_credential_gives_the_project(monkeypatch, tmp_path, rsa_pem, legacy):
    inject_gce(monkeypatch, tmp_path, rsa_pem, legacy=legacy)
    assert gcp.project_from_env() == "mesh-project"
    spec = required_free(gke_cluster.argument_spec())
    params = validate(spec, {"name": "mesh-2", "location": "europe-west3-b"})[0]
    assert params["project"] == "mesh-project"
    assert not [e for e in gcp.validate_params(params) if "project" in e]


def test_gce_key_is_the_shape_awx_writes(monkeypatch, tmp_path, rsa_pem):
    """AWX's key file has exactly type, private_key, client_email, project_id, token_uri."""
    path, key = inject_gce(monkeypatch, tmp_path, rsa_pem)
    assert gcp._key_info({"service_account_file": path}) == key


def test_gce_explicit_options_win_over_the_credential(monkeypatch, tmp_path, rsa_pem):
    inject_gce(monkeypatch, tmp_path, rsa_pem)
    params = validate(gcp.auth_argument_spec(), {"auth_kind": "accesstoken", "access_token": "ya29.explicit"})[0]
    assert gcp._auth_kind(params) == "accesstoken"
    assert gcp.gcp_credentials(params).token == "ya29.explicit"


def test_gce_credential_file_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GCP_AUTH_KIND", "serviceaccount")
    monkeypatch.setenv("GCE_CREDENTIALS_FILE_PATH", str(tmp_path / "gone"))
    params = validate(gcp.auth_argument_spec())[0]
    with pytest.raises(gcp.GcpError, match="does not exist"):
        gcp.gcp_credentials(params)


# ---------------------------------------------------------------------------------------------
# "OpenShift or Kubernetes API Bearer Token"
# ---------------------------------------------------------------------------------------------

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def inject_k8s(monkeypatch, tmp_path, verify_ssl=True):
    """What AWX's kubernetes_bearer_token injector sets."""
    monkeypatch.setenv("K8S_AUTH_HOST", "https://mesh-1.example:6443")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "awx-bearer-token")
    if verify_ssl:
        ca = tmp_path / "env" / "tmpca"
        ca.parent.mkdir(exist_ok=True)
        ca.write_text(CA_PEM)
        monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "True")
        monkeypatch.setenv("K8S_AUTH_SSL_CA_CERT", str(ca))
        return str(ca)
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "False")
    return None


def module_params(**given):
    """cluster_info's parameters as AnsibleModule gives them (no option set, defaults applied)."""
    params = validate(kube.KUBE_ARG_SPEC, given)[0]
    return params


def test_k8s_module_options_leave_room_for_the_credential():
    """No default hides the environment: unset options stay None for resolve_params."""
    params = module_params()
    for key in ("kubeconfig", "context", "host", "api_key", "ca_cert", "validate_certs"):
        assert params[key] is None, key
    assert "api_key" in [k for k, v in kube.KUBE_ARG_SPEC.items() if v.get("no_log")]


def test_k8s_bearer_token_credential_with_ca(monkeypatch, tmp_path):
    ca = inject_k8s(monkeypatch, tmp_path)
    resolved = kube.resolve_params(module_params())
    assert resolved["host"] == "https://mesh-1.example:6443"
    assert resolved["api_key"] == "awx-bearer-token"
    assert resolved["ca_cert"] == ca
    assert resolved["validate_certs"] is True
    configuration = kube.build_configuration(module_params())
    assert configuration.host == "https://mesh-1.example:6443"
    assert configuration.api_key == {"authorization": "Bearer awx-bearer-token"}
    assert configuration.ssl_ca_cert == ca
    assert configuration.verify_ssl is True


def test_k8s_bearer_token_credential_without_verification(monkeypatch, tmp_path):
    """verify_ssl off in the credential: AWX sets K8S_AUTH_VERIFY_SSL=False and no CA file."""
    inject_k8s(monkeypatch, tmp_path, verify_ssl=False)
    configuration = kube.build_configuration(module_params())
    assert configuration.verify_ssl is False
    assert not configuration.ssl_ca_cert
    assert configuration.api_key == {"authorization": "Bearer awx-bearer-token"}


@pytest.mark.parametrize("value,expected", [("True", True), ("true", True), ("False", False), ("false", False),
                                            ("yes", True), ("no", False), ("1", True), ("0", False)])
def test_k8s_verify_ssl_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("K8S_AUTH_HOST", "https://mesh-1.example:6443")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", value)
    assert kube.resolve_params(module_params())["validate_certs"] is expected


def test_k8s_explicit_options_win_over_the_credential(monkeypatch, tmp_path):
    inject_k8s(monkeypatch, tmp_path)
    resolved = kube.resolve_params(module_params(host="https://other:6443", api_key="explicit", validate_certs=False))
    assert (resolved["host"], resolved["api_key"], resolved["validate_certs"]) == ("https://other:6443", "explicit", False)
    # an explicit connection is taken as a whole: the credential's CA is not mixed into it
    assert resolved["ca_cert"] is None


def test_k8s_a_kubeconfig_option_wins_over_the_credential_host(monkeypatch, tmp_path):
    """A role that passes its cluster's kubeconfig is not redirected by a credential in the job."""
    inject_k8s(monkeypatch, tmp_path)
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
                  "clusters": [{"name": "c", "cluster": {"server": "https://kubeconfig-server:6443"}}],
                  "users": [{"name": "u", "user": {"token": "kubeconfig-token"}}],
                  "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    configuration = kube.build_configuration(module_params(kubeconfig=kubeconfig))
    assert configuration.host == "https://kubeconfig-server:6443"


def test_k8s_no_credential_and_no_option_says_which_variables(monkeypatch):
    with pytest.raises(kube.KubeError, match="K8S_AUTH_HOST"):
        kube.build_configuration(module_params())


def test_cluster_info_uses_the_shared_kube_options():
    """cluster_info takes its connection options from kube.KUBE_ARG_SPEC (and so the K8S_AUTH_* fallbacks)."""
    source = open(cluster_info.__file__).read()
    assert "KUBE_ARG_SPEC" in source and "connect" in source
