# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The connection options of keyguard.aws, each fragment an option set of its own.

    DOCUMENTATION holds the options that read the same for every plugin; MODULES (keyguard.aws.connection.modules)
    the rest worded for the modules (a task, concurrency, the self-lockout guard), and INVENTORY
    (keyguard.aws.connection.inventory) the same options worded for the accounts inventory, which has none of those.
    Each is one literal string: ansible-test's yamllint reads the fragments without running them.
    """

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
  assume_role_external_id:
    description:
      - The external ID that the role's trust policy requires (condition key C(sts:ExternalId)),
        2 to 1224 letters, digits or V(_+=,.@:/-). Only with O(assume_role_arn).
    version_added: 0.2.0
    type: str
  assume_role_session_name:
    description:
      - The role session name, 2 to 64 letters, digits or V(_+=,.@-). AWS CloudTrail shows it in the assumed
        role's ARN, so a distinct name tells these sessions apart from others of the same role.
    version_added: 0.2.0
    type: str
    default: keyguard-aws
"""

    MODULES = r"""
options:
  endpoint_url:
    description:
      - Send requests to this URL instead of AWS's endpoint, for example a local test server. The modules send
        IAM requests there, the P(keyguard.aws.accounts#inventory) inventory plugin Organizations requests.
      - botocore also reads E(AWS_ENDPOINT_URL_IAM), E(AWS_ENDPOINT_URL_ORGANIZATIONS) and E(AWS_ENDPOINT_URL),
        unless this option is set or E(AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) is V(true).
      - An http:// or https:// URL, with a port from 1 to 65535 if it gives one; the environment variables are
        checked the same way, and any user name or password in a URL is left out of messages.
      - A password in this URL (V(http://user:password@host)) is never shown; the modules add it to the task's
        no-log values, so Ansible masks it in C(invocation), at C(-vvvv) and in registered results.
      - This is not used for O(assume_role_arn)'s C(sts:AssumeRole); STS is reached through
        E(AWS_ENDPOINT_URL_STS), E(AWS_ENDPOINT_URL) or the profile's C(endpoint_url), or AWS's own endpoint.
    type: str
    aliases: [aws_endpoint_url]
  region:
    description:
      - The region to sign requests for. IAM and Organizations are global services, so this is rarely needed;
        without one, V(us-east-1) is used, where their global endpoints sign.
      - Set it for other partitions, for example V(cn-north-1) or V(us-gov-west-1).
      - It is also the region of the STS call that assumes the role of a O(profile) with C(role_arn), or of
        O(assume_role_arn). Without a region anywhere, a role in V(aws-cn) or V(aws-us-gov) is assumed in
        V(cn-north-1) or V(us-gov-west-1).
    type: str
    aliases: [aws_region]
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
        and C(read_timeout=10) seconds. A task that makes calls concurrently (C(concurrency) above 1) uses
        botocore's V(adaptive) mode instead, which slows every thread down once IAM throttles.
      - E(AWS_RETRY_MODE) and E(AWS_MAX_ATTEMPTS) change the retries too; O(aws_config) wins over both.
      - Each key is checked before any call, and a wrong type or value fails naming it, for example
        C(aws_config.read_timeout) (a number of seconds above 0, at most V(86400)) or C(aws_config.proxies).
      - The password of a proxy URL in C(aws_config.proxies) (V(http://user:password@proxy:3128)) is masked like
        that of O(endpoint_url).
    type: dict
  assume_role_arn:
    description:
      - Assume this IAM role and work with its temporary credentials, for example
        V(arn:aws:iam::123456789012:role/OrganizationAccountAccessRole) to reach a member account of an
        AWS Organization.
      - The task calls C(sts:AssumeRole) once, signed with the base credentials that the other options or
        the credential chain of botocore provide (an AWX credential included), then makes every other call with
        the temporary credentials of the role. Neither the temporary secret key nor the session token is ever logged or returned.
      - A profile with C(role_arn) and C(source_profile) (or C(credential_source)) in the AWS config file
        already assumes a role through botocore; set O(profile) to use it instead.
      - The self-lockout guard of M(keyguard.aws.iam_access_key_status) still protects the base access key.
    version_added: 0.2.0
    type: str
    aliases: [iam_role_arn]
  assume_role_duration_seconds:
    description:
      - How long the role's credentials last, from V(900) (15 minutes) to V(43200) (12 hours). A task needs them
        only while it runs; a duration above the role's own maximum session duration is refused by AWS.
    version_added: 0.2.0
    type: int
    default: 900
"""

    INVENTORY = r"""
options:
  endpoint_url:
    description:
      - Send requests to this URL instead of AWS's endpoint, for example a local test server. The modules send
        IAM requests there, the P(keyguard.aws.accounts#inventory) inventory plugin Organizations requests.
      - botocore also reads E(AWS_ENDPOINT_URL_IAM), E(AWS_ENDPOINT_URL_ORGANIZATIONS) and E(AWS_ENDPOINT_URL),
        unless this option is set or E(AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) is V(true).
      - An http:// or https:// URL, with a port from 1 to 65535 if it gives one; the environment variables are
        checked the same way, and any user name or password in a URL is left out of messages.
      - A password in this URL (V(http://user:password@host)) is never shown in the inventory's messages and errors,
        at any verbosity, or in its cache.
      - This is not used for O(assume_role_arn)'s C(sts:AssumeRole); STS is reached through
        E(AWS_ENDPOINT_URL_STS), E(AWS_ENDPOINT_URL) or the profile's C(endpoint_url), or AWS's own endpoint.
    type: str
    aliases: [aws_endpoint_url]
  region:
    description:
      - The region to sign requests for. IAM and Organizations are global services, so this is rarely needed;
        without one, V(us-east-1) is used, where their global endpoints sign.
      - Set it for other partitions, for example V(cn-north-1) or V(us-gov-west-1).
      - It is also the region of the STS call that assumes the role of a O(profile) with C(role_arn), or of
        O(assume_role_arn). Without a region anywhere, a role in V(aws-cn) or V(aws-us-gov) is assumed in
        V(cn-north-1) or V(us-gov-west-1).
    type: str
    aliases: [aws_region]
  validate_certs:
    description:
      - Verify the endpoint's TLS certificate. Turn off only for a test endpoint you control.
      - V(false) turns verification off entirely, whatever O(aws_ca_bundle) or E(AWS_CA_BUNDLE) say, for every call
        of the listing, including the STS call that assumes a profile's C(role_arn).
    type: bool
    default: true
  aws_ca_bundle:
    description:
      - A CA bundle file to verify the endpoint's certificate with, for example a TLS-inspecting proxy's CA.
      - When unset, botocore's own chain decides, as for the AWS CLI, E(AWS_CA_BUNDLE), then the profile's
        C(ca_bundle), then E(REQUESTS_CA_BUNDLE), then the bundle botocore ships with.
      - It applies to every call of the listing, including the STS call that assumes a profile's C(role_arn).
      - The bundle in use, from this option or that chain, must be a file of PEM CA certificates (or a directory of
        them); a missing or unreadable one fails before any call, naming the setting it came from.
    type: path
  aws_config:
    description:
      - >-
        Settings for botocore's C(Config), for example
        V({"retries": {"total_max_attempts": 8}, "read_timeout": 30}).
      - The inventory defaults to botocore's V(standard) retry mode with 5 attempts in all, C(connect_timeout=5)
        and C(read_timeout=10) seconds.
      - E(AWS_RETRY_MODE) and E(AWS_MAX_ATTEMPTS) change the retries too; O(aws_config) wins over both.
      - Each key is checked before any call, and a wrong type or value fails naming it, for example
        C(aws_config.read_timeout) (a number of seconds above 0, at most V(86400)) or C(aws_config.proxies).
      - A user name and password in a C(proxies) URL never appear in a message, an error or the cache.
    type: dict
  assume_role_arn:
    description:
      - Assume this IAM role and work with its temporary credentials, for example
        V(arn:aws:iam::123456789012:role/OrganizationAccountAccessRole) to reach a member account of an
        AWS Organization.
      - The inventory calls C(sts:AssumeRole) once, signed with the base credentials that the other options or
        the credential chain of botocore provide (an AWX credential included), then lists the accounts with
        the temporary credentials of the role. Neither the temporary secret key nor the session token is ever logged or returned.
      - A profile with C(role_arn) and C(source_profile) (or C(credential_source)) in the AWS config file
        already assumes a role through botocore; set O(profile) to use it instead.
      - With O(cache=true), a listing served from the cache makes no call at all.
    version_added: 0.2.0
    type: str
    aliases: [iam_role_arn]
  assume_role_duration_seconds:
    description:
      - How long the role's credentials last, from V(900) (15 minutes) to V(43200) (12 hours). The listing needs them
        only while it runs; a duration above the role's own maximum session duration is refused by AWS.
    version_added: 0.2.0
    type: int
    default: 900
"""
