# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: exposed or misused access keys reported by AWS Health and GuardDuty, from SQS."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import re
import threading
import time

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ProfileNotFound

DOCUMENTATION = r"""
---
short_description: Exposed AWS access keys from AWS Health and GuardDuty, through an SQS queue.
description:
  - >-
    Long-polls an SQS queue that an EventBridge rule fills with AWS Health C(AWS_RISK_CREDENTIALS_EXPOSED) events
    (also C(AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED), C(AWS_RISK_CREDENTIALS_COMPROMISED) and
    C(AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED)) and GuardDuty findings whose resource carries C(accessKeyDetails).
  - >-
    Puts one event per affected access key, C({"keyguard": {...}, "raw": <the EventBridge event>}), where C(keyguard)
    has C(access_key_id), C(user_name) (when the event names it), C(account_id), C(source) (C(aws.health) or
    C(aws.guardduty)), C(reason) (the Health event type or the GuardDuty finding type), C(event_time), C(event_id),
    C(actionable), and C(not_actionable_reason) when C(actionable) is false.
  - >-
    Every C(keyguard) field is checked against the shape AWS gives it before it is put: an account ID has 12 digits,
    an access key ID only C(A-Z) and C(0-9) (16 to 128), a user name only IAM's characters, the reason, time and
    ID their AWS form. A field of any other shape is left empty (C(user_name) left out) and the event is not
    actionable, with the field named in C(not_actionable_reason). So no C(keyguard) field can carry a Jinja
    template, a quote or a space into the playbook's extra variables.
  - >-
    C(actionable) is false, with the reason said, so a rulebook can leave the key to a person, for temporary
    credentials (C(ASIA...)) that C(UpdateAccessKey) cannot switch off, GuardDuty findings whose C(userType) is not
    C(IAMUser), GuardDuty findings whose type is not in O(guardduty_finding_types), archived GuardDuty findings,
    GuardDuty sample findings, AWS Health events whose C(statusCode) is C(closed) (so a key a person turned back on
    after triage is not turned off again), and fields of the wrong shape.
  - >-
    Any other message that is JSON is put as C({"raw": <the message>}) without a C(keyguard) key. A message that
    SNS delivered (C(Type) C(Notification)) is unwrapped first.
  - >-
    The rules engine (Drools, reached through jpy) stops acting on B(all later events) when it is handed a document
    it cannot store, for example one with an empty key, and says nothing. So C(raw) is put only when the whole
    document is plain: every key starts with a letter or C(_) and has only letters, digits, C(_) and C(-); it is at
    most 32 levels deep; every number is a finite float or a 64-bit integer. Anything else is put as the
    message text in C(raw_json) (a string) instead of C(raw), for a rule or a person to read.
  - >-
    Delivery is at least once up to the rules engine. A message is deleted only after the rules engine has taken
    all its events off the source's queue. A message that cannot be read (not JSON, nested too deep, or anything
    unforeseen) is logged (its ID, size and the kind of error, never its body) and left on the queue for the
    queue's redrive policy to move to a dead-letter queue; no message stops the source. Connection failures are
    retried with a growing delay (1 s to 30 s) and never stop the source. Stopping the source does not wait for a
    long poll to end.
  - >-
    ansible-rulebook keeps the events the rules engine has taken, and the playbooks they start, in memory only: a
    key handed over but whose playbook had not finished when ansible-rulebook stopped is not contained, and its
    message is already deleted. The source logs C(SQS message <id>: keys <key IDs>) for each message it hands over,
    so such keys can be found afterwards. A SIGTERM or SIGINT ends ansible-rulebook at once (its Java rules engine
    exits the process); when ansible-rulebook cancels the source instead, the source also logs, as a warning, every
    key it handed over in the last 15 minutes.
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
    description:
      - How long one receive waits for a message (SQS long polling), 1 to 20 seconds.
      - 0 (short polling) is refused because an empty queue would then be asked again at once, hundreds of times a
        second.
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
  guardduty_finding_types:
    description:
      - The GuardDuty finding types whose access key is actionable. A type is matched exactly, so
        C(UnauthorizedAccess:IAMUser/MaliciousIPCaller) does not take in
        C(UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom); only an entry that ends with C(/) covers every
        finding of that family, for example C(UnauthorizedAccess:IAMUser/).
      - The default keeps to the types that say the key itself is in someone else's hands (used from a malicious
        or Tor address, from outside AWS after being taken from an instance, by penetration-testing tools, or to
        reach more credentials). Anomaly types such as C(Discovery:IAMUser/AnomalousBehavior) are not in it; add
        them if you want a key turned off on an anomaly alone.
      - A list, or a string of types separated by commas (so a rulebook variable can carry it).
    type: list
    elements: str
    default: ["UnauthorizedAccess:IAMUser/", "CredentialAccess:IAMUser/", "PenTest:IAMUser/"]
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
          # Only the checked keyguard fields reach the playbook (ansible_eda.event too), never the raw event.
          var_root: keyguard
          extra_vars:
            access_key_id: "{{ event.access_key_id }}"
            account_id: "{{ event.account_id }}"
"""

logger = logging.getLogger(__name__)

HEALTH_EVENT_TYPES = frozenset(
    {
        "AWS_RISK_CREDENTIALS_EXPOSED",
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
        "AWS_RISK_CREDENTIALS_COMPROMISED",
        "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
    }
)
GUARDDUTY_FINDING_TYPES = ("UnauthorizedAccess:IAMUser/", "CredentialAccess:IAMUser/", "PenTest:IAMUser/")
# The shapes AWS gives these fields. Nothing else may reach a keyguard field: the rulebook hands those fields to
# ansible-playbook as extra variables, which ansible-core trusts and would render if they held a template.
ACCOUNT_ID = re.compile(r"[0-9]{12}")
KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
LONG_TERM_KEY = re.compile(r"AKIA[A-Z0-9]{12,124}")
TEMPORARY_KEY = re.compile(r"ASIA[A-Z0-9]{12,124}")
USER_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")
FINDING_TYPE = re.compile(r"[A-Za-z0-9]+:[A-Za-z0-9]+/[A-Za-z0-9._!-]*")
EVENT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z")
EVENT_ID = re.compile(r"[A-Za-z0-9-]{1,128}")
# What the rules engine stores without trouble (see "engine_safe").
ENGINE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
ENGINE_MAX_DEPTH = 32
REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
URL = re.compile(r"https?://[^\s/?#]+[^\s]*")
URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")
QUEUE_URL_REGION = re.compile(r"https://(?:sqs\.([a-z0-9-]+)\.|([a-z0-9-]+)\.queue\.)amazonaws\.com(?:\.cn)?/")
STRING_ARGS = ("queue_url", "region", "endpoint_url", "access_key", "secret_key", "session_token", "profile")
INT_ARGS = {"wait_seconds": (20, 1, 20), "max_messages": (10, 1, 10)}  # name: (default, lowest, highest)
LIST_ARGS = ("guardduty_finding_types",)
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
DRAIN_WARNING_SECONDS = 60  # the rules engine has taken nothing for this long: say so, once
HANDED_OVER_WINDOW = 900  # seconds of handed-over keys that a stop names as possibly not contained
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
    known = set(STRING_ARGS) | set(INT_ARGS) | set(LIST_ARGS)
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
        elif not isinstance(value, str):
            what = "one queue URL" if name == "queue_url" else "one value"
            raise ValueError(
                f"keyguard.aws.exposed_key_events: {name} must be a string ({what}), not a {type(value).__name__}."
            )
        elif value != value.strip() or not value.isprintable():
            raise ValueError(f"keyguard.aws.exposed_key_events: {name} must be a string without spaces around it.")
        else:
            settings[name] = value
    for name, (default, lowest, highest) in INT_ARGS.items():
        settings[name] = _bounded_int(name, args.get(name), default, lowest, highest)
    settings["guardduty_finding_types"] = _finding_types(args.get("guardduty_finding_types"))
    _check_combinations(settings)
    return settings


def _finding_types(value):
    """Return the GuardDuty finding types as a tuple (the default when unset); raise ValueError for a bad one."""
    if value is None or value == "" or value == []:
        return GUARDDUTY_FINDING_TYPES
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) and FINDING_TYPE.fullmatch(v) for v in value):
        raise ValueError(
            "keyguard.aws.exposed_key_events: guardduty_finding_types must be a list of GuardDuty finding types or "
            "families such as UnauthorizedAccess:IAMUser/ or CredentialAccess:IAMUser/AnomalousBehavior."
        )
    return tuple(value)


def _bounded_int(name, value, default, lowest, highest):
    """Return value as an int within [lowest, highest] (default when unset); raise ValueError otherwise."""
    if value is None or value == "":
        return default
    # Digits as text (a templated value), and 5.0, which JSON Schema (the shipped schema) counts as an integer.
    if (isinstance(value, str) and value.strip().isdigit()) or (isinstance(value, float) and value.is_integer()):
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
            raise ValueError(f"{prefix} {name} must be an http:// or https:// URL, not {safe_text(settings[name])!r}.")
    if settings["region"] is not None and not REGION.fullmatch(settings["region"]):
        raise ValueError(f"{prefix} region must be an AWS region name such as us-east-1, not {settings['region']!r}.")
    if bool(settings["access_key"]) != bool(settings["secret_key"]):
        raise ValueError(f"{prefix} access_key and secret_key go together; set both or neither.")
    if settings["session_token"] and not settings["access_key"]:
        raise ValueError(f"{prefix} session_token needs access_key and secret_key.")
    if settings["profile"] and settings["access_key"]:
        raise ValueError(f"{prefix} set profile or access_key and secret_key, not both.")


# --- messages -> events (pure) --------------------------------------------------------------------


def events_from_body(body, finding_types=GUARDDUTY_FINDING_TYPES):
    """Return the events for one SQS message body, or None when the body is not JSON.

    A body nested too deep for Python raises RecursionError; the caller leaves such a message on the queue.
    """
    try:
        document = json.loads(body)
    except (TypeError, ValueError):
        return None
    text = body
    if _is_sns_notification(document):
        try:
            document, text = json.loads(document["Message"]), document["Message"]
        except ValueError:
            return [_passed_on(document, body)]
    return events_from_document(document, text, finding_types)


def _is_sns_notification(document):
    """Return whether the document is an SNS notification wrapping the real message."""
    return (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
        and "TopicArn" in document
    )


def events_from_document(document, text=None, finding_types=GUARDDUTY_FINDING_TYPES):
    """Return one keyguard event per affected key in an EventBridge event, or the document passed on for anything else.

    text is the document's JSON, handed on as raw_json when the document is not safe for the rules engine.
    """
    if text is None:
        text = json.dumps(document)
    if isinstance(document, dict) and isinstance(document.get("detail"), dict):
        source = document.get("source")
        if source == "aws.health":
            keyguards = _health_keys(document)
        elif source == "aws.guardduty":
            keyguards = _guardduty_keys(document, finding_types)
        else:
            keyguards = []
        if keyguards:
            raw = _passed_on(document, text)
            return [{"keyguard": keyguard, **raw} for keyguard in keyguards]
    return [_passed_on(document, text)]


def _passed_on(document, text):
    """Return {"raw": document} when the rules engine can store it, else {"raw_json": text}."""
    return {"raw": document} if engine_safe(document) else {"raw_json": text}


def engine_safe(value, depth=0):
    """Return whether the rules engine can store this JSON value without jamming.

    Seen with ansible-rulebook 1.3: an empty key makes Drools (behind jpy) silently stop acting on every later
    event; a dotted key and nesting 800 deep each lost the next event; NaN is refused by its JSON parser. Numbers
    beyond 64 bits and keys that are not identifiers are kept out too, as a margin. Only plain documents pass.
    """
    if depth > ENGINE_MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and ENGINE_KEY.fullmatch(k) and engine_safe(v, depth + 1) for k, v in value.items()
        )
    if isinstance(value, list):
        return all(engine_safe(v, depth + 1) for v in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _text(value, shape):
    """Return value when it is a string of this shape, else None."""
    return value if isinstance(value, str) and shape.fullmatch(value) else None


def _health_keys(envelope):
    """Return the keyguard part for each access key named by an AWS Health credentials-risk event."""
    detail = envelope["detail"]
    code = detail.get("eventTypeCode")
    if not isinstance(code, str) or code not in HEALTH_EVENT_TYPES:
        return []
    entities = detail.get("affectedEntities")
    if not isinstance(entities, list):
        return []
    # With an organizational view the event arrives in the management account; affectedAccount is the key's.
    event_account = detail.get("affectedAccount") or envelope.get("account")
    closed = detail.get("statusCode") == "closed"
    keyguards, seen = [], set()
    for entity in entities:
        key_id = entity.get("entityValue") if isinstance(entity, dict) else None
        if not isinstance(key_id, str) or not key_id or key_id in seen:
            continue
        seen.add(key_id)
        problems = []
        if closed:
            problems.append(
                "the AWS Health event is closed (statusCode closed): a key turned back on after triage is left alone"
            )
        keyguard = {"source": "aws.health", "reason": code}
        _check_key(keyguard, key_id, problems)
        _check_account(keyguard, entity.get("awsAccountId") or event_account, problems)
        keyguards.append(_finish(envelope, keyguard, problems))
    return keyguards


def _guardduty_keys(envelope, finding_types):
    """Return the keyguard part for the access key of a GuardDuty finding, or [] when the finding names none."""
    detail = envelope["detail"]
    resource = detail.get("resource") if isinstance(detail.get("resource"), dict) else {}
    details = resource.get("accessKeyDetails")
    key_id = details.get("accessKeyId") if isinstance(details, dict) else None
    if not isinstance(key_id, str) or not key_id:
        return []
    problems = []
    finding_type = _text(detail.get("type"), FINDING_TYPE)
    keyguard = {"source": "aws.guardduty", "reason": finding_type or ""}
    if finding_type is None:
        problems.append("the finding type is not of GuardDuty's form (Family:Resource/Name)")
    elif not finding_type_matches(finding_type, finding_types):
        problems.append(
            f"GuardDuty finding type {finding_type} is not one that says the key is compromised "
            f"(guardduty_finding_types: {', '.join(finding_types)})"
        )
    _check_key(keyguard, key_id, problems)
    _check_account(keyguard, detail.get("accountId") or envelope.get("account"), problems)
    user_type = details.get("userType")
    if user_type == "IAMUser" and details.get("userName"):
        user_name = _text(details["userName"], USER_NAME)
        if user_name is None:
            problems.append("the user name is not an IAM user name (A-Z a-z 0-9 _+=,.@- up to 64)")
        else:
            keyguard["user_name"] = user_name
    service = detail.get("service") if isinstance(detail.get("service"), dict) else {}
    additional = service.get("additionalInfo") if isinstance(service.get("additionalInfo"), dict) else {}
    if additional.get("sample") in (True, "true"):
        problems.insert(0, "a GuardDuty sample finding (CreateSampleFindings), not a real key")
    if service.get("archived") in (True, "true"):
        problems.append("the GuardDuty finding is archived")
    if user_type != "IAMUser" and keyguard["access_key_id"] and not TEMPORARY_KEY.fullmatch(key_id):
        problems.append(
            f"GuardDuty userType is {user_type!r}: only an IAM user's access key can be deactivated with "
            "UpdateAccessKey"
        )
    return [_finish(envelope, keyguard, problems)]


def finding_type_matches(finding_type, finding_types):
    """Return whether a finding type is one of finding_types: exactly, or in a family given as a type ending in /."""
    # A prefix match on a full type would let UnauthorizedAccess:IAMUser/MaliciousIPCaller also take in a future
    # ...MaliciousIPCallerX (or the existing .Custom variant) that the user never chose.
    return any(
        finding_type == wanted or (wanted.endswith("/") and finding_type.startswith(wanted)) for wanted in finding_types
    )


def _check_key(keyguard, key_id, problems):
    """Set keyguard's access_key_id when key_id has AWS's shape; add why it cannot be deactivated to problems."""
    if not KEY_ID.fullmatch(key_id):
        keyguard["access_key_id"] = ""
        problems.append("the access key ID is not of AWS's shape (A-Z and 0-9, 16 to 128 characters)")
        return
    keyguard["access_key_id"] = key_id
    if TEMPORARY_KEY.fullmatch(key_id):
        problems.append(
            "temporary credentials (ASIA...) of a role or federated session cannot be deactivated with "
            "UpdateAccessKey; revoke the role's active sessions or find the long-term key they came from"
        )
    elif not LONG_TERM_KEY.fullmatch(key_id):
        problems.append("not an IAM user's access key ID (those start with AKIA)")


def _check_account(keyguard, account_id, problems):
    """Set keyguard's account_id when it has 12 digits; else leave it empty and say so in problems."""
    keyguard["account_id"] = _text(account_id, ACCOUNT_ID) or ""
    if not keyguard["account_id"]:
        problems.append("the account ID is not 12 digits")


def _finish(envelope, keyguard, problems):
    """Return the keyguard part with the event's time and ID (when of AWS's shape) and the verdict."""
    keyguard["event_time"] = _text(envelope.get("time"), EVENT_TIME) or ""
    keyguard["event_id"] = _text(envelope.get("id"), EVENT_ID) or ""
    if not keyguard["event_time"]:
        problems.append("the event time is not an ISO 8601 UTC time")
    if not keyguard["event_id"]:
        problems.append("the event ID is not of EventBridge's shape")
    keyguard["actionable"] = not problems
    if problems:
        keyguard["not_actionable_reason"] = "; ".join(problems)
    return keyguard


# --- SQS ------------------------------------------------------------------------------------------


def make_client(settings):
    """Return a botocore SQS client for the settings, with timeouts that outlast one long poll; raise ValueError."""
    try:
        return _make_client(settings)
    except ProfileNotFound:
        raise ValueError(
            f"keyguard.aws.exposed_key_events: profile {settings['profile']!r} is not in the AWS config or "
            "credentials files; check its name, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE."
        ) from None
    except BotoCoreError as exc:  # a bad setting in the environment or the profile: one line, never a stack
        raise ValueError(f"keyguard.aws.exposed_key_events: cannot set up the SQS client: {describe(exc)}") from None


def _make_client(settings):
    """Return the SQS client for the settings; botocore's own exceptions pass through."""
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
        return safe_text(f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}".rstrip(": "))
    # botocore names the endpoint in its connection errors, with any user:password@ that endpoint_url holds.
    return safe_text(f"{type(exc).__name__}: {exc}")


def safe_text(text):
    """Return text with the user:password@ part of every URL in it left out."""
    return URL_USERINFO.sub(r"\1", str(text))


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
                    f"keyguard.aws.exposed_key_events: cannot read queue {safe_text(settings['queue_url'])}: "
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
            safe_text(settings["queue_url"]),
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


def read_message(message, finding_types=GUARDDUTY_FINDING_TYPES):
    """Return the events of one SQS message, or None (after logging why, never the body) when it cannot be read."""
    body = message.get("Body")
    size = len(body) if isinstance(body, str) else 0
    try:
        events = events_from_body(body, finding_types)
    except Exception as exc:  # noqa: BLE001 - RecursionError or anything unforeseen: no message may stop the source
        logger.error(
            "SQS message %s could not be read (%s, %d characters); leaving it for the queue's redrive policy",
            message.get("MessageId"),
            type(exc).__name__,
            size,
        )
        return None
    if events is None:
        logger.warning(
            "SQS message %s is not JSON (%d characters); leaving it for the queue's redrive policy",
            message.get("MessageId"),
            size,
        )
    return events


async def handle(queue, messages, finding_types=GUARDDUTY_FINDING_TYPES, handed_over=None):
    """Put the events of each message on the queue; return the messages to delete (all that could be read).

    handed_over, a deque, gets (time, key ID, account ID) for each actionable key put on the queue.
    """
    handled = []
    for message in messages:
        events = read_message(message, finding_types)
        if events is None:
            continue
        for event in events:
            await queue.put(event)
        keys = [e["keyguard"] for e in events if "keyguard" in e]
        if handed_over is not None:
            handed_over.extend((time.monotonic(), k["access_key_id"], k["account_id"]) for k in keys if k["actionable"])
        names = ", ".join(k["access_key_id"] or "(malformed)" for k in keys)
        logger.info("SQS message %s: %s", message.get("MessageId"), f"keys {names}" if keys else "passed on")
        handled.append(message)
    return handled


async def drained(queue):
    """Return once the rules engine has taken every event off the source's queue."""
    # ansible-rulebook hands sources a FilteredQueue around an asyncio.Queue (of size 1); a plain queue works too.
    inner = getattr(queue, "queue", queue)
    qsize = getattr(inner, "qsize", None)
    started, warned = time.monotonic(), False
    while callable(qsize) and qsize() > 0:
        if not warned and time.monotonic() - started > DRAIN_WARNING_SECONDS:
            # The messages stay undeleted meanwhile, so SQS delivers them again and the redrive policy applies.
            logger.warning(
                "The rules engine has taken no event for %d s; the messages are not deleted until it does",
                DRAIN_WARNING_SECONDS,
            )
            warned = True
        await asyncio.sleep(0.05)


def report_handed_over(handed_over, now=None):
    """Log, as a warning, the keys handed over in the last 15 minutes: their playbook may not have run."""
    now = time.monotonic() if now is None else now
    recent = [(key, account) for at, key, account in handed_over if now - at <= HANDED_OVER_WINDOW]
    if not recent:
        return
    logger.warning(
        "Stopping: %d access keys were handed to the rules engine in the last %d minutes, and any whose playbook "
        "had not finished is NOT contained (its SQS message is already deleted); check that each is Inactive: %s",
        len(recent),
        HANDED_OVER_WINDOW // 60,
        ", ".join(f"{key} (account {account or 'unknown'})" for key, account in recent),
    )


async def main(queue, args):
    """Receive messages from SQS and put one event per exposed key on the queue, until cancelled."""
    settings = parse_args(args)
    # At -vv ansible-rulebook logs everything at DEBUG; botocore's DEBUG lines carry request headers, session
    # tokens among them. Nothing the source needs is below INFO.
    logging.getLogger("botocore").setLevel(logging.INFO)
    client = make_client(settings)
    backoff = Backoff()
    await check_queue(client, settings, backoff)
    logger.info("Polling %s for exposed access keys", safe_text(settings["queue_url"]))
    handed_over = collections.deque(maxlen=1000)
    try:
        while True:
            try:
                messages = await receive(client, settings)
            except Exception as exc:  # noqa: BLE001 - any failure to receive is retried; the source must keep running
                delay = backoff.next_delay()
                logger.error("Receiving from SQS failed (%s); trying again in %.0f s", describe(exc), delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            handled = await handle(queue, messages, settings["guardduty_finding_types"], handed_over)
            if handled:
                await drained(queue)
                await delete(client, settings, handled)
    finally:
        report_handed_over(handed_over)


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
