"""Unit tests of connect() against credential sources and endpoints that misbehave, served on 127.0.0.1."""

from __future__ import annotations

import os
import pathlib
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.httpsession
import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils import _access_keys, _aws
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError

STATIC_KEY = "AKIASTATICEXAMPLE000"
PROCESS_KEY = "AKIAPROCESSEXAMPLE00"
ROLE = "arn:aws:iam::123456789012:role/deploy"
ASSUMED = (
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
    "<AccessKeyId>ASIAASSUMEDEXAMPLE00</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey>"
    "<SessionToken>assumed-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
    "<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/d/s</Arn>"
    "</AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
    "</AssumeRoleResponse>"
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """Remove every AWS and CA-bundle setting the machine might have, so botocore sees only what a test sets."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    return monkeypatch


class Answers:
    """A loopback HTTP server answering every request with one fixed status, content type and body."""

    def __init__(self):
        self.status, self.content_type, self.body, self.paths = 200, "text/xml", b"", []
        answers = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                answers.paths.append(self.path)
                self.send_response(answers.status)
                self.send_header("Content-Type", answers.content_type)
                self.send_header("Content-Length", str(len(answers.body)))
                self.end_headers()
                self.wfile.write(answers.body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, body, status=200, content_type="text/xml"):
        """Answer the next requests with this body."""
        self.status, self.content_type, self.body = status, content_type, body.encode()


@pytest.fixture
def server():
    """Yield a loopback server whose answers a test sets."""
    answers = Answers()
    yield answers
    answers.server.shutdown()
    answers.server.server_close()


def write(tmp_path, config="", credentials=""):
    """Write the AWS config and credentials files."""
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)


def script(tmp_path, name, output):
    """Write an executable credential_process script printing `output`; return its path."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def process_json(key_id=PROCESS_KEY):
    """Return credential_process output for a static key."""
    return f'{{"Version": 1, "AccessKeyId": "{key_id}", "SecretAccessKey": "process-secret"}}'


def failure(params):
    """Return the one-line message connect() raises for these params."""
    with pytest.raises(KeyguardError) as caught:
        _aws.connect(params)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- credential sources that fail: one line naming the source -------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["<html><body>Sign in to the proxy\n</body></html>", '{"hello": "json"}', ""],
    ids=["html", "json", "empty"],
)
def test_sts_answering_something_else_names_the_role_and_the_endpoint(clean_env, tmp_path, server, body):
    server.answer(body, content_type="text/html")
    clean_env.setenv("AWS_ENDPOINT_URL_STS", server.url)
    write(
        tmp_path,
        f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = base\nregion = us-east-1\n",
        f"[base]\naws_access_key_id = {STATIC_KEY}\naws_secret_access_key = s\n",
    )
    message = failure({"profile": "deploy"})
    assert message == (
        f"Could not get credentials from STS assuming role_arn of profile 'deploy' ({ROLE}): {server.url} answered "
        "with something that is not an STS response; check AWS_ENDPOINT_URL_STS and any proxy."
    )


def test_sts_answering_a_proxy_block_page_names_the_endpoint_and_status(clean_env, tmp_path, server):
    server.answer("<html><body>Blocked</body></html>", status=403, content_type="text/html")
    clean_env.setenv("AWS_ENDPOINT_URL_STS", server.url)
    write(
        tmp_path,
        f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = base\nregion = us-east-1\n",
        f"[base]\naws_access_key_id = {STATIC_KEY}\naws_secret_access_key = s\n",
    )
    assert failure({"profile": "deploy"}).startswith(
        f"sts:AssumeRole: {server.url} answered HTTP 403 with something that is not an STS response, perhaps a "
        "proxy's block page. Check AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL, HTTPS_PROXY and NO_PROXY."
    )


def test_missing_web_identity_token_file_in_the_environment(clean_env):
    clean_env.setenv("AWS_ROLE_ARN", ROLE)
    clean_env.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token")
    clean_env.setenv("AWS_REGION", "us-east-1")
    assert failure({}) == (
        "Could not get credentials from the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, or the profile's "
        f"web_identity_token_file) for role {ROLE}: No such file or directory: '/nonexistent/token'."
    )


def test_missing_web_identity_token_file_in_a_profile(clean_env, tmp_path):
    write(tmp_path, f"[profile ci]\nrole_arn = {ROLE}\nweb_identity_token_file = /nonexistent/t\nregion = us-east-1\n")
    message = failure({"profile": "ci"})
    assert message.startswith("Could not get credentials from the web identity token")
    assert message.endswith("No such file or directory: '/nonexistent/t'.")


def test_missing_credential_process(clean_env, tmp_path):
    write(tmp_path, "[profile vault]\ncredential_process = /nonexistent/aws-vault\n")
    assert failure({"profile": "vault"}) == (
        "Could not get credentials from credential_process of profile 'vault': "
        "No such file or directory: '/nonexistent/aws-vault'."
    )


def test_missing_credential_process_of_a_source_profile(clean_env, tmp_path):
    write(
        tmp_path,
        "[profile vault]\ncredential_process = /nonexistent/aws-vault\n"
        f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = vault\n",
    )
    assert failure({"profile": "deploy"}).startswith(
        "Could not get credentials from credential_process of profile 'vault': No such file or directory"
    )


def test_credential_process_printing_something_else(clean_env, tmp_path):
    script(tmp_path, "proc.sh", "Enter your MFA code:")
    write(tmp_path, "[profile vault]\ncredential_process = ./proc.sh\n")
    assert failure({"profile": "vault"}).startswith(
        "Could not get credentials from credential_process of profile 'vault': its output is not the JSON "
        "credentials botocore expects"
    )


def test_container_endpoint_answering_without_a_key(clean_env, server):
    server.answer(
        '{"SecretAccessKey": "container-secret", "Token": "t", "Expiration": "2099-01-01T00:00:00Z"}',
        content_type="application/json",
    )
    clean_env.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url + "/creds")
    message = failure({})
    assert message == (
        "Could not get credentials from the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI "
        "or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI): its answer has no AccessKeyId."
    )
    assert "container-secret" not in message


# --- the lockout guard: the key that signed AssumeRole -----------------------------------------------------


def role_connection(clean_env, tmp_path, server, config, credentials=""):
    """Connect through profile `deploy`, whose AssumeRole the loopback server grants; return the Connection."""
    server.answer(ASSUMED)
    clean_env.setenv("AWS_ENDPOINT_URL_STS", server.url)
    write(tmp_path, config, credentials)
    return _aws.connect({"profile": "deploy", "region": "us-east-1"})


def test_guard_protects_a_source_profiles_key_from_credential_process(clean_env, tmp_path, server):
    """aws-vault style: the static key that signs AssumeRole is printed by credential_process."""
    script(tmp_path, "proc.sh", process_json())
    connection = role_connection(
        clean_env,
        tmp_path,
        server,
        f"[profile procsrc]\ncredential_process = ./proc.sh\n[profile deploy]\nrole_arn = {ROLE}\nsource_profile = procsrc\n",
    )
    assert connection.signing_key_id == "ASIAASSUMEDEXAMPLE00"
    assert connection.protected_key_ids == {"ASIAASSUMEDEXAMPLE00", PROCESS_KEY}
    assert server.paths == ["/"]  # one AssumeRole, no second run of anything


def test_guard_protects_the_static_key_of_a_source_profile_that_has_a_role_too(clean_env, tmp_path, server):
    """botocore signs AssumeRole with a source profile's own static key even when it has a role_arn of its own."""
    connection = role_connection(
        clean_env,
        tmp_path,
        server,
        f"[profile mid]\nrole_arn = {ROLE}-mid\nsource_profile = root\n"
        f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = mid\n",
        f"[mid]\naws_access_key_id = {STATIC_KEY}\naws_secret_access_key = s\n"
        "[root]\naws_access_key_id = AKIAROOTEXAMPLE00000\naws_secret_access_key = r\n",
    )
    assert connection.protected_key_ids == {"ASIAASSUMEDEXAMPLE00", STATIC_KEY}


def test_profile_walk_prefers_a_source_profiles_static_key_over_its_role(clean_env, tmp_path):
    """The fallback that reads the config files, for when botocore's internals do not tell (mfa_serial)."""
    write(
        tmp_path,
        f"[profile mid]\nrole_arn = {ROLE}-mid\nsource_profile = root\n"
        f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = mid\n",
        f"[mid]\naws_access_key_id = {STATIC_KEY}\naws_secret_access_key = s\n"
        "[root]\naws_access_key_id = AKIAROOTEXAMPLE00000\naws_secret_access_key = r\n",
    )
    assert _aws._profile_root_key_ids(botocore.session.Session(profile="deploy")) == [STATIC_KEY]


# --- settings checked before any call ---------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "abc", "0"])
def test_endpoint_url_with_a_bad_port_is_named(clean_env, port):
    with pytest.raises(KeyguardError, match=r"^endpoint_url must be an http:// or https:// URL with a port from 1"):
        _aws.validate_connection({"endpoint_url": f"http://127.0.0.1:{port}"})


def test_endpoint_url_in_messages_drops_the_password(clean_env):
    with pytest.raises(KeyguardError) as caught:
        _aws.validate_connection({"endpoint_url": "http://user:pw@127.0.0.1:99999"})
    assert "pw" not in str(caught.value)
    assert "'http://127.0.0.1:99999'" in str(caught.value)


@pytest.mark.parametrize(
    "aws_config, message",
    [
        ({"s3": "x"}, "aws_config.s3 must be a dict, not 'x'."),
        ({"signature_version": 5}, "aws_config.signature_version must be a string, not 5."),
        ({"proxies": "x"}, "aws_config.proxies must be a dict, not 'x'."),
        ({"proxies": {"https": 5}}, "aws_config.proxies.https must be a proxy URL string, not 5."),
        ({"proxies": {"https": "http://p:99999"}}, "aws_config.proxies.https must be an http:// or https:// URL"),
        (
            {"connect_timeout": 1.0e300},
            "aws_config.connect_timeout must be a number of seconds greater than 0 and at most 86400, not 1e+300.",
        ),
        ({"read_timeout": float("nan")}, "aws_config.read_timeout must be a number of seconds"),
        ({"user_agent": "a\r\nX: 1"}, "aws_config.user_agent must not contain line breaks or control characters."),
        ({"tcp_keepalive": "yes"}, "aws_config.tcp_keepalive must be true or false, not 'yes'."),
        (
            {"retries": {"mode": "bogus"}},
            "aws_config.retries.mode must be one of standard, adaptive, legacy, not 'bogus'.",
        ),
        ({"client_cert": 5}, "aws_config.client_cert must be a file path"),
    ],
)
def test_aws_config_keys_of_the_wrong_type_or_range_are_named(clean_env, aws_config, message):
    with pytest.raises(KeyguardError) as caught:
        _aws.validate_connection({"aws_config": aws_config})
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "profile_line, message",
    [
        ("retry_mode = bogus", "retry_mode of profile 'audit' must be one of standard, adaptive, legacy, not 'bogus'"),
        (
            "max_attempts = 0",
            "max_attempts of profile 'audit' must be a whole number of attempts of 1 or more, not '0'",
        ),
        ("endpoint_url = not-a-url", "endpoint_url of profile 'audit' must be an http:// or https:// URL"),
        (
            "ca_bundle = /nonexistent.pem",
            "ca_bundle of profile 'audit': no such file '/nonexistent.pem'; fix or unset it.",
        ),
    ],
)
def test_bad_profile_settings_are_named(clean_env, tmp_path, profile_line, message):
    write(
        tmp_path,
        f"[profile audit]\n{profile_line}\n",
        f"[audit]\naws_access_key_id = {STATIC_KEY}\naws_secret_access_key = s\n",
    )
    assert failure({"profile": "audit"}).startswith(message)


def test_a_bad_iam_endpoint_in_a_services_section_is_named(clean_env, tmp_path):
    write(
        tmp_path,
        "[profile audit]\nservices = local\n[services local]\niam =\n  endpoint_url = http://127.0.0.1:70000\n",
        f"[audit]\naws_access_key_id = {STATIC_KEY}\naws_secret_access_key = s\n",
    )
    assert failure({"profile": "audit"}).startswith(
        "iam endpoint_url of [services local] must be an http:// or https:// URL with a port from 1 to 65535"
    )


@pytest.mark.parametrize("variable", ["AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"])
def test_a_ca_bundle_that_is_not_pem_is_named_before_any_call(clean_env, tmp_path, server, variable):
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    clean_env.setenv(variable, str(tmp_path / "garbage.pem"))
    message = failure(dict(access_key=STATIC_KEY, secret_key="s", endpoint_url=server.url))
    assert message.startswith(f"{variable}: '{tmp_path / 'garbage.pem'}' is not a bundle of PEM CA certificates (")
    assert server.paths == []


def test_a_bad_bundle_setting_is_not_checked_when_the_task_gives_its_own(clean_env, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text(pathlib.Path(botocore.httpsession.get_cert_path(True)).read_text())
    clean_env.setenv("AWS_CA_BUNDLE", "/nonexistent.pem")
    connection = _aws.connect(dict(access_key=STATIC_KEY, secret_key="s", aws_ca_bundle=str(bundle)))
    assert connection.client._endpoint.http_session._verify == str(bundle)


@pytest.mark.parametrize(
    "setting",
    [{"endpoint_url": "http://127.0.0.1:8080"}, {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}],
    ids=["task-endpoint", "ignored"],
)
def test_endpoint_variables_botocore_ignores_are_not_checked(clean_env, setting):
    clean_env.setenv("AWS_ENDPOINT_URL_IAM", "not-a-url")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:99999")
    params = dict(access_key=STATIC_KEY, secret_key="s")
    for name, value in setting.items():
        if name.startswith("AWS_"):
            clean_env.setenv(name, value)
        else:
            params[name] = value
    client = _aws.connect(params).client
    assert client.meta.endpoint_url == setting.get("endpoint_url", "https://iam.amazonaws.com")


# --- answers that are not IAM's ----------------------------------------------------------------------------


def iam_client(url):
    """Return a connected IAM client for the loopback server, with one attempt."""
    params = dict(
        access_key=STATIC_KEY, secret_key="s", endpoint_url=url, aws_config={"retries": {"total_max_attempts": 1}}
    )
    return _aws.connect(params).client


def test_a_proxy_block_page_is_not_an_iam_error(clean_env, server):
    server.answer("<html><body>Blocked by policy</body></html>", status=403, content_type="text/html")
    client = iam_client(server.url.replace("http://", "http://user:pw@"))
    with pytest.raises(KeyguardError) as caught:
        _aws.call(client, "ListAccessKeys")
    assert str(caught.value) == (
        f"iam:ListAccessKeys: {server.url} answered HTTP 403 with something that is not an IAM response, perhaps a "
        "proxy's block page. Check endpoint_url, AWS_ENDPOINT_URL_IAM or AWS_ENDPOINT_URL, HTTPS_PROXY and NO_PROXY."
    )
    assert caught.value.code == "NotIAM"


def test_a_200_answer_that_is_not_iam_drops_the_password(clean_env, server):
    server.answer("<html>portal</html>", content_type="text/html")
    client = iam_client(server.url.replace("http://", "http://user:pw@"))
    with pytest.raises(KeyguardError) as caught:
        _aws.call(client, "ListAccessKeys")
    assert str(caught.value).startswith(f"iam:ListAccessKeys: the endpoint {server.url} answered with something")
    assert "pw" not in str(caught.value)


def test_a_key_without_status_is_one_line(clean_env):
    client = botocore.session.Session().create_client(
        "iam", region_name="us-east-1", aws_access_key_id=STATIC_KEY, aws_secret_access_key="s"
    )
    with Stubber(client) as stubber:
        stubber.add_response("list_access_keys", {"AccessKeyMetadata": [{"AccessKeyId": STATIC_KEY}]}, {})
        with pytest.raises(
            KeyguardError, match=r"^iam:ListAccessKeys answered a key without Status; check endpoint_url"
        ):
            _access_keys.list_access_keys(client)
        stubber.assert_no_pending_responses()


def test_an_unexpected_botocore_exception_is_one_line(clean_env):
    """Whatever botocore lets through during a request (here a bad header value) must not become a traceback."""
    client = botocore.session.Session().create_client(
        "iam",
        region_name="us-east-1",
        aws_access_key_id=STATIC_KEY,
        aws_secret_access_key="s",
        endpoint_url="http://127.0.0.1:9",
    )

    def explode(**_kwargs):
        """Fail the way a library bug would."""
        raise RuntimeError("boom\nsecond line")

    client.meta.events.register("before-send.iam.ListAccessKeys", explode)
    with pytest.raises(KeyguardError) as caught:
        _aws.call(client, "ListAccessKeys")
    assert str(caught.value) == (
        "iam:ListAccessKeys against http://127.0.0.1:9 failed inside botocore (RuntimeError): boom second line"
    )
