# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options -> botocore IAM client, and the collection's one error type."""

from __future__ import annotations

import os
import re
from typing import NamedTuple

try:
    import botocore.session
    from botocore import xform_name
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )
    from botocore.exceptions import (
        ConnectionError as EndpointUnreachable,
    )
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib
    HAS_BOTOCORE = False
else:
    HAS_BOTOCORE = True

# Shared by every module; the documentation lives in the doc fragment keyguard.aws.connection.
CONNECTION_ARGS = dict(
    access_key=dict(type="str", aliases=["aws_access_key_id"], no_log=False),
    secret_key=dict(type="str", aliases=["aws_secret_access_key"], no_log=True),
    session_token=dict(type="str", aliases=["aws_session_token", "security_token", "aws_security_token"], no_log=True),
    profile=dict(type="str", aliases=["aws_profile"]),
    region=dict(type="str", aliases=["aws_region"]),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url"]),
    validate_certs=dict(type="bool", default=True),
    aws_ca_bundle=dict(type="path"),
    aws_config=dict(type="dict"),
)


def connection_rules(mutually_exclusive=()):
    """Return AnsibleModule's rules for the connection options, plus a module's own mutually exclusive sets."""
    return dict(
        required_together=[["access_key", "secret_key"]],
        required_by={"session_token": ["access_key", "secret_key"]},
        mutually_exclusive=[["profile", "access_key"], *mutually_exclusive],
    )


# Fail fast against an endpoint that is down or hangs; users tune these through aws_config.
DEFAULT_TIMEOUTS = dict(connect_timeout=5, read_timeout=10)
DEFAULT_MAX_ATTEMPTS = 5

ACCESS_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_]{16,128}")
PROFILE_PATTERN = re.compile(r"[A-Za-z0-9_+=,.@:/-]{1,128}")
REGION_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
URL_PATTERN = re.compile(r"https?://[^\s/?#]+[^\s]*")

THROTTLING_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
UNAVAILABLE_CODES = {"ServiceUnavailable", "ServiceUnavailableException", "ServiceFailure", "InternalFailure"}
CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "IncompleteSignature",
    "AuthFailure",
}
REDACTED = "********"
# Failures of the endpoint or the credentials, not of one user or key: every further call would fail the same way.
ENDPOINT_FAILURE_CODES = frozenset(
    {"EndpointUnreachable", "ReadTimeout", "NoCredentials"} | THROTTLING_CODES | UNAVAILABLE_CODES | CREDENTIAL_CODES
)


class KeyguardError(Exception):
    """A failure to report to the user as one line; `code` keeps the AWS error code, if any."""

    def __init__(self, message, code=None, result=None):
        super().__init__(message)
        self.code = code
        self.result = result or {}  # what the task still reports when it fails, e.g. the keys it did change


class Connection(NamedTuple):
    """What one task works with: the client, and what the self-lockout guard and redaction must know."""

    client: object
    signing_key_id: str  # the access key ID that signs this task's requests
    protected_key_ids: frozenset  # keys whose deactivation would lock these credentials out (the signing key first)
    secrets: tuple  # every secret and session token in play, to scrub from any message


def validate_connection(params):
    """Raise KeyguardError naming the first connection option whose value cannot work."""
    for name in ("access_key", "secret_key", "session_token", "profile", "region", "endpoint_url", "aws_ca_bundle"):
        value = params.get(name)
        if value is not None and not value.strip():
            raise KeyguardError(f"{name} is empty; omit it to let the AWS credential chain decide.")
    for name in ("secret_key", "session_token"):
        value = params.get(name)
        if value is not None and (value != value.strip() or any(ch.isspace() or not ch.isprintable() for ch in value)):
            raise KeyguardError(f"{name} contains whitespace or control characters; check how it was set.")
    if params.get("access_key") is not None and not ACCESS_KEY_ID_PATTERN.fullmatch(params["access_key"]):
        raise KeyguardError("access_key must be an AWS access key ID: 16 to 128 letters, digits or underscores.")
    if params.get("profile") is not None and not PROFILE_PATTERN.fullmatch(params["profile"]):
        raise KeyguardError("profile must be a profile name: 1 to 128 letters, digits and _+=,.@:/- (no spaces).")
    if params.get("region") is not None and not REGION_PATTERN.fullmatch(params["region"]):
        raise KeyguardError("region must be an AWS region name such as us-east-1 (lowercase letters, digits, hyphens).")
    if params.get("endpoint_url") is not None and not URL_PATTERN.fullmatch(params["endpoint_url"]):
        raise KeyguardError("endpoint_url must be an http:// or https:// URL, for example https://iam.amazonaws.com.")
    if params.get("aws_ca_bundle") is not None and not os.path.isfile(params["aws_ca_bundle"]):
        raise KeyguardError(f"aws_ca_bundle: no such file {params['aws_ca_bundle']!r}.")
    client_config(params.get("aws_config"))


def client_config(aws_config):
    """Return the botocore Config for IAM: our timeouts and retries, overridden by the task's aws_config."""
    config = Config(**DEFAULT_TIMEOUTS)
    if not aws_config:
        return config
    try:
        return config.merge(Config(**aws_config))
    except TypeError as exc:
        raise KeyguardError(f"aws_config: {exc}; see botocore's Config for the accepted keys.") from None
    except (ValueError, BotoCoreError) as exc:
        raise KeyguardError(f"aws_config: {exc}") from None


def _retries(session, mode="standard"):
    """Return botocore's retry settings in `mode`, leaving out what AWS_RETRY_MODE/AWS_MAX_ATTEMPTS already set."""
    # Read the user's own settings directly: botocore's built-in default mode differs between versions.
    profile = session.get_scoped_config()
    retries = {}
    if not (os.environ.get("AWS_RETRY_MODE") or profile.get("retry_mode")):
        retries["mode"] = mode
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or profile.get("max_attempts")):
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    return retries


def connect(params, service="iam", max_pool_connections=None):
    """Return a Connection with a botocore client of `service` for the task's connection options; raise KeyguardError.

    max_pool_connections sizes the client's HTTP pool for a task that shares the client between threads; such a
    client retries in botocore's adaptive mode (see retry_mode).
    """
    try:
        session = botocore.session.Session(profile=params.get("profile"))
        if params.get("access_key"):
            session.set_credentials(params["access_key"], params["secret_key"], params.get("session_token"))
        credentials = session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        credentials = credentials.get_frozen_credentials()
        # IAM is global: AWS needs no region, but a custom endpoint (AWS_ENDPOINT_URL_IAM, moto)
        # still has to be signed for one, and us-east-1 is where IAM's global endpoint signs.
        region = params.get("region") or session.get_config_variable("region") or "us-east-1"
        config = Config(retries=_retries(session, retry_mode(max_pool_connections))).merge(
            client_config(params.get("aws_config"))
        )
        if max_pool_connections:
            config = config.merge(Config(max_pool_connections=max_pool_connections))
        client = session.create_client(
            service,
            region_name=region,
            endpoint_url=params.get("endpoint_url"),
            verify=params.get("aws_ca_bundle") or params.get("validate_certs", True),
            config=config,
        )
    except BotoCoreError as exc:
        raise describe_error(exc) from None
    secrets = tuple(
        s
        for s in (params.get("secret_key"), params.get("session_token"), credentials.secret_key, credentials.token)
        if s
    )
    return Connection(client, credentials.access_key, frozenset([credentials.access_key]), secrets)


def retry_mode(max_pool_connections):
    """Return botocore's retry mode for a client shared by this many threads: adaptive when more than one.

    Measured (benchmarks/account_scale.py): under a throttle, 8 workers in standard mode each retry on their own,
    keep hitting the limit, and can run out of attempts; adaptive mode's client-wide rate limiter slows them all
    down after the first throttle, so far fewer calls are refused. Its limiter only engages once a throttle is seen.
    """
    return "adaptive" if (max_pool_connections or 1) > 1 else "standard"


def call(client, operation, **params):
    """Call one IAM operation (API name, e.g. ListAccessKeys) and return its response; raise KeyguardError."""
    try:
        return getattr(client, xform_name(operation))(**params)
    except (BotoCoreError, ClientError) as exc:
        raise describe_error(exc, operation) from None


def describe_error(exc, operation=None):
    """Return a KeyguardError with one readable line for a botocore exception raised by `operation`."""
    action = f"iam:{operation}" if operation else "Connecting to IAM"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message") or str(exc)
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        if code.startswith("AccessDenied") or code == "UnauthorizedOperation":
            text = (
                f"Access denied: these credentials may not call {action}. "
                f"Grant {action} or use other credentials. AWS said: {message}"
            )
        elif code in THROTTLING_CODES:
            text = (
                f"IAM throttled {action} and it still failed after {attempts} attempts ({code}). "
                "Try again later, or raise aws_config.retries.total_max_attempts."
            )
        elif code in UNAVAILABLE_CODES:
            text = f"IAM was unavailable for {action} after {attempts} attempts ({code}): {message}"
        elif code in CREDENTIAL_CODES:
            text = f"AWS rejected the credentials calling {action} ({code}): {message}"
        else:
            text = f"{action} failed ({code}): {message}"
        return KeyguardError(text, code)
    if isinstance(exc, NoCredentialsError):
        return KeyguardError(
            "No AWS credentials found. Set access_key and secret_key, or profile, or the AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY environment variables, or run where an instance or container role is available.",
            "NoCredentials",
        )
    if isinstance(exc, ProfileNotFound):
        return KeyguardError(
            f"profile {exc.kwargs.get('profile')!r} is not in the AWS config or credentials files; check its name, "
            "or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE.",
            "ProfileNotFound",
        )
    if isinstance(exc, ReadTimeoutError):
        return KeyguardError(
            f"{action}: the IAM endpoint did not answer in time ({exc}). Check endpoint_url, or raise aws_config.read_timeout.",
            "ReadTimeout",
        )
    if isinstance(exc, EndpointUnreachable):
        return KeyguardError(
            f"{action}: could not reach the IAM endpoint ({exc}). Check endpoint_url, the network and any proxy.",
            "EndpointUnreachable",
        )
    return KeyguardError(f"{action}: {exc}", type(exc).__name__)


def is_endpoint_failure(err):
    """Return whether a KeyguardError means the endpoint or the credentials failed, so no further call can succeed."""
    return err.code in ENDPOINT_FAILURE_CODES


def redact(text, secrets):
    """Return text with every non-empty secret replaced, so an echoed token never reaches a log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
