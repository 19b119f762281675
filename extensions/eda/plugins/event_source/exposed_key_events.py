# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: exposed or misused access keys reported by AWS Health and GuardDuty, from SQS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading

import botocore.session
from botocore.config import Config

DOCUMENTATION = r"""
---
short_description: Exposed AWS access keys from AWS Health and GuardDuty, through an SQS queue.
description:
  - >-
    Long-polls an SQS queue that an EventBridge rule fills with AWS Health C(AWS_RISK_CREDENTIALS_EXPOSED) events
    (also C(AWS_RISK_CREDENTIALS_COMPROMISED) and C(AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED)) and GuardDuty
    findings whose resource carries C(accessKeyDetails).
  - >-
    Puts one event per affected access key, C({"keyguard": {...}, "raw": <the EventBridge event>}), where C(keyguard)
    has C(access_key_id), C(user_name) (when the event names it), C(account_id), C(source) (C(aws.health) or
    C(aws.guardduty)), C(reason) (the Health event type or the GuardDuty finding type), C(event_time), C(event_id),
    C(actionable), and C(not_actionable_reason) when C(actionable) is false.
  - >-
    C(actionable) is false for keys that C(UpdateAccessKey) cannot switch off, with the reason said, so a rulebook
    can leave them to a person, for temporary credentials (C(ASIA...)), GuardDuty findings whose C(userType) is not
    C(IAMUser), GuardDuty sample findings, and values that are not access key IDs.
  - >-
    Any other message that is JSON is put as C({"raw": <the message>}) without a C(keyguard) key. A message that
    SNS delivered (C(Type) C(Notification)) is unwrapped first.
  - >-
    Delivery is at least once. A message is deleted only after all its events are on ansible-rulebook's queue; a
    message that is not JSON is logged (its ID and size, never its body) and left on the queue for the queue's
    redrive policy to move to a dead-letter queue. Connection failures are retried with a growing delay (1 s to
    30 s) and never stop the source. Stopping the source does not wait for a long poll to end.
  - >-
    Credentials come from the AWS credential chain (environment, profile, instance or container role) unless
    O(access_key) and O(secret_key) or O(profile) are set. The source never logs them.
  - >-
    Optional arguments set to an empty string count as unset, so a rulebook can pass
    C("{{ region | default('') }}").
  - >-
    The credentials need C(sqs:ReceiveMessage), C(sqs:DeleteMessage) and C(sqs:GetQueueAttributes) on the queue.
options:
  queue_url:
    description: URL of the SQS queue, for example C(https://sqs.us-east-1.amazonaws.com/123456789012/keyguard-events).
    type: str
    required: true
  region:
    description:
      - Region of the queue. Defaults to the region in O(queue_url), then to the AWS configuration.
    type: str
  endpoint_url:
    description:
      - URL to reach SQS at instead of AWS's endpoint. C(AWS_ENDPOINT_URL_SQS) and C(AWS_ENDPOINT_URL) work too.
    type: str
  wait_seconds:
    description: How long one receive waits for a message (SQS long polling), 0 to 20 seconds.
    type: int
    default: 20
  max_messages:
    description: The most messages one receive returns, 1 to 10.
    type: int
    default: 10
  access_key:
    description: AWS access key ID. Requires O(secret_key).
    type: str
  secret_key:
    description: AWS secret access key. Requires O(access_key).
    type: str
  session_token:
    description: STS session token for temporary credentials. Requires O(access_key) and O(secret_key).
    type: str
  profile:
    description: Profile from the AWS config files. Cannot be combined with O(access_key).
    type: str
"""

EXAMPLES = r"""
- name: Contain exposed AWS access keys
  hosts: localhost
  sources:
    - keyguard.aws.exposed_key_events:
        queue_url: https://sqs.us-east-1.amazonaws.com/123456789012/keyguard-exposed-keys
  rules:
    - name: Deactivate an exposed access key
      condition: event.keyguard.actionable == true
      action:
        run_playbook:
          name: keyguard.aws.contain_exposed_key
          extra_vars:
            access_key_id: "{{ event.keyguard.access_key_id }}"
            account_id: "{{ event.keyguard.account_id }}"
"""

logger = logging.getLogger(__name__)

HEALTH_EVENT_TYPES = frozenset(
    {
        "AWS_RISK_CREDENTIALS_EXPOSED",
        "AWS_RISK_CREDENTIALS_COMPROMISED",
        "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
    }
)
LONG_TERM_KEY = re.compile(r"AKIA[A-Z0-9]{12,124}")
TEMPORARY_KEY = re.compile(r"ASIA[A-Z0-9]{12,124}")
REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
URL = re.compile(r"https?://[^\s/?#]+[^\s]*")
QUEUE_URL_REGION = re.compile(r"https://(?:sqs\.([a-z0-9-]+)\.|([a-z0-9-]+)\.queue\.)amazonaws\.com(?:\.cn)?/")
STRING_ARGS = ("queue_url", "region", "endpoint_url", "access_key", "secret_key", "session_token", "profile")
INT_ARGS = {"wait_seconds": (20, 0, 20), "max_messages": (10, 1, 10)}  # name: (default, lowest, highest)
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
# The queue or the credentials are wrong: retrying cannot help, so the source stops at start-up with the reason.
FATAL_AT_START = {
    "AWS.SimpleQueueService.NonExistentQueue": "there is no such queue; check queue_url and region",
    "QueueDoesNotExist": "there is no such queue; check queue_url and region",
    "AccessDenied": "grant sqs:GetQueueAttributes, sqs:ReceiveMessage and sqs:DeleteMessage on the queue",
    "AccessDeniedException": "grant sqs:GetQueueAttributes, sqs:ReceiveMessage and sqs:DeleteMessage on the queue",
    "InvalidClientTokenId": "AWS does not know these credentials",
    "UnrecognizedClientException": "AWS does not know these credentials",
    "SignatureDoesNotMatch": "the secret key does not match the access key",
    "InvalidAddress": "queue_url is not a valid SQS queue URL",
}


# --- arguments -----------------------------------------------------------------------------------


def parse_args(args):
    """Return the validated settings for the source's arguments; raise ValueError naming the first bad one."""
    known = set(STRING_ARGS) | set(INT_ARGS)
    unknown = sorted(k for k in args if k not in known and not str(k).startswith("eda_"))
    if unknown:
        raise ValueError(
            f"keyguard.aws.exposed_key_events: unknown argument {unknown[0]!r}; it accepts {', '.join(sorted(known))}."
        )
    settings = {}
    for name in STRING_ARGS:
        value = args.get(name)
        if value is None or value == "":
            settings[name] = None
        elif not isinstance(value, str) or value != value.strip() or not value.isprintable():
            raise ValueError(f"keyguard.aws.exposed_key_events: {name} must be a string without spaces around it.")
        else:
            settings[name] = value
    for name, (default, lowest, highest) in INT_ARGS.items():
        settings[name] = _bounded_int(name, args.get(name), default, lowest, highest)
    _check_combinations(settings)
    return settings


def _bounded_int(name, value, default, lowest, highest):
    """Return value as an int within [lowest, highest] (default when unset); raise ValueError otherwise."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise ValueError(
            f"keyguard.aws.exposed_key_events: {name} must be a whole number from {lowest} to {highest}, not {value!r}."
        )
    return value


def _check_combinations(settings):
    """Raise ValueError when the arguments cannot work together."""
    prefix = "keyguard.aws.exposed_key_events:"
    if settings["queue_url"] is None:
        raise ValueError(
            f"{prefix} queue_url is required: the URL of the SQS queue that EventBridge delivers to, for example "
            "https://sqs.us-east-1.amazonaws.com/123456789012/keyguard-exposed-keys."
        )
    for name in ("queue_url", "endpoint_url"):
        if settings[name] is not None and not URL.fullmatch(settings[name]):
            raise ValueError(f"{prefix} {name} must be an http:// or https:// URL, not {settings[name]!r}.")
    if settings["region"] is not None and not REGION.fullmatch(settings["region"]):
        raise ValueError(f"{prefix} region must be an AWS region name such as us-east-1, not {settings['region']!r}.")
    if bool(settings["access_key"]) != bool(settings["secret_key"]):
        raise ValueError(f"{prefix} access_key and secret_key go together; set both or neither.")
    if settings["session_token"] and not settings["access_key"]:
        raise ValueError(f"{prefix} session_token needs access_key and secret_key.")
    if settings["profile"] and settings["access_key"]:
        raise ValueError(f"{prefix} set profile or access_key and secret_key, not both.")


# --- messages -> events (pure) --------------------------------------------------------------------


def events_from_body(body):
    """Return the events for one SQS message body, or None when the body is not JSON."""
    try:
        document = json.loads(body)
    except (TypeError, ValueError):
        return None
    if _is_sns_notification(document):
        try:
            document = json.loads(document["Message"])
        except ValueError:
            return [{"raw": document}]
    return events_from_document(document)


def _is_sns_notification(document):
    """Return whether the document is an SNS notification wrapping the real message."""
    return (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
        and "TopicArn" in document
    )


def events_from_document(document):
    """Return one keyguard event per affected key in an EventBridge event, or [{"raw": document}] for anything else."""
    if isinstance(document, dict) and isinstance(document.get("detail"), dict):
        source = document.get("source")
        if source == "aws.health":
            events = _health_events(document)
        elif source == "aws.guardduty":
            events = _guardduty_events(document)
        else:
            events = []
        if events:
            return events
    return [{"raw": document}]


def _health_events(envelope):
    """Return one event per access key named by an AWS Health credentials-risk event."""
    detail = envelope["detail"]
    if detail.get("eventTypeCode") not in HEALTH_EVENT_TYPES:
        return []
    # With an organizational view the event arrives in the management account; affectedAccount is the key's.
    account_id = detail.get("affectedAccount") or envelope.get("account") or ""
    events, seen = [], set()
    for entity in detail.get("affectedEntities") or []:
        key_id = entity.get("entityValue") if isinstance(entity, dict) else None
        if not isinstance(key_id, str) or not key_id or key_id in seen:
            continue
        seen.add(key_id)
        keyguard = {
            "access_key_id": key_id,
            "account_id": str(entity.get("awsAccountId") or account_id),
            "source": "aws.health",
            "reason": detail["eventTypeCode"],
        }
        events.append(_event(envelope, keyguard, assess_key(key_id)))
    return events


def _guardduty_events(envelope):
    """Return the event for the access key of a GuardDuty finding, or [] when the finding names none."""
    detail = envelope["detail"]
    resource = detail.get("resource") if isinstance(detail.get("resource"), dict) else {}
    details = resource.get("accessKeyDetails")
    key_id = details.get("accessKeyId") if isinstance(details, dict) else None
    if not isinstance(key_id, str) or not key_id:
        return []
    keyguard = {
        "access_key_id": key_id,
        "account_id": str(detail.get("accountId") or envelope.get("account") or ""),
        "source": "aws.guardduty",
        "reason": detail.get("type") or "",
    }
    user_type = details.get("userType")
    if user_type == "IAMUser" and details.get("userName"):
        keyguard["user_name"] = details["userName"]
    service = detail.get("service") if isinstance(detail.get("service"), dict) else {}
    additional = service.get("additionalInfo") if isinstance(service.get("additionalInfo"), dict) else {}
    if additional.get("sample") in (True, "true"):
        verdict = (False, "a GuardDuty sample finding (CreateSampleFindings), not a real key")
    else:
        verdict = assess_key(key_id, user_type)
    return [_event(envelope, keyguard, verdict)]


def assess_key(key_id, user_type="IAMUser"):
    """Return (actionable, reason) for whether UpdateAccessKey can switch this key off."""
    if TEMPORARY_KEY.fullmatch(key_id):
        return False, (
            "temporary credentials (ASIA...) of a role or federated session cannot be deactivated with "
            "UpdateAccessKey; revoke the role's active sessions or find the long-term key they came from"
        )
    if user_type != "IAMUser":
        return False, (
            f"GuardDuty userType is {user_type!r}: only an IAM user's access key can be deactivated with "
            "UpdateAccessKey"
        )
    if not LONG_TERM_KEY.fullmatch(key_id):
        return False, "not an IAM user's access key ID (those start with AKIA)"
    return True, None


def _event(envelope, keyguard, verdict):
    """Return one event: the keyguard summary with its verdict and the EventBridge event it came from."""
    actionable, why_not = verdict
    keyguard.update(event_time=envelope.get("time") or "", event_id=envelope.get("id") or "", actionable=actionable)
    if not actionable:
        keyguard["not_actionable_reason"] = why_not
    return {"keyguard": keyguard, "raw": envelope}


# --- SQS ------------------------------------------------------------------------------------------


def make_client(settings):
    """Return a botocore SQS client for the settings, with timeouts that outlast one long poll."""
    session = botocore.session.Session(profile=settings["profile"])
    if settings["access_key"]:
        session.set_credentials(settings["access_key"], settings["secret_key"], settings["session_token"])
    match = QUEUE_URL_REGION.match(settings["queue_url"])
    region = (
        settings["region"] or (match and (match.group(1) or match.group(2))) or session.get_config_variable("region")
    )
    if not region:
        raise ValueError(
            "keyguard.aws.exposed_key_events: region is not set and the queue_url does not name one; "
            "set region or AWS_DEFAULT_REGION."
        )
    # botocore retries a failed call a few times quickly; the source's own backoff then rides out longer outages.
    config = Config(
        connect_timeout=5,
        read_timeout=settings["wait_seconds"] + 10,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    return session.create_client("sqs", region_name=region, endpoint_url=settings["endpoint_url"], config=config)


def in_daemon_thread(function, **kwargs):
    """Return a future for function(**kwargs) run in a daemon thread, so cancelling never waits for a long poll."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(setter, value):
        """Hand the outcome to the future unless whoever awaited it has gone."""
        if not future.done():
            setter(value)

    def run():
        """Call the function and pass its outcome back to the event loop."""
        try:
            outcome = (future.set_result, function(**kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine, which decides
            outcome = (future.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop has closed: the source was stopped during this call
            loop.call_soon_threadsafe(settle, *outcome)

    # A daemon thread: the default executor's threads are joined at exit, which would hold shutdown for a poll.
    threading.Thread(target=run, name="keyguard-sqs", daemon=True).start()
    return future


def describe(exc):
    """Return one line for a botocore error: its code and message, never the request's credentials."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def error_code(exc):
    """Return the AWS error code of a botocore error, or its class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        return response["Error"].get("Code", "")
    return type(exc).__name__


class Backoff:
    """The growing pause between attempts while SQS cannot be reached: 1, 2, 4 ... 30 seconds."""

    def __init__(self):
        self.failures = 0

    def next_delay(self):
        """Return how long to wait before the next attempt, and count this failure."""
        self.failures += 1
        return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures - 1))

    def reset(self):
        """Start over after a call that worked."""
        self.failures = 0


async def check_queue(client, settings, backoff):
    """Read the queue's attributes once, warn without a redrive policy; raise ValueError for a wrong queue or key."""
    while True:
        try:
            attributes = await in_daemon_thread(
                client.get_queue_attributes,
                QueueUrl=settings["queue_url"],
                AttributeNames=["RedrivePolicy", "VisibilityTimeout"],
            )
            break
        except Exception as exc:  # noqa: BLE001 - botocore's errors share no base class worth naming here
            code = error_code(exc)
            if code in FATAL_AT_START or code in ("NoCredentialsError", "ProfileNotFound", "NoRegionError"):
                fix = FATAL_AT_START.get(code, "configure AWS credentials and region for the source")
                raise ValueError(
                    f"keyguard.aws.exposed_key_events: cannot read queue {settings['queue_url']}: "
                    f"{describe(exc)}; {fix}."
                ) from None
            delay = backoff.next_delay()
            logger.warning("Cannot reach SQS yet (%s); trying again in %.0f s", describe(exc), delay)
            await asyncio.sleep(delay)
    backoff.reset()
    found = attributes.get("Attributes", {})
    if "RedrivePolicy" not in found:
        logger.warning(
            "Queue %s has no redrive policy: a message that is not JSON comes back forever; give it a dead-letter queue",
            settings["queue_url"],
        )
    return found


async def receive(client, settings):
    """Return the messages of one long poll."""
    response = await in_daemon_thread(
        client.receive_message,
        QueueUrl=settings["queue_url"],
        WaitTimeSeconds=settings["wait_seconds"],
        MaxNumberOfMessages=settings["max_messages"],
    )
    return response.get("Messages", [])


async def delete(client, settings, messages):
    """Delete handled messages in one batch; log any that SQS kept (they come back, and handling is idempotent)."""
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    try:
        result = await in_daemon_thread(client.delete_message_batch, QueueUrl=settings["queue_url"], Entries=entries)
    except Exception as exc:  # noqa: BLE001 - the messages come back after their visibility timeout
        logger.error(
            "Could not delete %d handled messages (%s); SQS will deliver them again", len(entries), describe(exc)
        )
        return
    for failure in result.get("Failed", []):
        message = messages[int(failure["Id"])]
        logger.error(
            "Could not delete handled message %s (%s); SQS will deliver it again", message.get("MessageId"), failure
        )


async def handle(queue, messages):
    """Put the events of each message on the queue; return the messages to delete (all but those not JSON)."""
    handled = []
    for message in messages:
        body = message.get("Body", "")
        events = events_from_body(body)
        if events is None:
            logger.warning(
                "SQS message %s is not JSON (%d characters); leaving it for the queue's redrive policy",
                message.get("MessageId"),
                len(body),
            )
            continue
        for event in events:
            await queue.put(event)
        keys = [e["keyguard"]["access_key_id"] for e in events if "keyguard" in e]
        logger.info("SQS message %s: %s", message.get("MessageId"), f"keys {', '.join(keys)}" if keys else "passed on")
        handled.append(message)
    return handled


async def main(queue, args):
    """Receive messages from SQS and put one event per exposed key on the queue, until cancelled."""
    settings = parse_args(args)
    client = make_client(settings)
    backoff = Backoff()
    await check_queue(client, settings, backoff)
    logger.info("Polling %s for exposed access keys", settings["queue_url"])
    while True:
        try:
            messages = await receive(client, settings)
        except Exception as exc:  # noqa: BLE001 - any failure to receive is retried; the source must keep running
            delay = backoff.next_delay()
            logger.error("Receiving from SQS failed (%s); trying again in %.0f s", describe(exc), delay)
            await asyncio.sleep(delay)
            continue
        backoff.reset()
        handled = await handle(queue, messages)
        if handled:
            await delete(client, settings, handled)


if __name__ == "__main__":
    # Run by hand: print the events from a queue, e.g. python exposed_key_events.py https://sqs.../queue

    import sys

    class PrintQueue:
        """Stands in for ansible-rulebook's queue."""

        async def put(self, event):
            """Print the event."""
            print(json.dumps(event))  # noqa: T201

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(PrintQueue(), {"queue_url": sys.argv[1]}))
