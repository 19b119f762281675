"""ansible-rulebook with the collection's rulebook: a password in the source's endpoint_url is never printed."""

from __future__ import annotations

import json

import pytest
from eda_rulebook import RulebookRun, make_queue
from harness import STRANGER_KEY, STRANGER_SECRET
from tcp_link import TcpLink

CREDENTIALS = {"aws_access_key_id": STRANGER_KEY, "aws_secret_access_key": STRANGER_SECRET}
PASSWORD = "sqs-Pa55word-in-url"  # noqa: S105 - a test value, chosen to be found if echoed


@pytest.fixture
def link(moto):
    """Yield a cuttable TCP link in front of moto, for the source's SQS traffic."""
    relay = TcpLink(moto.url)
    yield relay
    relay.close()


def test_endpoint_url_password_is_never_printed_even_when_sqs_fails(moto, link, tmp_path):
    _sqs, queue_url, _dlq = make_queue(moto.url, CREDENTIALS)
    endpoint = link.url.replace("http://", f"http://eda:{PASSWORD}@")
    variables = {"queue_url": queue_url, "region": "us-east-1", "endpoint_url": endpoint}
    run = RulebookRun(tmp_path, moto.url, CREDENTIALS, variables, verbose=False, extra_args=("-vv",))
    try:
        run.wait_for("Polling")
        link.cut()  # botocore's connection error names the endpoint, user:password@ and all
        text = run.wait_for("Receiving from SQS failed")
        link.restore()
    finally:
        run.stop()
    text = run.text()
    failure = next(line for line in text.splitlines() if "Receiving from SQS failed" in line)
    assert link.url.split("://")[1] in failure or "127.0.0.1" in failure, failure
    assert PASSWORD not in text, [line for line in text.splitlines() if PASSWORD in line]
    assert json.dumps(PASSWORD) not in text
