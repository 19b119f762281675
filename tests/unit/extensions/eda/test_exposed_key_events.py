"""The exposed_key_events source: parsing real AWS event shapes, argument checks, and the SQS loop on a Stubber."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import threading
import time
from pathlib import Path

import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.extensions.eda.plugins.event_source import exposed_key_events as source

SAMPLES = Path(__file__).with_name("samples")
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/keyguard-exposed-keys"


def sample(name):
    """Return one of the stored EventBridge events."""
    return json.loads((SAMPLES / f"{name}.json").read_text())


def keyguard_of(events):
    """Return the keyguard part of each event."""
    return [event["keyguard"] for event in events]


# --- parsing the real shapes ------------------------------------------------------------------------


def test_health_exposure_event_gives_one_actionable_key():
    event = sample("health_credentials_exposed")
    (only,) = source.events_from_body(json.dumps(event))
    assert only["raw"] == event
    assert only["keyguard"] == {
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "account_id": "123456789012",
        "source": "aws.health",
        "reason": "AWS_RISK_CREDENTIALS_EXPOSED",
        "event_time": "2026-11-27T09:14:21Z",
        "event_id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "actionable": True,
    }
    assert "user_name" not in only["keyguard"]  # Health names the key, not its owner: the playbook asks IAM


def test_health_organization_view_gives_one_event_per_distinct_key_in_the_affected_account():
    events = source.events_from_body(json.dumps(sample("health_organization_view_several_keys")))
    assert [k["access_key_id"] for k in keyguard_of(events)] == ["AKIAI44QH8DHBEXAMPLE", "AKIAJ5XK3EXAMPLE2222"]
    # The event reached the management account (111122223333); the keys belong to the member account.
    assert {k["account_id"] for k in keyguard_of(events)} == {"444455556666"}
    assert all(k["actionable"] for k in keyguard_of(events))


def test_health_event_in_the_2016_shape_of_aws_own_sample_automation():
    (only,) = keyguard_of(source.events_from_body(json.dumps(sample("health_aws_sample_2016"))))
    assert only["access_key_id"] == "AKIAEXPOSED000000001"
    assert only["account_id"] == "123456789012"  # no affectedAccount: the envelope's account


@pytest.mark.parametrize(
    "code",
    [
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
        "AWS_RISK_CREDENTIALS_COMPROMISED",
        "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
    ],
)
def test_health_compromise_events_count_too(code):
    event = sample("health_credentials_exposed")
    event["detail"]["eventTypeCode"] = code
    (only,) = keyguard_of(source.events_from_body(json.dumps(event)))
    assert only["reason"] == code


def test_other_health_events_pass_on_raw():
    event = sample("health_credentials_exposed")
    event["detail"]["eventTypeCode"] = "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"
    assert source.events_from_body(json.dumps(event)) == [{"raw": event}]


def test_guardduty_iam_user_finding_is_actionable_and_names_the_user():
    event = sample("guardduty_malicious_ip_caller")
    (only,) = source.events_from_body(json.dumps(event))
    assert only == {
        "keyguard": {
            "access_key_id": "AKIAGUARDDUTY0000001",
            "user_name": "ci-runner",
            "account_id": "123456789012",
            "source": "aws.guardduty",
            "reason": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
            "event_time": "2026-11-27T11:40:05Z",
            "event_id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
            "actionable": True,
        },
        "raw": event,
    }


def test_guardduty_instance_role_credentials_are_not_actionable():
    (only,) = keyguard_of(source.events_from_body(json.dumps(sample("guardduty_instance_credential_exfiltration"))))
    assert only["access_key_id"] == "ASIAQ3EGUDGXEXAMPLE1"
    assert only["actionable"] is False
    assert "temporary credentials (ASIA...)" in only["not_actionable_reason"]
    assert "user_name" not in only  # a role's name is not an IAM user's


def test_guardduty_user_type_other_than_iam_user_is_not_actionable():
    event = sample("guardduty_malicious_ip_caller")
    event["detail"]["resource"]["accessKeyDetails"]["userType"] = "Root"
    (only,) = keyguard_of(source.events_from_body(json.dumps(event)))
    assert only["actionable"] is False
    assert only["not_actionable_reason"].startswith("GuardDuty userType is 'Root'")


def test_guardduty_sample_findings_are_not_actionable():
    (only,) = keyguard_of(source.events_from_body(json.dumps(sample("guardduty_sample_finding"))))
    assert only["actionable"] is False
    assert "sample finding" in only["not_actionable_reason"]


def test_guardduty_finding_without_an_access_key_passes_on_raw():
    event = sample("guardduty_ec2_ssh_brute_force")
    assert source.events_from_body(json.dumps(event)) == [{"raw": event}]


def test_an_asia_key_in_a_health_event_is_not_actionable():
    event = sample("health_credentials_exposed")
    event["detail"]["affectedEntities"] = [{"entityValue": "ASIAQ3EGUDGXEXAMPLE1"}, {"entityValue": "not-a-key"}]
    first, second = keyguard_of(source.events_from_body(json.dumps(event)))
    assert (first["actionable"], second["actionable"]) == (False, False)
    assert "ASIA" in first["not_actionable_reason"]
    assert second["access_key_id"] == ""  # not of AWS's shape: never handed on
    assert second["not_actionable_reason"] == (
        "the access key ID is not of AWS's shape (A-Z and 0-9, 16 to 128 characters)"
    )


def test_a_health_event_naming_no_key_passes_on_raw():
    event = sample("health_credentials_exposed")
    event["detail"]["affectedEntities"] = []
    assert source.events_from_body(json.dumps(event)) == [{"raw": event}]


def test_sns_delivery_is_unwrapped():
    event = sample("guardduty_malicious_ip_caller")
    notification = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:security-findings",
        "Message": json.dumps(event),
        "Timestamp": "2026-11-27T11:40:06.123Z",
    }
    (only,) = source.events_from_body(json.dumps(notification))
    assert only["raw"] == event
    assert only["keyguard"]["access_key_id"] == "AKIAGUARDDUTY0000001"


@pytest.mark.parametrize("body", ['"just a string"', "[1, 2]", '{"hello": "world"}', '{"source": "aws.health"}', "42"])
def test_other_json_passes_on_raw(body):
    assert source.events_from_body(body) == [{"raw": json.loads(body)}]


@pytest.mark.parametrize("body", ["", "not json", "{'single': 'quotes'}", '{"cut": ', None])
def test_a_body_that_is_not_json_gives_none(body):
    assert source.events_from_body(body) is None


def test_parsing_never_changes_the_raw_event():
    event = sample("health_organization_view_several_keys")
    original = copy.deepcopy(event)
    events = source.events_from_document(event)
    assert event == original
    assert all(e["raw"] is event for e in events)


# --- arguments ------------------------------------------------------------------------------------


def test_defaults():
    settings = source.parse_args({"queue_url": QUEUE_URL, "region": "", "endpoint_url": "", "eda_feedback_queue": 1})
    assert settings == {
        "queue_url": QUEUE_URL,
        "region": None,
        "endpoint_url": None,
        "access_key": None,
        "secret_key": None,
        "session_token": None,
        "profile": None,
        "wait_seconds": 20,
        "max_messages": 10,
        "guardduty_finding_types": ("UnauthorizedAccess:IAMUser/", "CredentialAccess:IAMUser/", "PenTest:IAMUser/"),
    }


def test_numbers_as_strings_from_rulebook_variables():
    settings = source.parse_args({"queue_url": QUEUE_URL, "wait_seconds": "1", "max_messages": "1"})
    assert (settings["wait_seconds"], settings["max_messages"]) == (1, 1)
    types = source.parse_args({"queue_url": QUEUE_URL, "guardduty_finding_types": "Impact:IAMUser/, PenTest:IAMUser/"})
    assert types["guardduty_finding_types"] == ("Impact:IAMUser/", "PenTest:IAMUser/")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({}, "queue_url is required"),
        ({"queue_url": "sqs/keyguard"}, "queue_url must be an http:// or https:// URL"),
        ({"queue_url": QUEUE_URL, "wait_seconds": 21}, "wait_seconds must be a whole number from 1 to 20"),
        # Short polling would ask an empty queue hundreds of times a second.
        ({"queue_url": QUEUE_URL, "wait_seconds": 0}, "wait_seconds must be a whole number from 1 to 20, not 0."),
        ({"queue_url": [QUEUE_URL]}, "queue_url must be a string (one queue URL), not a list."),
        (
            {"queue_url": QUEUE_URL, "guardduty_finding_types": ["{{ lookup('pipe', 'id') }}"]},
            "guardduty_finding_types must be a list of GuardDuty finding types",
        ),
        ({"queue_url": QUEUE_URL, "wait_seconds": True}, "wait_seconds must be a whole number"),
        ({"queue_url": QUEUE_URL, "max_messages": 0}, "max_messages must be a whole number from 1 to 10"),
        ({"queue_url": QUEUE_URL, "max_messages": "ten"}, "max_messages must be a whole number from 1 to 10"),
        ({"queue_url": QUEUE_URL, "region": "US East"}, "region must be an AWS region name"),
        ({"queue_url": QUEUE_URL, "endpoint_url": "localhost:4566"}, "endpoint_url must be an http:// or https:// URL"),
        ({"queue_url": QUEUE_URL, "access_key": "AKIAIOSFODNN7EXAMPLE"}, "access_key and secret_key go together"),
        ({"queue_url": QUEUE_URL, "session_token": "token"}, "session_token needs access_key and secret_key"),
        (
            {"queue_url": QUEUE_URL, "profile": "p", "access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": "s"},
            "set profile or access_key and secret_key, not both",
        ),
        ({"queue_url": QUEUE_URL, "queue": "typo"}, "unknown argument 'queue'"),
        ({"queue_url": f" {QUEUE_URL}"}, "queue_url must be a string without spaces around it"),
        ({"queue_url": QUEUE_URL, "region": 5}, "region must be a string"),
    ],
)
def test_bad_arguments_are_named(args, fragment):
    with pytest.raises(ValueError, match="^keyguard.aws.exposed_key_events: ") as caught:
        source.parse_args(args)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_secret_key_never_appears_in_an_argument_error():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    with pytest.raises(ValueError) as caught:
        source.parse_args({"queue_url": QUEUE_URL, "secret_key": secret})
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/q", "eu-west-1"),
        ("https://ap-southeast-2.queue.amazonaws.com/123456789012/q", "ap-southeast-2"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "cn-north-1"),
    ],
)
def test_region_comes_from_the_queue_url(url, region, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    client = source.make_client(source.parse_args({"queue_url": url}))
    assert client.meta.region_name == region
    assert client.meta.config.read_timeout == 30  # outlasts the 20 s long poll


def test_no_region_anywhere_is_a_clear_error(monkeypatch, tmp_path):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ValueError, match="region is not set and the queue_url does not name one"):
        source.make_client(source.parse_args({"queue_url": "http://127.0.0.1:5000/123456789012/q"}))


# --- the SQS loop, on a real botocore client behind a Stubber -------------------------------------


class RecordingQueue:
    """Stands in for ansible-rulebook's queue: records events, optionally fails on put."""

    def __init__(self, fail=False):
        self.events = []
        self.fail = fail

    async def put(self, event):
        """Record the event, or fail like a queue that is gone."""
        if self.fail:
            raise RuntimeError("queue closed")
        self.events.append(event)


@pytest.fixture
def sqs():
    """Return a real SQS client and its Stubber, activated."""
    client = botocore.session.get_session().create_client(
        "sqs", region_name="us-east-1", aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def message(message_id, body):
    """Return an SQS message as ReceiveMessage returns it."""
    return {"MessageId": message_id, "ReceiptHandle": f"handle-{message_id}", "Body": body, "MD5OfBody": "0" * 32}


RECEIVE = {"QueueUrl": QUEUE_URL, "WaitTimeSeconds": 20, "MaxNumberOfMessages": 10}


def test_main_deletes_only_what_it_handled_and_retries_with_growing_delays(sqs, monkeypatch):
    client, stubber = sqs
    health = json.dumps(sample("health_organization_view_several_keys"))
    unrelated = json.dumps({"source": "aws.ec2", "detail": {"state": "running"}})
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"VisibilityTimeout": "30", "RedrivePolicy": "{}"}},
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["RedrivePolicy", "VisibilityTimeout"]},
    )
    stubber.add_client_error("receive_message", "ServiceUnavailable", http_status_code=503, expected_params=RECEIVE)
    stubber.add_client_error("receive_message", "ServiceUnavailable", http_status_code=503, expected_params=RECEIVE)
    messages = [message("m1", health), message("m2", "not json {"), message("m3", unrelated)]
    stubber.add_response("receive_message", {"Messages": messages}, RECEIVE)
    # Only the messages that reached the queue are deleted; the one that is not JSON stays for the redrive policy.
    entries = [{"Id": "0", "ReceiptHandle": "handle-m1"}, {"Id": "1", "ReceiptHandle": "handle-m3"}]
    stubber.add_response(
        "delete_message_batch",
        {"Successful": [{"Id": "0"}, {"Id": "1"}], "Failed": []},
        {"QueueUrl": QUEUE_URL, "Entries": entries},
    )
    stubber.add_client_error("receive_message", "RequestTimeout", http_status_code=500, expected_params=RECEIVE)
    delays = []

    class Stop(Exception):
        """Ends the endless loop once it has shown what the test needs."""

    async def sleep(seconds):
        """Record the delay instead of waiting; stop at the third."""
        delays.append(seconds)
        if len(delays) == 3:
            raise Stop

    monkeypatch.setattr(source, "make_client", lambda settings: client)
    monkeypatch.setattr(source.asyncio, "sleep", sleep)
    queue = RecordingQueue()
    with pytest.raises(Stop):
        asyncio.run(source.main(queue, {"queue_url": QUEUE_URL}))
    assert delays == [1.0, 2.0, 1.0]  # growing while SQS fails, back to the start after a call that worked
    assert [e.get("keyguard", {}).get("access_key_id") for e in queue.events] == [
        "AKIAI44QH8DHBEXAMPLE",
        "AKIAJ5XK3EXAMPLE2222",
        None,
    ]
    assert queue.events[2] == {"raw": json.loads(unrelated)}


def test_a_message_whose_events_did_not_reach_the_queue_is_not_deleted(sqs):
    client, stubber = sqs  # no delete_message_batch response: any delete call fails the test
    health = json.dumps(sample("health_credentials_exposed"))
    with pytest.raises(RuntimeError, match="queue closed"):
        asyncio.run(source.handle(RecordingQueue(fail=True), [message("m1", health)]))


def test_a_failed_delete_is_logged_and_not_fatal(sqs, caplog):
    client, stubber = sqs
    stubber.add_response(
        "delete_message_batch",
        {"Successful": [], "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}]},
        {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "0", "ReceiptHandle": "handle-m1"}]},
    )
    settings = source.parse_args({"queue_url": QUEUE_URL})
    asyncio.run(source.delete(client, settings, [message("m1", "{}")]))
    assert "Could not delete handled message m1" in caplog.text


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("AWS.SimpleQueueService.NonExistentQueue", "there is no such queue; check queue_url and region"),
        ("AccessDenied", "grant sqs:GetQueueAttributes, sqs:ReceiveMessage and sqs:DeleteMessage on the queue"),
        ("InvalidClientTokenId", "AWS does not know these credentials"),
    ],
)
def test_a_wrong_queue_or_key_stops_the_source_at_start_with_the_reason(sqs, code, fix):
    client, stubber = sqs
    stubber.add_client_error("get_queue_attributes", code, "the service's words", http_status_code=400)
    settings = source.parse_args({"queue_url": QUEUE_URL})
    with pytest.raises(ValueError) as caught:
        asyncio.run(source.check_queue(client, settings, source.Backoff()))
    assert str(caught.value) == (
        f"keyguard.aws.exposed_key_events: cannot read queue {QUEUE_URL}: {code}: the service's words; {fix}."
    )


def test_a_queue_without_a_redrive_policy_is_warned_about(sqs, caplog):
    client, stubber = sqs
    stubber.add_response("get_queue_attributes", {"Attributes": {"VisibilityTimeout": "30"}})
    settings = source.parse_args({"queue_url": QUEUE_URL})
    asyncio.run(source.check_queue(client, settings, source.Backoff()))
    assert "has no redrive policy" in caplog.text


def test_backoff_grows_to_thirty_seconds_and_resets():
    backoff = source.Backoff()
    assert [backoff.next_delay() for _attempt in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_cancelling_a_call_in_progress_does_not_wait_for_it():
    release = threading.Event()

    async def cancel_a_long_poll():
        """Start a call that blocks like a long poll, cancel it, and time how long cancelling took."""
        task = asyncio.ensure_future(source.in_daemon_thread(release.wait, timeout=30))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    try:
        assert asyncio.run(cancel_a_long_poll()) < 5  # the call itself would block for 30 s
    finally:
        release.set()


def test_a_call_in_a_daemon_thread_returns_its_result_or_raises_its_error():
    def lookup(key):
        """Fail the way a botocore call fails: with an exception."""
        raise KeyError(key)

    async def both():
        """Return a result from one call and the error of another."""
        result = await source.in_daemon_thread(dict, a=1)
        with pytest.raises(KeyError, match="missing"):
            await source.in_daemon_thread(lookup, key="missing")
        return result

    assert asyncio.run(both()) == {"a": 1}


def test_documented_options_are_exactly_the_accepted_arguments():
    import yaml

    options = yaml.safe_load(source.DOCUMENTATION)["options"]
    assert set(options) == set(source.STRING_ARGS) | set(source.INT_ARGS) | set(source.LIST_ARGS)
    assert tuple(options["guardduty_finding_types"]["default"]) == source.GUARDDUTY_FINDING_TYPES
    for name, (default, _lowest, _highest) in source.INT_ARGS.items():
        assert options[name]["default"] == default
    assert [name for name, spec in options.items() if spec.get("required")] == ["queue_url"]
    assert yaml.safe_load(source.EXAMPLES)[0]["sources"][0]["keyguard.aws.exposed_key_events"]["queue_url"]


# --- hostile and odd messages -----------------------------------------------------------------------

PIPE = "{{ lookup('pipe', 'id > /tmp/keyguard-pwned') }}"


def assert_no_template_in(keyguard):
    """Fail when any keyguard field could carry a template, a quote or a space into the playbook's extra vars."""
    for name, value in keyguard.items():
        if name != "not_actionable_reason":
            assert "{" not in str(value) and "'" not in str(value) and " " not in str(value), (name, value)


def keyguard_with_template_at(name, path):
    """Return the keyguard fields of the one event the sample makes once PIPE is put at path."""
    event = sample(name)
    target = event
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = PIPE
    (only,) = keyguard_of(source.events_from_body(json.dumps(event)))
    return only


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("detail", "affectedAccount"), "the account ID is not 12 digits"),
        (("detail", "affectedEntities", 0, "awsAccountId"), "the account ID is not 12 digits"),
        (("detail", "affectedEntities", 0, "entityValue"), "the access key ID is not of AWS's shape"),
        (("time",), "the event time is not an ISO 8601 UTC time"),
        (("id",), "the event ID is not of EventBridge's shape"),
    ],
)
def test_a_template_in_any_health_field_is_never_handed_on(path, field):
    only = keyguard_with_template_at("health_credentials_exposed", path)
    assert only["actionable"] is False
    assert field in only["not_actionable_reason"]
    assert_no_template_in(only)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("detail", "accountId"), "the account ID is not 12 digits"),
        (("detail", "resource", "accessKeyDetails", "accessKeyId"), "the access key ID is not of AWS's shape"),
        (("detail", "resource", "accessKeyDetails", "userName"), "the user name is not an IAM user name"),
        (("detail", "type"), "the finding type is not of GuardDuty's form"),
        (("time",), "the event time is not an ISO 8601 UTC time"),
    ],
)
def test_a_template_in_any_guardduty_field_is_never_handed_on(path, field):
    only = keyguard_with_template_at("guardduty_malicious_ip_caller", path)
    assert only["actionable"] is False
    assert field in only["not_actionable_reason"]
    assert_no_template_in(only)
    assert "user_name" not in only or only["user_name"] == "ci-runner"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "Discovery:IAMUser/AnomalousBehavior"}, "is not one that says the key is compromised"),
        ({"service": {"archived": True}}, "the GuardDuty finding is archived"),
    ],
)
def test_guardduty_findings_that_do_not_say_the_key_is_compromised_are_not_actionable(change, reason):
    event = sample("guardduty_malicious_ip_caller")
    for name, value in change.items():
        if isinstance(value, dict):
            event["detail"][name].update(value)
        else:
            event["detail"][name] = value
    (only,) = keyguard_of(source.events_from_body(json.dumps(event)))
    assert only["actionable"] is False
    assert reason in only["not_actionable_reason"]


def test_guardduty_finding_types_are_configurable():
    event = sample("guardduty_malicious_ip_caller")
    event["detail"]["type"] = "Discovery:IAMUser/AnomalousBehavior"
    (only,) = keyguard_of(source.events_from_body(json.dumps(event), ("Discovery:IAMUser/AnomalousBehavior",)))
    assert only["actionable"] is True
    (other,) = keyguard_of(source.events_from_body(json.dumps(sample("guardduty_malicious_ip_caller")), ("Impact:",)))
    assert other["actionable"] is False


def test_a_closed_health_event_is_not_actionable():
    event = sample("health_credentials_exposed")
    event["detail"]["statusCode"] = "closed"
    (only,) = keyguard_of(source.events_from_body(json.dumps(event)))
    assert only["actionable"] is False
    assert "the AWS Health event is closed" in only["not_actionable_reason"]


@pytest.mark.parametrize(
    "detail",
    [
        {"eventTypeCode": ["AWS_RISK_CREDENTIALS_EXPOSED"]},
        {"eventTypeCode": {"code": "AWS_RISK_CREDENTIALS_EXPOSED"}},
        {"affectedEntities": 5},
        {"affectedEntities": True},
        {"affectedEntities": [5, None, {"entityValue": 7}]},
    ],
)
def test_health_fields_of_the_wrong_type_pass_on_raw(detail):
    event = sample("health_credentials_exposed")
    event["detail"].update(detail)
    assert source.events_from_body(json.dumps(event)) == [{"raw": event}]


DEEP = "[" * 5000 + "]" * 5000


def sns(message):
    """Return an SNS notification wrapping this message text."""
    return json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": message})


@pytest.mark.parametrize("body", [DEEP, sns(DEEP), json.dumps({"Message": DEEP}).replace('"' + DEEP + '"', DEEP)])
def test_a_message_nested_too_deep_is_logged_without_its_body_and_left_on_the_queue(body, caplog):
    good = json.dumps(sample("health_credentials_exposed"))
    queue = RecordingQueue()
    handled = asyncio.run(source.handle(queue, [message("m1", body), message("m2", good)]))
    keys = [e["keyguard"]["access_key_id"] for e in queue.events if "keyguard" in e]
    assert keys == ["AKIAIOSFODNN7EXAMPLE"]  # the next real event is still handled
    assert "[[[" not in caplog.text
    if python_parses(DEEP):
        # Python 3.13's json parses this depth: the document is no key event and goes on as text, never as raw.
        assert [m["MessageId"] for m in handled] == ["m1", "m2"]
        others = [e for e in queue.events if "keyguard" not in e]
        assert others and all(set(e) == {"raw_json"} for e in others)
    else:
        assert [m["MessageId"] for m in handled] == ["m2"]  # m1 stays for the redrive policy
        assert f"SQS message m1 could not be read (RecursionError, {len(body)} characters)" in caplog.text


def python_parses(text):
    """Return whether this Python's json module parses text without running out of recursion."""
    try:
        json.loads(text)
    except RecursionError:
        return False
    return True


@pytest.mark.parametrize(
    "body",
    [
        '{"": 2}',
        '{"a.b": 1, "": 2, "keyguard": "str"}',
        '{"x": NaN}',
        '{"x": 1e400}',
        '{"n": 123456789012345678901234567890}',
        '{"1st": 1}',
        json.dumps({"deep": json.loads("[" * 40 + "]" * 40)}),
    ],
)
def test_a_document_the_rules_engine_cannot_store_is_passed_on_as_text(body):
    (only,) = source.events_from_body(body)
    assert only == {"raw_json": body}  # a string: never a key the engine jams on, never a forged keyguard


def test_a_key_event_with_a_key_the_engine_cannot_store_keeps_its_keyguard_and_passes_the_rest_as_text():
    event = sample("health_credentials_exposed")
    event["detail"][""] = "x"
    body = json.dumps(event)
    (only,) = source.events_from_body(body)
    assert only["keyguard"]["access_key_id"] == "AKIAIOSFODNN7EXAMPLE"
    assert only["keyguard"]["actionable"] is True
    assert only["raw_json"] == body
    assert "raw" not in only


@pytest.mark.parametrize("name", sorted(path.stem for path in SAMPLES.glob("*.json")))
def test_every_real_event_shape_is_passed_on_as_a_document(name):
    assert source.engine_safe(sample(name))
    assert all("raw" in event for event in source.events_from_body(json.dumps(sample(name))))


class DrainingQueue(RecordingQueue):
    """Stands in for ansible-rulebook's FilteredQueue: the engine takes an event off it a few checks later."""

    def __init__(self, log):
        super().__init__()
        self.queue = self
        self.log = log
        self.checks = 0

    def qsize(self):
        """Say one event waits until the third check, as a busy engine would."""
        self.checks += 1
        self.log.append(f"qsize {self.checks}")
        return 0 if self.checks >= 3 else 1


def test_messages_are_deleted_only_once_the_engine_took_their_events_and_a_stop_names_the_keys(sqs, caplog):
    client, stubber = sqs
    log = []
    stubber.add_response("get_queue_attributes", {"Attributes": {"RedrivePolicy": "{}"}})
    health = json.dumps(sample("health_organization_view_several_keys"))
    stubber.add_response("receive_message", {"Messages": [message("m1", health)]}, RECEIVE)
    stubber.add_response(
        "delete_message_batch",
        {"Successful": [{"Id": "0"}], "Failed": []},
        {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "0", "ReceiptHandle": "handle-m1"}]},
    )
    client.meta.events.register("before-parameter-build.sqs.DeleteMessageBatch", lambda **kwargs: log.append("delete"))

    async def run_until_the_next_receive():
        """Run the source until it has deleted m1 and waits in its next receive, then stop it."""
        task = asyncio.ensure_future(source.main(DrainingQueue(log), {"queue_url": QUEUE_URL}))
        while "delete" not in log:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    original = source.make_client
    source.make_client = lambda settings: client
    try:
        asyncio.run(run_until_the_next_receive())
    finally:
        source.make_client = original
    assert log[:4] == ["qsize 1", "qsize 2", "qsize 3", "delete"]
    assert "Stopping: 2 access keys were handed to the rules engine in the last 15 minutes" in caplog.text
    assert "AKIAI44QH8DHBEXAMPLE (account 444455556666), AKIAJ5XK3EXAMPLE2222 (account 444455556666)" in caplog.text
    assert logging.getLogger("botocore").level == logging.INFO  # never DEBUG: it would print session tokens


def test_keys_handed_over_long_ago_are_not_named_at_stop(caplog):
    handed_over = [(0.0, "AKIAOLD0000000000001", "123456789012"), (1000.0, "AKIANEW0000000000001", "123456789012")]
    source.report_handed_over(handed_over, now=1000.0 + source.HANDED_OVER_WINDOW)
    assert "AKIANEW0000000000001" in caplog.text
    assert "AKIAOLD0000000000001" not in caplog.text


def test_an_engine_that_takes_nothing_is_warned_about_once(monkeypatch, caplog):
    monkeypatch.setattr(source, "DRAIN_WARNING_SECONDS", 0)
    log = []
    queue = DrainingQueue(log)
    asyncio.run(source.drained(queue))
    assert log == ["qsize 1", "qsize 2", "qsize 3"]
    assert caplog.text.count("The rules engine has taken no event for 0 s") == 1


@pytest.mark.parametrize(
    ("finding_type", "actionable"),
    [
        ("UnauthorizedAccess:IAMUser/MaliciousIPCaller", True),
        ("UnauthorizedAccess:IAMUser/MaliciousIPCallerX", False),
        ("UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", False),
        ("UnauthorizedAccess:IAMUser/TorIPCaller", False),
        ("PenTest:IAMUser/KaliLinux", True),  # PenTest:IAMUser/ ends in /: the whole family
    ],
)
def test_a_finding_type_given_in_full_matches_only_itself_and_a_family_needs_a_slash(finding_type, actionable):
    settings = source.parse_args(
        {
            "queue_url": QUEUE_URL,
            "guardduty_finding_types": "UnauthorizedAccess:IAMUser/MaliciousIPCaller, PenTest:IAMUser/",
        }
    )
    event = sample("guardduty_malicious_ip_caller")
    event["detail"]["type"] = finding_type
    (only,) = keyguard_of(source.events_from_body(json.dumps(event), settings["guardduty_finding_types"]))
    assert only["actionable"] is actionable, only.get("not_actionable_reason")
    assert only["reason"] == finding_type


def test_an_unknown_profile_is_one_line_of_the_source_not_a_botocore_stack(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    config = tmp_path / "config"
    config.write_text("[profile known]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    settings = source.parse_args({"queue_url": QUEUE_URL, "profile": "nobody-has-this"})
    with pytest.raises(ValueError) as caught:
        source.make_client(settings)
    message = str(caught.value)
    assert message == (
        "keyguard.aws.exposed_key_events: profile 'nobody-has-this' is not in the AWS config or credentials files; "
        "check its name, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE."
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__ is True  # no botocore stack chained
    # And through main(), as ansible-rulebook starts the source: the same one line, before any SQS call.
    with pytest.raises(ValueError, match="profile 'nobody-has-this' is not in the AWS config"):
        asyncio.run(source.main(RecordingQueue(), {"queue_url": QUEUE_URL, "profile": "nobody-has-this"}))


PROXY_PASSWORD = "pr0xy-pa55"  # noqa: S105 - a test value


def test_a_password_in_endpoint_url_never_reaches_a_log_line_or_an_error(caplog, monkeypatch):
    # A real botocore connection failure names the endpoint, user:password@ included; the source's line must not.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = source.parse_args(
        {"queue_url": QUEUE_URL, "endpoint_url": f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:9/", "wait_seconds": 1}
    )
    client = source.make_client(settings)
    client.meta.config.retries["total_max_attempts"] = 1
    with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever botocore raises for a refused connection
        client.get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=["RedrivePolicy"])
    assert PROXY_PASSWORD in str(caught.value)  # botocore's own text does carry it
    line = source.describe(caught.value)
    assert PROXY_PASSWORD not in line
    assert "proxyuser" not in line
    assert "127.0.0.1:9" in line
    # A queue URL with user:password@ in the log lines and the start-up error.
    assert source.safe_text(f"https://u:{PROXY_PASSWORD}@sqs.example/1/q and http://a:b@c@d/") == (
        "https://sqs.example/1/q and http://d/"
    )
    with pytest.raises(ValueError) as bad:
        source.parse_args({"queue_url": QUEUE_URL, "endpoint_url": f"ftp://u:{PROXY_PASSWORD}@host/"})
    assert PROXY_PASSWORD not in str(bad.value)
    assert "endpoint_url must be an http:// or https:// URL, not 'ftp://host/'" in str(bad.value)
