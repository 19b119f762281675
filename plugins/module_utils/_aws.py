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
        NoRegionError,
        ProfileNotFound,
        ReadTimeoutError,
        SSLError,
    )
    from botocore.exceptions import (
        ConnectionError as EndpointUnreachable,
    )
    from botocore.parsers import ResponseParserError
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
    _check_aws_config(aws_config)
    try:
        return config.merge(Config(**aws_config))
    except TypeError as exc:
        raise KeyguardError(f"aws_config: {exc}; see botocore's Config for the accepted keys.") from None
    except (ValueError, BotoCoreError) as exc:
        raise KeyguardError(f"aws_config: {exc}") from None


def _check_aws_config(aws_config):
    """Raise KeyguardError naming an aws_config setting of the wrong type, which botocore would crash on later."""
    for name, value in aws_config.items():
        if name in ("connect_timeout", "read_timeout") and not _positive(value, number=True):
            raise KeyguardError(f"aws_config: {name} must be a number of seconds greater than 0, not {value!r}.")
        if name == "max_pool_connections" and not _positive(value):
            raise KeyguardError(f"aws_config: max_pool_connections must be a whole number of 1 or more, not {value!r}.")
        if name in ("user_agent", "user_agent_extra", "user_agent_appid", "region_name") and not isinstance(value, str):
            raise KeyguardError(f"aws_config: {name} must be a string, not {value!r}.")
        if name == "retries" and not isinstance(value, dict):
            raise KeyguardError(f"aws_config: retries must be a dict such as {{total_max_attempts: 5}}, not {value!r}.")
    for name in ("total_max_attempts", "max_attempts"):
        value = (aws_config.get("retries") or {}).get(name)
        if value is not None and not _positive(value, minimum=0 if name == "max_attempts" else 1):
            raise KeyguardError(f"aws_config: retries.{name} must be a whole number, not {value!r}.")


def _positive(value, number=False, minimum=1):
    """Return whether value is a whole number (or with number, any number) of at least minimum (number: above 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float) if number else int):
        return False
    return value > 0 if number else value >= minimum


def _check_settings(session):
    """Raise KeyguardError naming an AWS environment variable or profile setting that botocore would crash on."""
    for variable in ("AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL"):
        value = os.environ.get(variable)
        if value and not URL_PATTERN.fullmatch(value):
            raise KeyguardError(f"{variable} must be an http:// or https:// URL, not {value!r}; fix or unset it.")
    profile = session.get_scoped_config()
    for where, value in (
        ("AWS_MAX_ATTEMPTS", os.environ.get("AWS_MAX_ATTEMPTS")),
        (
            f"max_attempts of profile {session.profile or 'default'!r}",
            profile.get("max_attempts"),
        ),
    ):
        if value and not str(value).strip().isdigit():
            raise KeyguardError(f"{where} must be a whole number of attempts, not {value!r}; fix or unset it.")


def _verify(params):
    """Return botocore's verify: False, the task's CA bundle, or None so AWS_CA_BUNDLE or the profile's ca_bundle decide."""
    # botocore consults AWS_CA_BUNDLE and a profile's ca_bundle only when verify is None.
    if not params.get("validate_certs", True):
        return False
    return params.get("aws_ca_bundle") or None


def _retries(session):
    """Return botocore's standard retry settings, leaving out what AWS_RETRY_MODE/AWS_MAX_ATTEMPTS already set."""
    # Read the user's own settings directly: botocore's built-in default mode differs between versions.
    profile = session.get_scoped_config()
    retries = {}
    if not (os.environ.get("AWS_RETRY_MODE") or profile.get("retry_mode")):
        retries["mode"] = "standard"
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or profile.get("max_attempts")):
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    return retries


def connect(params, service="iam", max_pool_connections=None):
    """Return a Connection with a botocore client of `service` for the task's connection options; raise KeyguardError.

    max_pool_connections sizes the client's HTTP pool for a task that shares the client between threads.
    """
    try:
        session = botocore.session.Session(profile=params.get("profile"))
        if params.get("access_key"):
            session.set_credentials(params["access_key"], params["secret_key"], params.get("session_token"))
        if params.get("region"):  # also the region of the STS call that assumes a profile's role
            session.set_config_variable("region", params["region"])
        _check_settings(session)
        credentials = _frozen_credentials(session)
        # IAM is global: AWS needs no region, but a custom endpoint (AWS_ENDPOINT_URL_IAM, moto)
        # still has to be signed for one, and us-east-1 is where IAM's global endpoint signs.
        region = params.get("region") or session.get_config_variable("region") or "us-east-1"
        config = Config(retries=_retries(session)).merge(client_config(params.get("aws_config")))
        if max_pool_connections:
            config = config.merge(Config(max_pool_connections=max_pool_connections))
        client = session.create_client(
            service,
            region_name=region,
            endpoint_url=params.get("endpoint_url"),
            verify=_verify(params),
            config=config,
        )
    except BotoCoreError as exc:
        raise describe_error(exc) from None
    except (ValueError, TypeError, AttributeError) as exc:
        # botocore checks some settings only while building the client; name where they come from.
        raise KeyguardError(
            f"Could not set up the IAM client from aws_config, the AWS_* environment variables or the profile: {exc}",
            "InvalidSetting",
        ) from None
    secrets = tuple(
        s
        for s in (params.get("secret_key"), params.get("session_token"), credentials.secret_key, credentials.token)
        if s
    )
    protected = frozenset([credentials.access_key, *_root_key_ids(session)])
    return Connection(client, credentials.access_key, protected, secrets)


def _frozen_credentials(session):
    """Return the session's frozen credentials, turning a refused role assumption into one line."""
    try:
        credentials = session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        return credentials.get_frozen_credentials()
    except ClientError as exc:
        # botocore assumes the role of a profile (role_arn) or of AWS_ROLE_ARN (web identity) while
        # loading credentials, so STS's refusal surfaces here rather than from an IAM call.
        error = exc.response.get("Error", {})
        source = (
            "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, or the profile's role_arn and web_identity_token_file"
            if exc.operation_name == "AssumeRoleWithWebIdentity"
            else f"role_arn and source_profile or credential_source of profile {session.profile or 'default'!r}"
        )
        raise KeyguardError(
            f"Could not get credentials: sts:{exc.operation_name} failed ({error.get('Code', 'Unknown')}): "
            f"{error.get('Message') or exc}. Check {source}.",
            error.get("Code"),
        ) from None


def _root_key_ids(session):
    """Return the static access key at the root of an assumed-role profile's chain, the key that signs AssumeRole."""
    if getattr(session.get_credentials(), "method", None) != "assume-role":
        return []
    profiles = session.full_config.get("profiles", {})
    name, seen = session.profile or "default", set()
    while name in profiles and name not in seen:
        seen.add(name)
        profile = profiles[name]
        if profile.get("credential_source") == "Environment":
            return [os.environ["AWS_ACCESS_KEY_ID"]] if os.environ.get("AWS_ACCESS_KEY_ID") else []
        source = profile.get("source_profile") if profile.get("role_arn") else None
        if source is None or source == name:  # a profile may hold the keys for its own role_arn
            return [profile["aws_access_key_id"]] if profile.get("aws_access_key_id") else []
        name = source
    return []


def call(client, operation, **params):
    """Call one IAM operation (API name, e.g. ListAccessKeys) and return its response; raise KeyguardError."""
    try:
        return getattr(client, xform_name(operation))(**params)
    except (BotoCoreError, ClientError) as exc:
        raise describe_error(exc, operation) from None
    except (ResponseParserError, KeyError):
        # botocore raises these on a 200 answer that is not IAM's XML: a proxy's login page, another service.
        raise KeyguardError(
            f"iam:{operation}: the endpoint {client.meta.endpoint_url} answered with something that is not an IAM "
            "response. Check endpoint_url, AWS_ENDPOINT_URL_IAM or AWS_ENDPOINT_URL, and any proxy in between.",
            "NotIAM",
        ) from None


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
    if isinstance(exc, NoRegionError):
        # IAM itself needs none (us-east-1 signs); this comes from STS assuming a profile's role.
        return KeyguardError(
            "Assuming the profile's role needs a region for STS: set region, AWS_REGION, or region in the profile.",
            "NoRegion",
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
    if isinstance(exc, SSLError):
        return KeyguardError(
            f"{action}: the IAM endpoint's TLS certificate could not be verified ({exc}). Behind a TLS-inspecting "
            "proxy, give its CA with aws_ca_bundle or AWS_CA_BUNDLE; for a test endpoint, validate_certs: false.",
            "SSLError",
        )
    if isinstance(exc, EndpointUnreachable):
        return KeyguardError(
            f"{action}: could not reach the IAM endpoint ({exc}). Check endpoint_url, the network and any proxy.",
            "EndpointUnreachable",
        )
    return KeyguardError(f"{action}: {exc}", type(exc).__name__)


def redact(text, secrets):
    """Return text with every non-empty secret replaced, so an echoed token never reaches a log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
