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
      - It is also the region of the STS call that assumes the role of a O(profile) with C(role_arn).
    type: str
    aliases: [aws_region]
  endpoint_url:
    description:
      - Send IAM requests to this URL instead of AWS's IAM endpoint, for example a local test server.
      - botocore also reads E(AWS_ENDPOINT_URL_IAM) and E(AWS_ENDPOINT_URL), unless this option is set or
        E(AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) is V(true).
      - An http:// or https:// URL, with a port from 1 to 65535 if it gives one; the environment variables are
        checked the same way, and any user name or password in a URL is left out of messages.
    type: str
    aliases: [aws_endpoint_url]
  validate_certs:
    description:
      - Verify the endpoint's TLS certificate. Turn off only for a test endpoint you control.
      - V(false) turns verification off entirely, whatever O(aws_ca_bundle) or E(AWS_CA_BUNDLE) say, for every call
        the task makes, including the STS call that assumes a profile's C(role_arn).
    type: bool
    default: true
  aws_ca_bundle:
    description:
      - A CA bundle file to verify the endpoint's certificate with, for example a TLS-inspecting proxy's CA.
      - When unset, botocore's own chain decides, as for the AWS CLI, E(AWS_CA_BUNDLE), then the profile's
        C(ca_bundle), then E(REQUESTS_CA_BUNDLE), then the bundle botocore ships with.
      - It applies to every call the task makes, including the STS call that assumes a profile's C(role_arn).
      - The bundle in use, from this option or that chain, must be a file of PEM CA certificates (or a directory of
        them); a missing or unreadable one fails before any call, naming the setting it came from.
    type: path
  aws_config:
    description:
      - >-
        Settings for botocore's C(Config), for example
        V({"retries": {"total_max_attempts": 8}, "read_timeout": 30}).
      - The module defaults to botocore's V(standard) retry mode with 5 attempts in all, C(connect_timeout=5)
        and C(read_timeout=10) seconds. E(AWS_RETRY_MODE) and E(AWS_MAX_ATTEMPTS) change the retries too;
        O(aws_config) wins over both.
      - Each key is checked before any call, and a wrong type or value fails naming it, for example
        C(aws_config.read_timeout) (a number of seconds above 0, at most V(86400)) or C(aws_config.proxies).
    type: dict
"""
