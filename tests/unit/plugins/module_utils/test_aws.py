"""Unit tests of the connection helpers: option checks, client config, error messages, redaction."""

from __future__ import annotations

import pathlib

import botocore.httpsession
import botocore.session
import pytest
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from ansible_collections.keyguard.aws.plugins.module_utils import _aws
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError

CA_PEM = pathlib.Path(botocore.httpsession.get_cert_path(True)).read_text()  # botocore's own CA bundle: a real one


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """Remove every AWS setting the machine might have, so botocore sees only what a test sets."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def test_default_config_bounds_waiting():
    config = _aws.client_config(None)
    assert (config.connect_timeout, config.read_timeout) == (5, 10)


def test_aws_config_overrides_defaults():
    config = _aws.client_config({"read_timeout": 30, "retries": {"total_max_attempts": 2}})
    assert config.read_timeout == 30
    assert config.connect_timeout == 5
    assert config.retries == {"total_max_attempts": 2}


@pytest.mark.parametrize(
    "aws_config", [{"bogus": 1}, {"retries": {"mode": "bogus"}}, {"retries": {"max_attempts": -1}}]
)
def test_invalid_aws_config_names_the_option(aws_config):
    with pytest.raises(KeyguardError, match=r"^aws_config[:.]"):
        _aws.client_config(aws_config)


def test_standard_retries_by_default(clean_env):
    assert _aws._retries(botocore.session.Session()) == {"mode": "standard", "total_max_attempts": 5}


def test_retry_environment_variables_win_over_defaults(clean_env):
    clean_env.setenv("AWS_MAX_ATTEMPTS", "2")
    clean_env.setenv("AWS_RETRY_MODE", "adaptive")
    assert _aws._retries(botocore.session.Session()) == {}


def test_connect_uses_explicit_credentials_and_no_region(clean_env):
    client, signing_key_id, protected, secrets = _aws.connect(
        dict(
            access_key="AKIAIOSFODNN7EXAMPLE",
            secret_key="s3cr3t",
            session_token="tok",
            endpoint_url="http://127.0.0.1:1",
        )
    )
    assert signing_key_id == "AKIAIOSFODNN7EXAMPLE"
    assert protected == {"AKIAIOSFODNN7EXAMPLE"}
    assert set(secrets) == {"s3cr3t", "tok"}
    assert client.meta.region_name == "us-east-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert client.meta.config.connect_timeout == 5


def test_connect_reads_aws_security_token_from_the_environment(clean_env):
    """Older AWX injects only AWS_SECURITY_TOKEN; botocore's chain must pick it up."""
    clean_env.setenv("AWS_ACCESS_KEY_ID", "ASIAIOSFODNN7EXAMPLE")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    clean_env.setenv("AWS_SECURITY_TOKEN", "legacy-token")
    connection = _aws.connect({})
    assert "legacy-token" in connection.secrets
    client = connection.client
    assert client.meta.endpoint_url == "https://iam.amazonaws.com"


def test_connect_reads_a_profile(clean_env, tmp_path):
    (tmp_path / "credentials").write_text(
        "[audit]\naws_access_key_id = AKIAPROFILEEXAMPLE00\naws_secret_access_key = p\n"
    )
    assert _aws.connect({"profile": "audit"}).signing_key_id == "AKIAPROFILEEXAMPLE00"


def test_connect_without_credentials_is_one_clear_line(clean_env):
    with pytest.raises(KeyguardError, match=r"^No AWS credentials found\. Set access_key and secret_key") as caught:
        _aws.connect({})
    assert caught.value.code == "NoCredentials"


def test_connect_with_unknown_profile(clean_env):
    with pytest.raises(KeyguardError, match=r"^profile 'nope' is not in the AWS config or credentials files; check"):
        _aws.connect({"profile": "nope"})


@pytest.mark.parametrize(
    "exc, expected",
    [
        (NoCredentialsError(), r"^No AWS credentials found"),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
            r"^iam:ListAccessKeys: could not reach the IAM endpoint \(Could not connect to the endpoint URL: \"http://127\.0\.0\.1:9\"\)",
        ),
        (ConnectTimeoutError(endpoint_url="http://10.0.0.1"), r"^iam:ListAccessKeys: could not reach the IAM endpoint"),
        (
            ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
            r"^iam:ListAccessKeys: the IAM endpoint did not answer in time .*raise aws_config\.read_timeout\.$",
        ),
        (ProfileNotFound(profile="x"), r"^profile 'x' is not in the AWS config or credentials files"),
    ],
)
def test_botocore_errors_become_one_line(exc, expected):
    error = _aws.describe_error(exc, "ListAccessKeys")
    assert "\n" not in str(error)
    assert __import__("re").search(expected, str(error))


@pytest.mark.parametrize(
    "params, option",
    [
        ({"secret_key": " "}, "secret_key"),
        ({"session_token": "tok en"}, "session_token"),
        ({"access_key": "AKIA-not-valid-key"}, "access_key"),
        ({"profile": "two words"}, "profile"),
        ({"region": "us_east_1"}, "region"),
        ({"endpoint_url": "ftp://example"}, "endpoint_url"),
    ],
)
def test_validate_connection_names_the_option(params, option):
    with pytest.raises(KeyguardError, match=rf"^{option}"):
        _aws.validate_connection(params)


def test_validate_connection_accepts_a_full_set(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text(CA_PEM)
    _aws.validate_connection(
        dict(
            access_key="AKIAIOSFODNN7EXAMPLE",
            secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
            session_token="FwoGZXIvYXdzEBYaDH+/=",
            region="eu-west-1",
            endpoint_url="https://iam.amazonaws.com",
            aws_ca_bundle=str(bundle),
            aws_config={"read_timeout": 3},
        )
    )


def test_redact_replaces_every_secret():
    assert _aws.redact("a SECRET and TOKEN", ["SECRET", None, "", "TOKEN"]) == "a ******** and ********"


def test_a_client_shared_by_threads_retries_adaptively_with_a_pool_to_match(clean_env):
    params = dict(access_key="AKIAIOSFODNN7EXAMPLE", secret_key="s3cr3t", endpoint_url="http://127.0.0.1:1")
    shared = _aws.connect(params, max_pool_connections=8).client
    assert shared.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert shared.meta.config.max_pool_connections == 8
    alone = _aws.connect(params, max_pool_connections=1).client
    assert alone.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    # The user's own choice still wins, as with one thread.
    clean_env.setenv("AWS_RETRY_MODE", "standard")
    assert _aws.connect(params, max_pool_connections=8).client.meta.config.retries["mode"] == "standard"


# --- certificate verification -------------------------------------------------------------------------


def verify_of(params):
    """Return what the connected client verifies the endpoint's certificate with."""
    connection = _aws.connect(dict(access_key="AKIAIOSFODNN7EXAMPLE", secret_key="s", **params))
    return connection.client._endpoint.http_session._verify


@pytest.fixture
def bundles(clean_env, tmp_path):
    """Return (the task's bundle, the environment's bundle, the profile's bundle) as paths of real CA bundles."""
    paths = [tmp_path / name for name in ("task.pem", "env.pem", "profile.pem")]
    for path in paths:
        path.write_text(CA_PEM)
    return [str(path) for path in paths]


@pytest.mark.parametrize(
    "params, env, profile, expected",
    [
        ({}, None, None, "default"),  # botocore's own bundle
        ({}, "env", None, "env"),  # AWS_CA_BUNDLE
        ({}, None, "profile", "profile"),  # the profile's ca_bundle
        ({}, "env", "profile", "env"),  # the variable wins over the profile, as for the AWS CLI
        ({"aws_ca_bundle": "task"}, "env", "profile", "task"),  # the option wins over both
        ({"validate_certs": False, "aws_ca_bundle": "task"}, "env", "profile", False),  # no verification at all
        ({"validate_certs": True}, "env", None, "env"),
    ],
)
def test_verify_follows_option_then_botocores_chain(bundles, clean_env, tmp_path, params, env, profile, expected):
    paths = dict(zip(("task", "env", "profile"), bundles))
    paths["default"] = (
        botocore.session.Session().create_client("iam", region_name="us-east-1")._endpoint.http_session._verify
    )
    if env:
        clean_env.setenv("AWS_CA_BUNDLE", paths[env])
    if profile:
        (tmp_path / "config").write_text(f"[default]\nca_bundle = {paths[profile]}\n")
    if "aws_ca_bundle" in params:
        params = dict(params, aws_ca_bundle=paths[params["aws_ca_bundle"]])
    assert verify_of(params) == (paths[expected] if expected else expected)


# --- settings botocore would crash on ---------------------------------------------------------------


@pytest.mark.parametrize(
    "aws_config, fragment",
    [
        ({"retries": "x"}, "aws_config.retries must be a dict"),
        (
            {"connect_timeout": "x"},
            "aws_config.connect_timeout must be a number of seconds greater than 0 and at most 86400, not 'x'.",
        ),
        (
            {"read_timeout": -1},
            "aws_config.read_timeout must be a number of seconds greater than 0 and at most 86400, not -1.",
        ),
        ({"read_timeout": True}, "aws_config.read_timeout must be a number"),
        ({"user_agent_extra": 5}, "aws_config.user_agent_extra must be a string, not 5."),
        ({"max_pool_connections": "x"}, "aws_config.max_pool_connections must be a whole number"),
        ({"retries": {"total_max_attempts": "x"}}, "aws_config.retries.total_max_attempts must be a whole number"),
    ],
)
def test_aws_config_values_of_the_wrong_type_are_named_before_connecting(clean_env, aws_config, fragment):
    with pytest.raises(KeyguardError) as caught:
        _aws.validate_connection({"aws_config": aws_config})
    assert str(caught.value).startswith(fragment)


@pytest.mark.parametrize(
    "variable, value, fragment",
    [
        ("AWS_MAX_ATTEMPTS", "abc", "AWS_MAX_ATTEMPTS must be a whole number of attempts of 1 or more, not 'abc'"),
        ("AWS_ENDPOINT_URL_IAM", "not-a-url", "AWS_ENDPOINT_URL_IAM must be an http:// or https:// URL"),
        ("AWS_ENDPOINT_URL", "not-a-url", "AWS_ENDPOINT_URL must be an http:// or https:// URL"),
        (
            "AWS_RETRY_MODE",
            "bogus",
            "AWS_RETRY_MODE must be one of standard, adaptive, legacy, not 'bogus'; fix or unset it.",
        ),
        ("AWS_MAX_ATTEMPTS", "0", "AWS_MAX_ATTEMPTS must be a whole number of attempts of 1 or more, not '0'"),
        (
            "AWS_MAX_ATTEMPTS",
            "\u00b3",
            "AWS_MAX_ATTEMPTS must be a whole number of attempts of 1 or more, not '\u00b3'",
        ),
        (
            "AWS_ENDPOINT_URL_IAM",
            "http://127.0.0.1:99999",
            "AWS_ENDPOINT_URL_IAM must be an http:// or https:// URL with a port",
        ),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:abc", "AWS_ENDPOINT_URL must be an http:// or https:// URL with a port"),
        ("AWS_CA_BUNDLE", "/nonexistent.pem", "AWS_CA_BUNDLE: no such file '/nonexistent.pem'; fix or unset it."),
    ],
)
def test_bad_environment_values_are_named(clean_env, variable, value, fragment):
    clean_env.setenv(variable, value)
    with pytest.raises(KeyguardError) as caught:
        _aws.connect(dict(access_key="AKIAIOSFODNN7EXAMPLE", secret_key="s"))
    assert str(caught.value).startswith(fragment)
    assert "\n" not in str(caught.value)


def test_bad_max_attempts_in_the_profile_is_named(clean_env, tmp_path):
    (tmp_path / "config").write_text("[profile audit]\nmax_attempts = many\n")
    (tmp_path / "credentials").write_text(
        "[audit]\naws_access_key_id = AKIAPROFILEEXAMPLE00\naws_secret_access_key = p\n"
    )
    with pytest.raises(KeyguardError, match=r"^max_attempts of profile 'audit' must be a whole number"):
        _aws.connect({"profile": "audit"})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"endpoint_url": "http://keyguard:s3cret@127.0.0.1:5000"}, {"s3cret"}),
        ({"endpoint_url": "https://iam.amazonaws.com"}, set()),
        ({"endpoint_url": "http://127.0.0.1:5000/a@b"}, set()),  # an @ in the path is no user information
        (
            {
                "aws_config": {
                    "proxies": {"https": "http://u:p%40ss%3Aw@proxy:3128", "http": "http://tok3n-0123456789@proxy:3128"}
                }
            },
            {"p%40ss%3Aw", "p@ss:w", "tok3n-0123456789"},
        ),
        # a short user name alone is a name, not a token; and text without :// is no URL (its check names it)
        ({"endpoint_url": "http://d@127.0.0.1:5000", "aws_config": {"proxies": {"http": "d@"}}}, set()),
        ({"endpoint_url": "http://u:a@b@host/", "aws_config": {"proxies": "not a dict"}}, {"a@b"}),
        ({"endpoint_url": None, "aws_config": None}, set()),
    ],
)
def test_url_passwords_finds_each_password_as_given_and_decoded(params, expected):
    assert _aws.url_passwords(params) == expected
