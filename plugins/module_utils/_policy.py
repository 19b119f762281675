# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key policy's plan: (key, its owner's tags and groups, now, the policy) -> action, reason, deadline.

Pure: no I/O, no module. The grace mark is a tag on the owning user, `keyguard:deactivate-after:<AccessKeyId>` =
`YYYY-MM-DD` (UTC): on or after that date a key that still qualifies is deactivated.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import NamedTuple

MARK_PREFIX = "keyguard:deactivate-after:"
DEFAULT_EXEMPT_TAG = "keyguard:exempt"
MAX_USER_TAGS = 50  # IAM's limit per user
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_GRACE_DAYS = 3650
TAG_KEY_RULE = (
    "1 to 128 letters, digits, spaces and _ . : / = + - @, not starting with aws: (for example keyguard:exempt)"
)
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
ACTIONS = ("deactivated", "warned", "pending", "exempt", "cleared", "none", "failed")


class Policy(NamedTuple):
    """The options that decide what happens to a key."""

    older_than_days: int = None
    unused_for_days: int = None
    grace_days: int = 0
    exempt_tag: str = DEFAULT_EXEMPT_TAG
    exempt_users: tuple = ()
    exempt_groups: tuple = ()
    exempt_access_keys: tuple = ()


class User(NamedTuple):
    """What the plan knows of a key's owner: its tags (as IAM spells their keys) and its groups."""

    name: str
    tags: dict
    groups: tuple = ()


class Plan(NamedTuple):
    """What happens to one key: the action, a sentence saying why, its deadline, and the writes it needs."""

    action: str
    reason: str
    deadline: str = None  # YYYY-MM-DD
    status: str = None  # the key's status after the run; None for a key that no longer exists
    mark_before: str = None  # the mark's value before the run (None: absent)
    mark_after: str = None  # the mark's value after the run (None: absent)

    @property
    def deactivates(self):
        """Return whether the plan turns the key off."""
        return self.action == "deactivated"

    @property
    def marks(self):
        """Return whether the plan writes the key's mark (sets or removes the tag)."""
        return self.mark_before != self.mark_after


def valid_tag_key(key):
    """Return whether IAM accepts key as a tag key (and it is not one of AWS's reserved aws: keys)."""
    return (
        isinstance(key, str)
        and 1 <= len(key) <= MAX_TAG_KEY
        and all(ch.isalnum() or ch in " _.:/=+-@" for ch in key)
        and not key.lower().startswith("aws:")
    )


def mark_key(access_key_id):
    """Return the tag key that marks this access key for deactivation."""
    return MARK_PREFIX + access_key_id


def format_date(day):
    """Return a date as the tags spell it: YYYY-MM-DD."""
    return day.isoformat()


def parse_date(value):
    """Return the date a tag value spells as YYYY-MM-DD, or None for anything else."""
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:  # 2026-02-30
        return None


def find_tag(tags, key):
    """Return (the key as the user's tags spell it, its value), or (None, None); IAM user tag keys ignore case."""
    wanted = key.lower()
    for name, value in tags.items():
        if name.lower() == wanted:
            return name, value
    return None, None


def marks_of(tags):
    """Return {access key ID, upper case: (tag key as spelled, value)} for every deactivation mark of a user's tags.

    IAM's key IDs are upper case; a mark typed by hand in the console may not be, and still names that key.
    """
    found = {}
    for name, value in tags.items():
        if name.lower().startswith(MARK_PREFIX):
            found[name[len(MARK_PREFIX) :].upper()] = (name, value)
    return found


def exemption(key, user, today, policy):
    """Return (why the key is exempt, or None; a note on a lapsed exemption, or None; why the tag is unreadable)."""
    # IAM's key IDs are upper case; an ID listed in lower case can only mean that key, and must not let it go off.
    if key["access_key_id"].upper() in {key_id.upper() for key_id in policy.exempt_access_keys}:
        return "its ID is listed in exempt_access_keys", None, None
    if user.name.lower() in {name.lower() for name in policy.exempt_users}:
        return f"its user {user.name} is listed in exempt_users", None, None
    groups = sorted(group for group in user.groups if group.lower() in {name.lower() for name in policy.exempt_groups})
    if groups:
        return f"its user {user.name} is a member of the exempt group {groups[0]}", None, None
    name, value = find_tag(user.tags, policy.exempt_tag)
    if name is None:
        return None, None, None
    if value.strip().lower() == "true":
        return f"its user {user.name} is tagged {name}={value}", None, None
    until = parse_date(value)
    if until is None:
        # Someone meant to exempt this user; acting on a typo could switch off a break-glass key.
        return (
            None,
            None,
            f"user {user.name}'s tag {name}={value!r} is neither true nor a date YYYY-MM-DD, so it is not clear "
            "whether the key is exempt; set the tag to true, to a date, or remove it",
        )
    if today <= until:
        return f"its user {user.name} is tagged {name}={value}, an exemption that holds until {until}", None, None
    return None, f"the exemption {name}={value} of user {user.name} lapsed after {until}", None


def qualifies(key, now, policy):
    """Return whether the key is Active and created and last used more than the policy's days ago."""

    def before(moment, days):
        return days is None or (moment is not None and datetime.fromisoformat(moment) < now - timedelta(days=days))

    return (
        key.get("status") == "Active"
        and before(key.get("create_date"), policy.older_than_days)
        and before(key.get("last_used_date") or key.get("create_date"), policy.unused_for_days)
    )


def why_stale(key, policy):
    """Return the sentence saying which of the policy's thresholds the key passes."""
    parts = []
    if policy.unused_for_days is not None:
        used = key.get("days_since_last_use")
        how = "never used" if key.get("last_used_date") is None else "unused"
        parts.append(f"{how} for {used} days (more than {policy.unused_for_days})")
    if policy.older_than_days is not None:
        parts.append(f"created {key.get('age_days')} days ago (more than {policy.older_than_days})")
    return "The key is Active, " + " and ".join(parts)


def why_not_stale(key, policy):
    """Return the sentence saying why a key does not qualify."""
    if key.get("status") != "Active":
        return f"The key is {key.get('status')}, and only Active keys are candidates."
    age = key.get("age_days")
    if policy.older_than_days is not None and age is not None and age <= policy.older_than_days:
        return f"The key was created {age} days ago, not more than {policy.older_than_days}."
    used = key.get("days_since_last_use")
    if key.get("last_used_date") is None:
        return f"The key was created {age} days ago and never used, not more than {policy.unused_for_days} days."
    return f"The key was last used {used} days ago, not more than {policy.unused_for_days}."


def plan_key(key, user, now, policy, mark=None):
    """Return the Plan for one key that exists; `mark` is its mark's current value (None: not marked).

    key: status, create_date and last_used_date as read now (the last two ISO 8601), plus age_days and
    days_since_last_use for the sentences. now: an aware datetime in UTC.
    """
    today = now.date()
    status = key.get("status")
    marked_until = parse_date(mark) if mark is not None else None
    if not qualifies(key, now, policy):
        if mark is None:
            return Plan("none", why_not_stale(key, policy), status=status)
        why = why_not_stale(key, policy).rstrip(".")
        return Plan("cleared", f"{why}; its deactivation mark ({mark}) was removed.", status=status, mark_before=mark)
    stale = why_stale(key, policy)
    exempt, note, unclear = exemption(key, user, today, policy)
    if unclear:
        return failed(Plan("none", f"{stale}.", status=status, mark_before=mark), key, unclear)
    if exempt:
        if mark is not None:
            return Plan(
                "cleared",
                f"{stale}, but exempt: {exempt}. Its deactivation mark ({mark}) was removed.",
                status=status,
                mark_before=mark,
            )
        return Plan("exempt", f"{stale}, but exempt: {exempt}. Nothing was written.", status=status)
    note = f" ({note})" if note else ""
    if policy.grace_days == 0:
        return Plan(
            "deactivated", f"{stale}{note}; deactivated (grace_days is 0).", status="Inactive", mark_before=mark
        )
    if marked_until is not None:
        if today >= marked_until:
            return Plan(
                "deactivated",
                f"{stale}{note}, and its deadline {marked_until} has come; deactivated.",
                deadline=format_date(marked_until),
                status="Inactive",
                mark_before=mark,
            )
        return Plan(
            "pending",
            f"{stale}{note}; marked on an earlier run, it will be deactivated on or after {marked_until}.",
            deadline=format_date(marked_until),
            status=status,
            mark_before=mark,
            mark_after=mark,
        )
    deadline = format_date(today + timedelta(days=policy.grace_days))
    again = f"; its mark held {mark!r}, not a date, so it was marked again" if mark is not None else ""
    return Plan(
        "warned",
        f"{stale}{note}{again}; it will be deactivated on or after {deadline} unless it is used by then.",
        deadline=deadline,
        status=status,
        mark_before=mark,
        mark_after=deadline,
    )


def plan_gone(access_key_id, mark):
    """Return the Plan for a mark whose key no longer exists: remove the mark."""
    return Plan(
        "cleared",
        f"The key {access_key_id} no longer exists; its deactivation mark ({mark}) was removed.",
        mark_before=mark,
    )


def plan_user(user, keys, now, policy, protected=frozenset()):
    """Return [(key, Plan)] for every key of one user, and for each mark of a deleted key (then key's status is None).

    keys: every key the user has now (fresh). A new mark that would take the user past IAM's 50 tags fails
    that key with the reason instead; a key in `protected` signs the task's own requests and is never deactivated.
    """
    marks = marks_of(user.tags)
    plans = []
    for key in keys:
        _name, mark = marks.get(key["access_key_id"].upper(), (None, None))
        plan = plan_key(key, user, now, policy, mark)
        if len(mark_key(key["access_key_id"])) > MAX_TAG_KEY and plan.mark_after is not None:
            plan = failed(plan, key, "its ID is too long to name in a tag key (128 characters at most)")
        if plan.deactivates and key["access_key_id"] in protected:
            plan = failed(
                plan,
                key,
                "it signs this task's own requests, so deactivating it would stop the task; run the policy with "
                "other credentials, or exempt it",
            )
        plans.append((key, plan))
    listed = {key["access_key_id"].upper() for key in keys}
    for access_key_id, (_name, mark) in sorted(marks.items()):
        if access_key_id not in listed:
            gone = dict(access_key_id=access_key_id, user_name=user.name, status=None, create_date=None)
            plans.append((gone, plan_gone(access_key_id, mark)))
    return fit_tags(user, plans)


def failed(plan, key, why):
    """Return a Plan that fails the key with this reason and writes nothing."""
    return Plan(
        "failed",
        f"Not done: {why}. The policy says: {plan.reason}",
        deadline=plan.deadline,
        status=key.get("status"),
        mark_before=plan.mark_before,
        mark_after=plan.mark_before,
    )


def fit_tags(user, plans):
    """Return the plans with each new mark that would not fit in the user's 50 tags failed instead."""
    free = MAX_USER_TAGS - len(user.tags) + sum(1 for _key, plan in plans if plan.mark_before and not plan.mark_after)
    fitted = []
    for key, plan in plans:
        if plan.mark_before is None and plan.mark_after is not None:
            if free <= 0:
                plan = failed(
                    plan,
                    key,
                    f"user {user.name} already holds {len(user.tags)} tags, and IAM allows {MAX_USER_TAGS}, so the "
                    "deactivation mark cannot be set; remove a tag from the user, or exempt the key",
                )
            else:
                free -= 1
        fitted.append((key, plan))
    return fitted
