"""Unit tests of role assumption: option checks, the one sts:AssumeRole request, errors naming the role."""

from __future__ import annotations

import datetime
import http.server
import os
import socket
import threading
from urllib.parse import parse_qs

import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils import _aws
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError

ROLE = "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole"
ASSUMED = {
    "AccessKeyId": "ASIAASSUMEDEXAMPLE00",
    "SecretAccessKey": "assumed-secret-example",
    "SessionToken": "assumed-token-example",
    "Expiration": datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc),
}
ASSUMED_USER = {"AssumedRoleId": "AROAEXAMPLE:keyguard-aws", "Arn": f"{ROLE}/keyguard-aws"}


class StubbedStsSession(botocore.session.Session):
    """A real botocore session whose STS clients answer from a Stubber; every other client is real."""

    stubs = []  # (stub responses) queued for the next STS client
    made = []  # (service, create_client kwargs) of every client made

    def create_client(self, service_name, *args, **kwargs):
        """Return a real client; an STS one wrapped in a Stubber with the queued responses, activated."""
        client = super().create_client(service_name, *args, **kwargs)
        self.made.append((service_name, kwargs))
        if service_name == "sts":
            stubber = Stubber(client)
            for add in self.stubs:
                add(stubber)
            stubber.activate()
            self.stubbers.append(stubber)
        return client


@pytest.fixture
def sts(monkeypatch, tmp_path):
    """Make connect() use StubbedStsSession with base keys in the environment; yield the class to queue stubs on."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIABASEEXAMPLE00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "base-secret-example")
    StubbedStsSession.stubs, StubbedStsSession.made, StubbedStsSession.stubbers = [], [], []
    monkeypatch.setattr(_aws.botocore.session, "Session", StubbedStsSession)
    yield StubbedStsSession
    for stubber in StubbedStsSession.stubbers:
        stubber.assert_no_pending_responses()


def params(**options):
    """Return a task's connection options with the argument spec's defaults."""
    base = {name: spec.get("default") for name, spec in _aws.CONNECTION_ARGS.items()}
    return dict(base, **options)


def test_connect_assumes_the_role_once_and_signs_with_its_credentials(sts):
    expected = {"RoleArn": ROLE, "RoleSessionName": "nightly", "DurationSeconds": 3600, "ExternalId": "tenant-42"}
    sts.stubs = [
        lambda s: s.add_response("assume_role", {"Credentials": ASSUMED, "AssumedRoleUser": ASSUMED_USER}, expected)
    ]
    connection = _aws.connect(
        params(
            assume_role_arn=ROLE,
            assume_role_session_name="nightly",
            assume_role_duration_seconds=3600,
            assume_role_external_id="tenant-42",
        )
    )

    assert [service for service, _kwargs in sts.made] == ["sts", "iam"]
    assert sts.made[0][1]["region_name"] == "us-east-1"
    signing = connection.client._request_signer._credentials
    assert (signing.access_key, signing.secret_key, signing.token) == (
        "ASIAASSUMEDEXAMPLE00",
        "assumed-secret-example",
        "assumed-token-example",
    )
    assert connection.signing_key_id == "ASIAASSUMEDEXAMPLE00"
    assert "AKIABASEEXAMPLE00000" in connection.protected_key_ids  # the guard keeps the base key
    assert {"assumed-secret-example", "assumed-token-example", "base-secret-example"} <= set(connection.secrets)


def test_connect_without_a_role_makes_no_sts_client(sts):
    connection = _aws.connect(params())

    assert [service for service, _kwargs in sts.made] == ["iam"]
    assert connection.protected_key_ids == frozenset({"AKIABASEEXAMPLE00000"})
    assert connection.secrets == ("base-secret-example",)


def test_connect_defaults_the_session_name_and_duration_and_the_region_to_the_partition(sts):
    china_role = "arn:aws-cn:iam::111122223333:role/Audit"
    expected = {"RoleArn": china_role, "RoleSessionName": "keyguard-aws", "DurationSeconds": 900}
    sts.stubs = [
        lambda s: s.add_response("assume_role", {"Credentials": ASSUMED, "AssumedRoleUser": ASSUMED_USER}, expected)
    ]
    _aws.connect(params(assume_role_arn=china_role))

    assert sts.made[0][1]["region_name"] == "cn-north-1"
    assert (sts.made[1][0], sts.made[1][1]["region_name"]) == ("iam", "cn-north-1")


@pytest.mark.parametrize(
    "code, status, fragment",
    [
        ("AccessDenied", 403, "Check that the role's trust policy lets these credentials assume it"),
        ("RegionDisabledException", 403, "cannot assume role"),
    ],
)
def test_assume_role_errors_name_the_role(sts, code, status, fragment):
    sts.stubs = [lambda s: s.add_client_error("assume_role", code, "not authorized", http_status_code=status)]
    with pytest.raises(KeyguardError) as err:
        _aws.connect(params(assume_role_arn=ROLE))

    assert str(err.value).startswith(f"cannot assume role {ROLE}: {code}: not authorized")
    assert fragment in str(err.value)
    assert err.value.code == code
    assert [service for service, _kwargs in sts.made] == ["sts"]  # no IAM client without the role


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole",
        "arn:aws-us-gov:iam::111122223333:role/service-role/a/b/Audit+Team=1,x.y@z-w",
        "arn:aws-iso-b:iam::111122223333:role/R",
    ],
)
def test_role_arn_accepted(arn):
    _aws.validate_role({"assume_role_arn": arn})


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"assume_role_arn": "arn:aws:iam::11112222333:role/R"}, "assume_role_arn must be an IAM role ARN"),
        ({"assume_role_arn": "arn:aws:iam::111122223333:user/R"}, "assume_role_arn must be an IAM role ARN"),
        ({"assume_role_arn": "arn:aws:iam::111122223333:role/"}, "assume_role_arn must be an IAM role ARN"),
        ({"assume_role_arn": "arn:aws:iam::111122223333:role/r\u00f4le"}, "assume_role_arn must be an IAM role ARN"),
        ({"assume_role_arn": " arn:aws:iam::111122223333:role/R"}, "assume_role_arn must be an IAM role ARN"),
        ({"assume_role_external_id": "x"}, "assume_role_external_id must be 2 to 1224"),
        ({"assume_role_external_id": "tenant\t42"}, "assume_role_external_id must be 2 to 1224"),
        ({"assume_role_external_id": "a" * 1225}, "assume_role_external_id must be 2 to 1224"),
        ({"assume_role_session_name": "a" * 65}, "assume_role_session_name must be 2 to 64"),
        ({"assume_role_session_name": "org/sweep"}, "assume_role_session_name must be 2 to 64"),
        ({"assume_role_duration_seconds": 899}, "assume_role_duration_seconds must be between 900 and 43200"),
        ({"assume_role_duration_seconds": 43201}, "assume_role_duration_seconds must be between 900 and 43200"),
    ],
)
def test_bad_role_options_name_the_option(options, fragment):
    with pytest.raises(KeyguardError, match=fragment):
        _aws.validate_role(options)


def test_validate_connection_checks_the_role_options_too():
    with pytest.raises(KeyguardError, match="assume_role_duration_seconds"):
        _aws.validate_connection(params(assume_role_duration_seconds=60))


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's canned status, content type and body, as a proxy in STS's place would."""

    def do_POST(self):  # noqa: N802 - the name http.server calls
        """Read the request, record its action, send the canned answer."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.actions.append(parse_qs(body).get("Action", [""])[0])
        status, content_type, payload = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        """Keep the test's output clean."""


@pytest.fixture
def not_sts(monkeypatch, tmp_path):
    """Yield a loopback HTTP server set as AWS_ENDPOINT_URL_STS (with a user:password in it); set its .answer."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.actions, server.answer = [], (200, "text/html", b"")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIABASEEXAMPLE00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "base-secret-example")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://proxyuser:proxypass@127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "answer, fragment",
    [
        ((200, "text/html", b"<html><body>Please log in\n to the proxy</body></html>"), "is not an STS response"),
        ((200, "text/xml", b""), "is not an STS response"),
        ((200, "application/json", b'{"Credentials": null}'), "is not an STS response"),
        ((200, "text/xml", b"<AssumeRoleResponse><AssumeRoleResult/></AssumeRoleResponse>"), "is not an STS response"),
        ((502, "text/html", b"<html>\n<h1>Bad gateway</h1>\n</html>"), "answered HTTP 502 with something that is not"),
    ],
    ids=["html", "empty", "json", "xml-without-credentials", "bad-gateway"],
)
def test_an_answer_that_is_not_sts_is_one_line_naming_the_role_and_endpoint(not_sts, answer, fragment):
    not_sts.answer = answer
    with pytest.raises(KeyguardError) as err:
        _aws.connect(params(assume_role_arn=ROLE))

    message = str(err.value)
    assert message.startswith(f"cannot assume role {ROLE}: ")
    assert fragment in message
    assert f"http://127.0.0.1:{not_sts.server_port}" in message  # the endpoint, without its user:password
    assert "proxypass" not in message and "proxyuser" not in message
    assert "\n" not in message
    assert not_sts.actions == ["AssumeRole"]


def test_an_unreachable_sts_is_one_line_without_the_urls_password(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    with socket.socket() as spare:  # a loopback port that nothing listens on once closed
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIABASEEXAMPLE00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "base-secret-example")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://proxyuser:proxypass@127.0.0.1:{port}")
    with pytest.raises(KeyguardError) as err:
        _aws.connect(params(assume_role_arn=ROLE))

    message = str(err.value)
    assert message.startswith(f"cannot assume role {ROLE}: sts:AssumeRole: could not reach the STS endpoint")
    assert "proxypass" not in message and "\n" not in message
