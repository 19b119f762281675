# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The connection options shared by every module of keyguard.aws."""

    DOCUMENTATION = r"""
options:
  access_key:
    description:
      - The AWS access key ID to sign requests with.
      - When this and the other credential options are unset, botocore's credential chain decides, using the
        E(AWS_ACCESS_KEY_ID), E(AWS_SECRET_ACCESS_KEY) and E(AWS_SESSION_TOKEN) (or E(AWS_SECURITY_TOKEN))
        environment variables, E(AWS_PROFILE), shared config and credentials files, SSO, and container or
        instance roles.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - The secret access key that goes with O(access_key). Never logged or returned.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - The session token of temporary (STS) credentials, with O(access_key) and O(secret_key). Never logged or returned.
    type: str
    aliases: [aws_session_token, security_token, aws_security_token]
  profile:
    description:
      - A named profile from the AWS shared config and credentials files. Cannot be combined with O(access_key).
    type: str
    aliases: [aws_profile]
  region:
    description:
      - The region to sign requests for. IAM is a global service, so this is rarely needed;
        without one the module uses V(us-east-1), where IAM's global endpoint signs.
      - Set it for other partitions, for example V(cn-north-1) or V(us-gov-west-1).
    type: str
    aliases: [aws_region]
  endpoint_url:
    description:
      - Send IAM requests to this URL instead of AWS's IAM endpoint, for example a local test server.
      - botocore also reads E(AWS_ENDPOINT_URL_IAM) and E(AWS_ENDPOINT_URL).
    type: str
    aliases: [aws_endpoint_url]
  validate_certs:
    description:
      - Verify the endpoint's TLS certificate. Turn off only for a test endpoint you control.
    type: bool
    default: true
  aws_ca_bundle:
    description:
      - A CA bundle file to verify the endpoint's certificate with.
    type: path
  aws_config:
    description:
      - >-
        Settings for botocore's C(Config), for example
        V({"retries": {"total_max_attempts": 8}, "read_timeout": 30}).
      - The module defaults to botocore's V(standard) retry mode with 5 attempts in all, C(connect_timeout=5)
        and C(read_timeout=10) seconds. A task that makes calls concurrently (C(concurrency) above 1) uses
        botocore's V(adaptive) mode instead, which slows every thread down once IAM throttles. E(AWS_RETRY_MODE) and E(AWS_MAX_ATTEMPTS) change the retries too;
        O(aws_config) wins over both.
    type: dict
"""
