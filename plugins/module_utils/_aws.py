# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options -> botocore IAM client, and the collection's one error type."""

from __future__ import annotations

import json
import math
import os
import re
import ssl
from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from ansible.module_utils.basic import AnsibleModule

try:
    import botocore.credentials
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
    assume_role_arn=dict(type="str", aliases=["iam_role_arn"]),
    assume_role_external_id=dict(type="str", no_log=False),
    assume_role_session_name=dict(type="str", default="keyguard-aws"),
    assume_role_duration_seconds=dict(type="int", default=900),
)


def connection_rules(mutually_exclusive=()):
    """Return AnsibleModule's rules for the connection options, plus a module's own mutually exclusive sets."""
    return dict(
        required_together=[["access_key", "secret_key"]],
        required_by={"session_token": ["access_key", "secret_key"], "assume_role_external_id": ["assume_role_arn"]},
        mutually_exclusive=[["profile", "access_key"], *mutually_exclusive],
    )


# Fail fast against an endpoint that is down or hangs; users tune these through aws_config.
DEFAULT_TIMEOUTS = dict(connect_timeout=5, read_timeout=10)
DEFAULT_MAX_ATTEMPTS = 5

ACCESS_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_]{16,128}")
PROFILE_PATTERN = re.compile(r"[A-Za-z0-9_+=,.@:/-]{1,128}")
REGION_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
URL_PATTERN = re.compile(r"https?://[^\s/?#]+[^\s]*")
# IAM's own limits: a role path is / or /.../ of printable ASCII, a role name 1-64 of [\w+=,.@-].
ROLE_ARN_PATTERN = re.compile(r"arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role/(?:[!-~]{0,510}/)?[\w+=,.@-]{1,64}", re.ASCII)
EXTERNAL_ID_PATTERN = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
SESSION_NAME_PATTERN = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
DURATION_RANGE = (900, 43200)
# Without a region, STS is called in one that belongs to the role's partition.
PARTITION_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

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
# SSLError: the endpoint's certificate cannot be verified; NotIAM: something other than IAM answers (a proxy's block
# page, a wrong endpoint_url).
ENDPOINT_FAILURE_CODES = frozenset(
    {"EndpointUnreachable", "ReadTimeout", "NoCredentials", "SSLError", "NotIAM"}
    | THROTTLING_CODES
    | UNAVAILABLE_CODES
    | CREDENTIAL_CODES
)
RETRY_MODES = ("standard", "adaptive", "legacy")
MAX_SECONDS = 86400  # a timeout beyond a day is a typo, and far beyond it overflows the socket layer

# The type each botocore Config key must have; botocore itself checks few of them, and late.
CONFIG_STRINGS = (
    "region_name",
    "signature_version",
    "user_agent",
    "user_agent_extra",
    "user_agent_appid",
    "defaults_mode",
    "request_checksum_calculation",
    "response_checksum_validation",
    "account_id_endpoint_mode",
    "auth_scheme_preference",
    "sigv4a_signing_region_set",
)
CONFIG_BOOLEANS = (
    "parameter_validation",
    "inject_host_prefix",
    "use_dualstack_endpoint",
    "use_fips_endpoint",
    "ignore_configured_endpoint_urls",
    "tcp_keepalive",
    "disable_request_compression",
    "s3_disable_express_session_auth",
)
CONFIG_DICTS = ("proxies", "proxies_config", "s3", "client_context_params")


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
    if params.get("endpoint_url") is not None:
        _check_url("endpoint_url", params["endpoint_url"], "for example https://iam.amazonaws.com")
    if params.get("aws_ca_bundle") is not None and not os.path.isfile(params["aws_ca_bundle"]):
        raise KeyguardError(f"aws_ca_bundle: no such file {params['aws_ca_bundle']!r}.")
    if params.get("aws_ca_bundle") is not None and params.get("validate_certs", True):
        _check_bundle("aws_ca_bundle", params["aws_ca_bundle"])
    client_config(params.get("aws_config"))
    validate_role(params)


def validate_role(params):
    """Raise KeyguardError naming the first role assumption option whose value AWS would refuse."""
    arn = params.get("assume_role_arn")
    if arn is not None and not ROLE_ARN_PATTERN.fullmatch(arn):
        raise KeyguardError(
            "assume_role_arn must be an IAM role ARN such as arn:aws:iam::123456789012:role/KeyguardAudit "
            f"(got {arn!r})."
        )
    external_id = params.get("assume_role_external_id")
    if external_id is not None and not EXTERNAL_ID_PATTERN.fullmatch(external_id):
        raise KeyguardError(
            "assume_role_external_id must be 2 to 1224 letters, digits or _+=,.@:/- (no spaces or control "
            "characters); use the external ID exactly as the role's trust policy has it."
        )
    session_name = params.get("assume_role_session_name")
    if session_name is not None and not SESSION_NAME_PATTERN.fullmatch(session_name):
        raise KeyguardError(
            f"assume_role_session_name must be 2 to 64 letters, digits or _+=,.@- (got {session_name!r})."
        )
    duration = params.get("assume_role_duration_seconds")
    if duration is not None and not DURATION_RANGE[0] <= duration <= DURATION_RANGE[1]:
        raise KeyguardError(
            f"assume_role_duration_seconds must be between {DURATION_RANGE[0]} and {DURATION_RANGE[1]} "
            f"(got {duration}); the role's own maximum session duration may be lower."
        )


def default_region(params):
    """Return the region to sign for when neither the task nor the AWS config sets one."""
    match = ROLE_ARN_PATTERN.fullmatch(params.get("assume_role_arn") or "")
    return PARTITION_REGIONS.get(match.group(1), "us-east-1") if match else "us-east-1"


def assume_role(session, params, region, config):
    """Return the frozen temporary credentials of one sts:AssumeRole made with the session's credentials."""
    arn = params["assume_role_arn"]
    request = dict(
        RoleArn=arn,
        RoleSessionName=params.get("assume_role_session_name") or "keyguard-aws",
        DurationSeconds=params.get("assume_role_duration_seconds") or DURATION_RANGE[0],
    )
    if params.get("assume_role_external_id"):
        request["ExternalId"] = params["assume_role_external_id"]
    sts = None
    try:
        # endpoint_url is IAM's; STS finds its own through AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or the profile.
        sts = session.create_client("sts", region_name=region, verify=_verify(params), config=config)
        temporary = sts.assume_role(**request)["Credentials"]
        return botocore.credentials.ReadOnlyCredentials(
            temporary["AccessKeyId"], temporary["SecretAccessKey"], temporary["SessionToken"]
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code") or "Unknown"
        if (code == "Unknown" or code.isdigit()) and not exc.response.get("ResponseMetadata", {}).get("RequestId"):
            # Not STS's own refusal but a bare HTTP status: a proxy's or a gateway's page.
            described = describe_error(exc, "AssumeRole", service="STS", endpoint=sts.meta.endpoint_url)
            raise KeyguardError(f"cannot assume role {arn}: {described}", described.code) from None
        hint = ""
        if code.startswith("AccessDenied"):
            hint = (
                " Check that the role's trust policy lets these credentials assume it (and expects this external "
                "ID), and that they may call sts:AssumeRole on it."
            )
        raise KeyguardError(
            f"cannot assume role {arn}: {code}: {_one_line(error.get('Message') or exc)}{hint}", code
        ) from None
    except (ResponseParserError, KeyError, TypeError):
        # botocore's answer to a 200 that is not STS's XML: a proxy's login page, an empty body, another service.
        endpoint = safe_url(sts.meta.endpoint_url if sts is not None else "the STS endpoint")
        raise KeyguardError(
            f"cannot assume role {arn}: {endpoint} answered sts:AssumeRole with something that is not an STS "
            "response. Check AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL, HTTPS_PROXY and NO_PROXY.",
            "NotSTS",
        ) from None
    except BotoCoreError as exc:
        endpoint = sts.meta.endpoint_url if sts is not None else None
        described = describe_error(exc, "AssumeRole", service="STS", endpoint=endpoint)
        raise KeyguardError(f"cannot assume role {arn}: {described}", described.code) from None


def _check_url(where, value, fix):
    """Raise KeyguardError naming `where` unless value is an http(s) URL with a usable port."""
    try:
        port = urlsplit(value).port if URL_PATTERN.fullmatch(value) else -1
    except ValueError:  # a port that is not a number, or beyond 65535
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise KeyguardError(
            f"{where} must be an http:// or https:// URL with a port from 1 to 65535, not {safe_url(value)!r}; {fix}."
        )


def _check_bundle(where, path):
    """Raise KeyguardError naming `where` unless path is a directory or a file of PEM CA certificates."""
    if os.path.isdir(path):
        return
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise KeyguardError(f"{where}: no such file {path!r}; fix or unset it.", "BadCABundle") from None
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise KeyguardError(
            f"{where}: {path!r} is not a bundle of PEM CA certificates ({_one_line(exc)}); fix or unset it.",
            "BadCABundle",
        ) from None


def safe_url(url):
    """Return url without any user:password@ part, fit to show in a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


# The shortest user name alone in a URL that is taken for a token; proxy tokens are far longer.
MIN_TOKEN_LENGTH = 8


def url_passwords(params):
    """Return the passwords inside the task's URL options (endpoint_url, aws_config.proxies), as given and decoded.

    A URL with a user name but no password counts the user name instead, when it is long enough to be a token (a
    proxy token often sits there); a short one is a name, and masking it would blank its letters in every message.
    """
    urls = [params.get("endpoint_url")]
    aws_config = params.get("aws_config")
    if isinstance(aws_config, str):  # not yet checked: given as JSON text, which Ansible turns into a dict later
        try:
            aws_config = json.loads(aws_config)
        except ValueError:
            aws_config = None
    proxies = aws_config.get("proxies") if isinstance(aws_config, dict) else None
    if isinstance(proxies, dict):
        urls += list(proxies.values())
    found = set()
    for url in urls:
        if not isinstance(url, str) or "@" not in url or "://" not in url:
            continue  # not a URL with an authority: endpoint_url's check refuses it, naming the option
        # The authority ends at the first / ? or #; its user information at its last @ (a password may hold @).
        authority = re.split(r"[/?#]", url.split("://", 1)[-1], maxsplit=1)[0]
        if "@" not in authority:
            continue
        userinfo = authority.rsplit("@", 1)[0]
        if ":" not in userinfo and len(userinfo) < MIN_TOKEN_LENGTH:
            continue
        secret = userinfo.split(":", 1)[1] if ":" in userinfo else userinfo
        found.update(value for value in (secret, unquote(secret)) if value)
    return found


class MaskedUrlModule(AnsibleModule):
    """AnsibleModule with the passwords inside URL options among its no-log values from the start."""

    def _load_params(self):
        """Load the task's arguments, and make the passwords inside its URL options no-log values at once."""
        # AnsibleModule checks the arguments while it is built, and a misspelt option or a wrong choice fails right
        # there, with invocation.module_args: the passwords must be no-log values before that check. endpoint_url
        # and aws_config are not secret as a whole, so Ansible would otherwise show a proxy's or an endpoint's
        # user:password@ in invocation.module_args, at -vvvv and in registered results.
        super()._load_params()
        given = dict(self.params)
        for alias in CONNECTION_ARGS["endpoint_url"]["aliases"]:  # aliases are folded in only by the check
            given.setdefault("endpoint_url", given.get(alias))
        self.no_log_values.update(url_passwords(given))


def _one_line(exc, limit=1000):
    """Return exc's text on one line, cut to `limit` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"(https?://)[^/@\s]*@", r"\1", text)  # never echo a URL's user:password
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        if name in ("connect_timeout", "read_timeout") and not (_positive(value, number=True) and value <= MAX_SECONDS):
            raise KeyguardError(
                f"aws_config.{name} must be a number of seconds greater than 0 and at most {MAX_SECONDS}, not {value!r}."
            )
        if name in ("max_pool_connections", "request_min_compression_size_bytes") and not _positive(value):
            raise KeyguardError(f"aws_config.{name} must be a whole number of 1 or more, not {value!r}.")
        if name in CONFIG_STRINGS and not isinstance(value, str):
            raise KeyguardError(f"aws_config.{name} must be a string, not {value!r}.")
        if name in CONFIG_STRINGS and any(not ch.isprintable() for ch in value):
            raise KeyguardError(f"aws_config.{name} must not contain line breaks or control characters.")
        if name in CONFIG_BOOLEANS and not isinstance(value, bool):
            raise KeyguardError(f"aws_config.{name} must be true or false, not {value!r}.")
        if name in CONFIG_DICTS and not isinstance(value, dict):
            raise KeyguardError(f"aws_config.{name} must be a dict, not {value!r}.")
        if name == "proxies" and isinstance(value, dict):
            for scheme, url in value.items():
                if not isinstance(url, str):
                    raise KeyguardError(f"aws_config.proxies.{scheme} must be a proxy URL string, not {url!r}.")
                _check_url(f"aws_config.proxies.{scheme}", url, "for example http://proxy.example:3128")
        if name == "client_cert" and not (
            isinstance(value, str)
            or (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value))
        ):
            raise KeyguardError(
                "aws_config.client_cert must be a file path, or a list of a certificate and a key path."
            )
        if name == "retries" and not isinstance(value, dict):
            raise KeyguardError(f"aws_config.retries must be a dict such as {{total_max_attempts: 5}}, not {value!r}.")
    mode = (aws_config.get("retries") or {}).get("mode")
    if mode is not None and mode not in RETRY_MODES:
        raise KeyguardError(f"aws_config.retries.mode must be one of {', '.join(RETRY_MODES)}, not {mode!r}.")
    for name in ("total_max_attempts", "max_attempts"):
        value = (aws_config.get("retries") or {}).get(name)
        if value is not None and not _positive(value, minimum=0 if name == "max_attempts" else 1):
            raise KeyguardError(f"aws_config.retries.{name} must be a whole number, not {value!r}.")


def _positive(value, number=False, minimum=1):
    """Return whether value is a whole number (or with number, any number) of at least minimum (number: above 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float) if number else int):
        return False
    if number and not math.isfinite(value):
        return False
    return value > 0 if number else value >= minimum


def _check_settings(session, params):
    """Raise KeyguardError naming an AWS environment variable or profile setting that botocore would fail on."""
    profile = session.get_scoped_config()
    where = f"of profile {session.profile or 'default'!r}"
    # botocore ignores configured endpoints when the task gives one, or when told to ignore them.
    if not (params.get("endpoint_url") or session.get_config_variable("ignore_configured_endpoint_urls")):
        for variable in ("AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL"):
            if os.environ.get(variable):
                _check_url(variable, os.environ[variable], "fix or unset it")
        # A profile names its per-service endpoints with `services = x`, pointing at a [services x] section.
        services = session.full_config.get("services", {}).get(profile.get("services"), {})
        iam = services.get("iam") if isinstance(services.get("iam"), dict) else {}
        for name, value in (
            (f"endpoint_url {where}", profile.get("endpoint_url")),
            (f"iam endpoint_url of [services {profile.get('services')}]", iam.get("endpoint_url")),
        ):
            if value:
                _check_url(name, value, "fix or remove it")
    for name, value in (
        ("AWS_MAX_ATTEMPTS", os.environ.get("AWS_MAX_ATTEMPTS")),
        (f"max_attempts {where}", profile.get("max_attempts")),
    ):
        if value and not (re.fullmatch(r"[0-9]+", str(value).strip(), re.ASCII) and int(value) >= 1):
            raise KeyguardError(
                f"{name} must be a whole number of attempts of 1 or more, not {value!r}; fix or unset it."
            )
    for name, value in (
        ("AWS_RETRY_MODE", os.environ.get("AWS_RETRY_MODE")),
        (f"retry_mode {where}", profile.get("retry_mode")),
    ):
        if value and value not in RETRY_MODES:
            raise KeyguardError(f"{name} must be one of {', '.join(RETRY_MODES)}, not {value!r}; fix or unset it.")
    if _verify(params) is None:  # only then does botocore read the bundle from the environment or the profile
        if os.environ.get("AWS_CA_BUNDLE"):
            _check_bundle("AWS_CA_BUNDLE", os.environ["AWS_CA_BUNDLE"])
        elif profile.get("ca_bundle"):
            _check_bundle(f"ca_bundle {where}", profile["ca_bundle"])
        elif os.environ.get("REQUESTS_CA_BUNDLE"):
            _check_bundle("REQUESTS_CA_BUNDLE", os.environ["REQUESTS_CA_BUNDLE"])


def _verify_every_client(session, verify):
    """Make every client the session creates use `verify`, including the STS client that assumes a profile's role."""
    # botocore builds that STS client itself through session.create_client, with verify left to
    # AWS_CA_BUNDLE or the profile, so the task's aws_ca_bundle and validate_certs would not reach it.
    create_client = session.create_client
    endpoints = session.keyguard_endpoints = {}

    def create_verified_client(service_name, *args, **kwargs):
        """Create the client with the task's verify unless the caller chose one; note its endpoint."""
        if verify is not None and kwargs.get("verify") is None:
            kwargs["verify"] = verify
        client = create_client(service_name, *args, **kwargs)
        endpoints[service_name] = client.meta.endpoint_url
        return client

    session.create_client = create_verified_client


def _verify(params):
    """Return botocore's verify: False, the task's CA bundle, or None so AWS_CA_BUNDLE or the profile's ca_bundle decide."""
    # botocore consults AWS_CA_BUNDLE and a profile's ca_bundle only when verify is None.
    if not params.get("validate_certs", True):
        return False
    return params.get("aws_ca_bundle") or None


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
    With assume_role_arn, the session's own (base) credentials make one sts:AssumeRole first, and the client signs
    with the role's temporary credentials.
    """
    return _connect(params, service, max_pool_connections)[0]


def connect_with_sts(params, max_pool_connections=None):
    """Return (the IAM Connection, an STS client signing with the same credentials), from one session.

    endpoint_url is IAM's: STS finds its own through AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or the profile, as
    the AssumeRole call does.
    """
    connection, extra = _connect(params, "iam", max_pool_connections, also=("sts",))
    return connection, extra["sts"]


def _connect(params, service, max_pool_connections, also=()):
    """Return (Connection, {service: client} for each service in `also`), every client with the same credentials."""
    extra = {}
    try:
        session = botocore.session.Session(profile=params.get("profile"))
        if params.get("access_key"):
            session.set_credentials(params["access_key"], params["secret_key"], params.get("session_token"))
        if params.get("region"):  # also the region of the STS call that assumes a profile's role
            session.set_config_variable("region", params["region"])
        _check_settings(session, params)
        _verify_every_client(session, _verify(params))
        credentials = _frozen_credentials(session)
        # IAM is global: AWS needs no region, but a custom endpoint (AWS_ENDPOINT_URL_IAM, moto)
        # still has to be signed for one, and us-east-1 is where IAM's global endpoint signs.
        region = params.get("region") or session.get_config_variable("region") or default_region(params)
        config = Config(retries=_retries(session, retry_mode(max_pool_connections))).merge(
            client_config(params.get("aws_config"))
        )
        base = credentials
        if params.get("assume_role_arn"):
            credentials = assume_role(session, params, region, config)
        if max_pool_connections:
            config = config.merge(Config(max_pool_connections=max_pool_connections))
        client = session.create_client(
            service,
            region_name=region,
            endpoint_url=params.get("endpoint_url"),
            verify=_verify(params),
            config=config,
            **role_credentials(base, credentials),
        )
        for other in also:
            extra[other] = session.create_client(
                other, region_name=region, verify=_verify(params), config=config, **role_credentials(base, credentials)
            )
    except BotoCoreError as exc:
        raise describe_error(exc) from None
    except (ValueError, TypeError, AttributeError) as exc:
        # botocore checks some settings only while building the client; name where they come from.
        raise KeyguardError(
            f"Could not set up the IAM client from aws_config, the AWS_* environment variables or the profile: {exc}",
            "InvalidSetting",
        ) from None
    candidates = (params.get("secret_key"), params.get("session_token"), base.secret_key, base.token)
    candidates += (credentials.secret_key, credentials.token)
    secrets = tuple(dict.fromkeys(s for s in candidates if s))
    # The base key stays protected: with an assumed role it still signs the AssumeRole that every task needs.
    protected = frozenset([base.access_key, credentials.access_key, *_root_key_ids(session)])
    return Connection(client, credentials.access_key, protected, secrets), extra


def role_credentials(base, credentials):
    """Return create_client's keyword arguments for assumed-role credentials; none for the session's own."""
    if credentials is base:
        return {}
    return dict(
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )


def _frozen_credentials(session):
    """Return the session's frozen credentials; raise one line naming the credential source that failed."""
    try:
        credentials = session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        return credentials.get_frozen_credentials()
    except ClientError as exc:
        # botocore assumes the role of a profile (role_arn) or of AWS_ROLE_ARN (web identity) while
        # loading credentials, so STS's refusal surfaces here rather than from an IAM call.
        error = exc.response.get("Error", {})
        code = error.get("Code") or "Unknown"
        if (code == "Unknown" or code.isdigit()) and not exc.response.get("ResponseMetadata", {}).get("RequestId"):
            # Not STS's own error but a bare HTTP status: a proxy's or a gateway's page.
            endpoint = getattr(session, "keyguard_endpoints", {}).get("sts")
            raise describe_error(exc, exc.operation_name, service="STS", endpoint=endpoint) from None
        source = (
            "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, or the profile's role_arn and web_identity_token_file"
            if exc.operation_name == "AssumeRoleWithWebIdentity"
            else f"role_arn and source_profile or credential_source of profile {session.profile or 'default'!r}"
        )
        raise KeyguardError(
            f"Could not get credentials: sts:{exc.operation_name} failed ({error.get('Code', 'Unknown')}): "
            f"{_one_line(error.get('Message') or exc)}. Check {source}.",
            error.get("Code"),
        ) from None
    except (SSLError, EndpointUnreachable, ReadTimeoutError) as exc:
        raise describe_error(exc, service="STS") from None
    except (NoCredentialsError, NoRegionError, ProfileNotFound):
        raise
    except Exception as exc:  # botocore lets a failing credential source's own exception through
        source, asks_sts = _failed_source(exc, session)
        if asks_sts and isinstance(exc, (ResponseParserError, KeyError)):  # an answer without STS's result
            endpoint = safe_url(getattr(session, "keyguard_endpoints", {}).get("sts") or "STS")
            reason = f"{endpoint} answered with something that is not an STS response; check AWS_ENDPOINT_URL_STS and any proxy"
        elif isinstance(exc, OSError) and exc.filename:
            reason = f"{exc.strerror or type(exc).__name__}: {exc.filename!r}"
        elif isinstance(exc, KeyError):
            reason = f"its answer has no {exc.args[0] if exc.args else 'credentials'}"
        elif isinstance(exc, ValueError) and "credential_process" in source:
            reason = f"its output is not the JSON credentials botocore expects ({_one_line(exc, 120)})"
        else:
            reason = _one_line(exc)
        raise KeyguardError(f"Could not get credentials from {source}: {reason}.", "CredentialSource") from None


def _failed_source(exc, session):
    """Return (the credential source whose code raised exc, named as a user configures it, whether it calls STS)."""
    credentials = botocore.credentials
    culprit, trace = None, exc.__traceback__
    while trace is not None:  # the innermost provider or fetcher in the traceback is the one at fault
        owner = trace.tb_frame.f_locals.get("self")
        if isinstance(owner, (credentials.CredentialProvider, credentials.CachedCredentialFetcher)):
            culprit = owner
        trace = trace.tb_next
    profile = repr(session.profile or "default")
    role = getattr(culprit, "_role_arn", None)
    if isinstance(culprit, credentials.ProcessProvider):
        return f"credential_process of profile {getattr(culprit, '_profile_name', None) or 'default'!r}", False
    if isinstance(
        culprit, (credentials.AssumeRoleWithWebIdentityProvider, credentials.AssumeRoleWithWebIdentityCredentialFetcher)
    ):
        return "the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, or the profile's web_identity_token_file)" + (
            f" for role {role}" if role else ""
        ), True
    if isinstance(culprit, credentials.ContainerProvider):
        return (
            "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)",
            False,
        )
    if isinstance(culprit, (credentials.AssumeRoleProvider, credentials.AssumeRoleCredentialFetcher)):
        return f"STS assuming role_arn of profile {profile}" + (f" ({role})" if role else ""), True
    if culprit is not None:
        return f"the {getattr(culprit, 'METHOD', None) or type(culprit).__name__} credential source", False
    return "the AWS credential chain", False


def _root_key_ids(session):
    """Return the access keys that signed AssumeRole along an assumed-role profile's chain, the static one at its root."""
    credentials = session.get_credentials()
    if getattr(credentials, "method", None) != "assume-role":
        return []
    keys = []
    while getattr(credentials, "method", None) == "assume-role":
        # botocore keeps the credentials it signed AssumeRole with in the fetcher that refreshes the role's:
        # exactly the key at risk, whether static, from credential_process or from the environment.
        fetcher = getattr(getattr(credentials, "_refresh_using", None), "__self__", None)
        credentials = getattr(fetcher, "_source_credentials", None)
        if credentials is None:  # wrapped (mfa_serial) or changed internals: read the profiles instead
            return keys + _profile_root_key_ids(session)
        keys.append(credentials.get_frozen_credentials().access_key)
    return keys


def _profile_root_key_ids(session):
    """Return the static access key at the root of the profile's source_profile chain, as the config files tell it."""
    profiles = session.full_config.get("profiles", {})
    name, seen = session.profile or "default", set()
    while name in profiles and name not in seen:
        seen.add(name)
        profile = profiles[name]
        if profile.get("credential_source") == "Environment":
            return [os.environ["AWS_ACCESS_KEY_ID"]] if os.environ.get("AWS_ACCESS_KEY_ID") else []
        # A source profile's own static keys sign AssumeRole even when it has a role_arn of its own.
        if profile.get("aws_access_key_id") and len(seen) > 1:
            return [profile["aws_access_key_id"]]
        source = profile.get("source_profile") if profile.get("role_arn") else None
        if source is None or source == name:  # a profile may hold the keys for its own role_arn
            return [profile["aws_access_key_id"]] if profile.get("aws_access_key_id") else []
        name = source
    return []


def retry_mode(max_pool_connections):
    """Return botocore's retry mode for a client shared by this many threads: adaptive when more than one.

    Measured (benchmarks/account_scale.py): under a throttle, 8 workers in standard mode each retry on their own,
    keep hitting the limit, and can run out of attempts; adaptive mode's client-wide rate limiter slows them all
    down after the first throttle, so far fewer calls are refused. Its limiter only engages once a throttle is seen.
    """
    return "adaptive" if (max_pool_connections or 1) > 1 else "standard"


def call(client, operation, **params):
    """Call one operation (API name, e.g. ListAccessKeys) of the client's service; return its answer or raise KeyguardError."""
    endpoint = safe_url(client.meta.endpoint_url)
    service = str(client.meta.service_model.service_id)  # IAM, or STS for GetCallerIdentity
    option = "endpoint_url, " if service == "IAM" else ""
    try:
        return getattr(client, xform_name(operation))(**params)
    except (BotoCoreError, ClientError) as exc:
        raise describe_error(exc, operation, service=service, endpoint=endpoint) from None
    except (ResponseParserError, KeyError):
        # botocore raises these on a 200 answer that is not IAM's XML: a proxy's login page, another service.
        raise KeyguardError(
            f"{service.lower()}:{operation}: the endpoint {endpoint} answered with something that is not an {service} "
            f"response. Check {option}AWS_ENDPOINT_URL_{service} or AWS_ENDPOINT_URL, and any proxy in between.",
            "NotIAM",
        ) from None
    except Exception as exc:  # anything else botocore lets through must still be one line, not a traceback
        raise KeyguardError(
            f"{service.lower()}:{operation} against {endpoint} failed inside botocore ({type(exc).__name__}): "
            f"{_one_line(exc)}",
            type(exc).__name__,
        ) from None


def describe_error(exc, operation=None, service="IAM", endpoint=None):
    """Return a KeyguardError with one readable line for a botocore exception raised by `operation` of `service`."""
    action = f"{service.lower()}:{operation}" if operation else f"Connecting to {service}"
    endpoint = safe_url(
        endpoint or (getattr(exc, "kwargs", None) or {}).get("endpoint_url") or f"the {service} endpoint"
    )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or "Unknown"
        message = _one_line(error.get("Message") or exc)
        metadata = exc.response.get("ResponseMetadata", {})
        attempts = metadata.get("RetryAttempts", 0) + 1
        if (code == "Unknown" or code.isdigit()) and not metadata.get("RequestId"):
            # AWS names every error and gives it a request ID; a bare HTTP status is a proxy's or a gateway's page.
            status = metadata.get("HTTPStatusCode", code)
            return KeyguardError(
                f"{action}: {endpoint} answered HTTP {status} with something that is not an {service} response, "
                f"perhaps a proxy's block page. Check {'endpoint_url, ' if service == 'IAM' else ''}"
                f"AWS_ENDPOINT_URL_{service} or AWS_ENDPOINT_URL, HTTPS_PROXY and NO_PROXY.",
                "NotIAM",
            )
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
            f"{action}: the {service} endpoint did not answer in time ({_one_line(exc)}). Check endpoint_url, "
            "or raise aws_config.read_timeout.",
            "ReadTimeout",
        )
    if isinstance(exc, SSLError):
        return KeyguardError(
            f"{action}: the TLS certificate of the {service} endpoint {endpoint} could not be verified "
            f"({_one_line(exc)}). Behind a TLS-inspecting proxy, give its CA with aws_ca_bundle or AWS_CA_BUNDLE; "
            "for a test endpoint, validate_certs: false.",
            "SSLError",
        )
    if isinstance(exc, EndpointUnreachable):
        # endpoint_url is IAM's; STS is reached through AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL, or the profile).
        setting = "AWS_ENDPOINT_URL_STS" if service == "STS" else "endpoint_url"
        return KeyguardError(
            f"{action}: could not reach the {service} endpoint ({_one_line(exc)}). Check {setting}, the network "
            "and any proxy.",
            "EndpointUnreachable",
        )
    return KeyguardError(f"{action}: {_one_line(exc)}", type(exc).__name__)


def is_endpoint_failure(err):
    """Return whether a KeyguardError means the endpoint or the credentials failed, so no further call can succeed."""
    return err.code in ENDPOINT_FAILURE_CODES


def redact(text, secrets):
    """Return text with every non-empty secret replaced, so an echoed token never reaches a log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
