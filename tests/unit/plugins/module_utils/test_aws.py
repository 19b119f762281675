"""Unit tests of the connection helpers: option checks, client config, error messages, redaction."""

from __future__ import annotations

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


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """Remove every AWS setting the machine might have, so botocore sees only what a test sets."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
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
    with pytest.raises(KeyguardError, match=r"^aws_config: "):
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
    bundle.write_text("")
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
