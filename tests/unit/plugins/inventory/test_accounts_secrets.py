"""Unit tests of the accounts inventory's scrubbing of passwords inside URLs."""

from __future__ import annotations

from ansible_collections.keyguard.aws.plugins.inventory import accounts
from ansible_collections.keyguard.aws.plugins.module_utils._aws import redact


def test_url_secrets_covers_options_and_environment(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", "https://org-user:org-pw@org.example")
    monkeypatch.setenv("HTTPS_PROXY", "http://p:proxy%40pw@proxy.example:3128")
    params = {
        "endpoint_url": "http://ep-user:ep-pw@127.0.0.1:5000",
        "aws_config": {"proxies": {"https": "http://cfg:cfg-pw@10.0.0.1:8080", "http": "http://no-password:1"}},
    }

    secrets = accounts.url_secrets(params)

    message = redact("ep-user:ep-pw org-user:org-pw p:proxy%40pw cfg:cfg-pw and ep-pw alone", secrets)
    assert message == "******** ******** ******** ******** and ******** alone"
    # Without a password in the options, the environment's still count.
    assert set(accounts.url_secrets({"endpoint_url": "https://iam.amazonaws.com"})) == {
        "org-user:org-pw",
        "org-pw",
        "p:proxy%40pw",
        "proxy%40pw",
    }


def test_the_cache_key_holds_no_password_of_a_url(monkeypatch):
    # The cache file is named with this digest; a password inside endpoint_url or AWS_ENDPOINT_URL* must not go in,
    # not even hashed, while the endpoint itself still tells two listings apart.
    for name in accounts.IDENTITY_ENV:
        monkeypatch.delenv(name, raising=False)
    options = {"organizational_units": []}
    plain = accounts.cache_suffix({"endpoint_url": "http://127.0.0.1:5000"}, options)

    assert accounts.cache_suffix({"endpoint_url": "http://u:pw-1@127.0.0.1:5000"}, options) == plain
    assert accounts.cache_suffix({"endpoint_url": "http://u:pw-2@127.0.0.1:5000"}, options) == plain
    assert accounts.cache_suffix({"endpoint_url": "http://127.0.0.1:5001"}, options) != plain
    monkeypatch.setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", "http://u:pw-3@org.example")
    with_env = accounts.cache_suffix({"endpoint_url": "http://127.0.0.1:5000"}, options)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", "http://org.example")
    assert accounts.cache_suffix({"endpoint_url": "http://127.0.0.1:5000"}, options) == with_env != plain
