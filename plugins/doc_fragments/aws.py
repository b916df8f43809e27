# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # AWS connection options, named as in amazon.aws so that playbooks and AWX credentials carry over.
    DOCUMENTATION = r"""
options:
  region:
    description:
      - The AWS region, for example C(eu-central-1).
      - The E(AWS_REGION), E(AWS_DEFAULT_REGION) or E(EC2_REGION) environment variable is used when the
        option is not set.
    type: str
    aliases: [aws_region, ec2_region]
  profile:
    description:
      - A named profile of the AWS shared configuration and credentials files.
      - Mutually exclusive with O(access_key) and O(secret_key).
      - The E(AWS_PROFILE) or E(AWS_DEFAULT_PROFILE) environment variable is used when the option is not set.
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - The AWS access key ID.
      - The E(AWS_ACCESS_KEY_ID), E(AWS_ACCESS_KEY) or E(EC2_ACCESS_KEY) environment variable is used when
        the option is not set (the AWX/AAP C(Amazon Web Services) credential sets E(AWS_ACCESS_KEY_ID)).
      - When neither keys nor a profile are given, boto3's default chain applies (shared files,
        container and instance roles, web identity).
    type: str
    aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
  secret_key:
    description:
      - The AWS secret access key.
      - The E(AWS_SECRET_ACCESS_KEY), E(AWS_SECRET_KEY) or E(EC2_SECRET_KEY) environment variable is used
        when the option is not set.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
  session_token:
    description:
      - The AWS session token, for temporary credentials.
      - The E(AWS_SESSION_TOKEN), E(AWS_SECURITY_TOKEN) (set by the AWX/AAP C(Amazon Web Services)
        credential) or E(EC2_SECURITY_TOKEN) environment variable is used when the option is not set.
    type: str
    aliases: [aws_session_token, security_token, aws_security_token]
  endpoint_url:
    description:
      - URL of the AWS API to talk to instead of the public endpoints, for all services the module calls.
      - The sandbox's AWS emulator sets this to its own URL (for example C(http://127.0.0.1:4566)).
      - The E(AWS_ENDPOINT_URL) environment variable is used when the option is not set.
    type: str
    aliases: [aws_endpoint_url]
notes:
  - Credentials and the session token are never logged or returned.
  - Throttling (for example C(ThrottlingException)) and transient 5xx errors are retried with
    jittered exponential backoff.
requirements:
  - boto3 >= 1.34
  - botocore >= 1.34
"""
