# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IAM credential report: parse its CSV into access-key slots and map slots to key IDs. Pure, no I/O."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import NamedTuple

from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError

ROOT_USER = "<root_account>"
# Values AWS writes where a column has no date or name: never used, used before IAM tracked it (April 2015), or
# (moto) a column it does not fill.
NO_VALUE = frozenset({"", "N/A", "no_information", "not_supported"})


class Slot(NamedTuple):
    """One access-key slot of one row of the report: access_key_1 or access_key_2 of a user."""

    user_name: str
    arn: str
    number: int  # 1 or 2
    active: bool
    created: datetime  # access_key_N_last_rotated: a key cannot be rotated in place, so this is its CreateDate
    last_used_date: datetime  # None: never used, or no information
    last_used_region: str
    last_used_service: str


def parse_report(content):
    """Return every filled access-key slot of the report (bytes or text) as Slots; KeyguardError if unreadable."""
    try:
        return _parse(content)
    except (ValueError, KeyError, TypeError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise KeyguardError(
            f"The IAM credential report is unreadable ({type(exc).__name__}: {str(exc)[:200]}).", "ReportUnreadable"
        ) from None


def _parse(content):
    """Return every filled access-key slot of the report, root user's included; raise on a malformed report."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    slots = []
    for row in csv.DictReader(io.StringIO(text)):
        if not row.get("user"):
            raise KeyError("a row without a user name")
        for number in (1, 2):
            prefix = f"access_key_{number}_"
            created = _moment(row.get(prefix + "last_rotated"))
            active = row.get(prefix + "active") == "true"
            if created is None and not active:
                continue  # an empty slot: AWS writes false and N/A
            slots.append(
                Slot(
                    user_name=row["user"],
                    arn=row.get("arn", ""),
                    number=number,
                    active=active,
                    created=created,
                    last_used_date=_moment(row.get(prefix + "last_used_date")),
                    last_used_region=_name(row.get(prefix + "last_used_region")),
                    last_used_service=_name(row.get(prefix + "last_used_service")),
                )
            )
    return slots


def report_users(content):
    """Return {user name: creation time} of every IAM user the report has a row for, the root user left out."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    return {
        row["user"]: _moment(row.get("user_creation_time"))
        for row in csv.DictReader(io.StringIO(text))
        if row.get("user") not in (None, ROOT_USER)
    }


def has_root_row(content):
    """Return whether the report has the account root user's row, as every report AWS makes does."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    return any(row.get("user") == ROOT_USER for row in csv.DictReader(io.StringIO(text)))


def _moment(value):
    """Return an ISO 8601 report value as an aware datetime, or None for N/A and the like."""
    if value is None or value.strip() in NO_VALUE:
        return None
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _name(value):
    """Return a region or service name, or None for N/A and the like."""
    return None if value is None or value.strip() in NO_VALUE else value.strip()


def in_path(slot, path_prefix):
    """Return whether the slot's user lies under path_prefix (None or "/": everyone but the root user)."""
    if slot.user_name == ROOT_USER:
        return False
    if not path_prefix or path_prefix == "/":
        return True
    # arn:aws:iam::123456789012:user/service/alice -> /service/alice
    resource = slot.arn.split(":", 5)[-1]
    return resource.startswith("user/") and resource[len("user") :].startswith(path_prefix)


def slot_as_key(slot):
    """Return the fields select_keys filters on, as the report has them (status, creation, last use)."""
    return {
        "user_name": slot.user_name,
        "slot": slot.number,
        "status": "Active" if slot.active else "Inactive",
        "create_date": _iso(slot.created),
        "last_used_date": _iso(slot.last_used_date),
    }


def root_key(slot):
    """Return what the task reports about one of the root user's keys; IAM does not tell their IDs."""
    return {
        "slot": slot.number,
        "status": "Active" if slot.active else "Inactive",
        "create_date": _iso(slot.created),
        "last_used_date": _iso(slot.last_used_date),
        "last_used_service": slot.last_used_service,
        "last_used_region": slot.last_used_region,
    }


def _iso(moment):
    """Return a datetime as ISO 8601 in UTC, or None."""
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def match_slots(keys, slots):
    """Return {access_key_id: Slot} for the keys of one user whose slot is known for sure.

    The report names no key IDs, so a key is matched to the slot created in the same second (the report's
    precision). A key created after the report has no slot, and two keys created in the same second cannot be
    told apart: both are left unmatched, and the caller asks IAM about them instead of guessing.
    """
    by_second = {}
    for slot in slots:
        if slot.created is not None:
            by_second.setdefault(_second(slot.created), []).append(slot)
    matched = {}
    for key in keys:
        if not key.get("create_date"):
            continue
        second = _second(datetime.fromisoformat(key["create_date"]))
        candidates = by_second.get(second, [])
        twins = [
            other
            for other in keys
            if other.get("create_date") and _second(datetime.fromisoformat(other["create_date"])) == second
        ]
        if len(candidates) == 1 and len(twins) == 1:
            matched[key["access_key_id"]] = candidates[0]
    return matched


def gone_since_report(candidates, keys, users_gone):
    """Return the report's candidate slots (as slot_as_key gives them) that no listed key matches any more.

    Such a key was deleted after the report was generated. Users in users_gone are left out: they are accounted
    for as a whole.
    """
    listed = {
        (key["user_name"], _second(datetime.fromisoformat(key["create_date"]))) for key in keys if key["create_date"]
    }
    return [
        slot
        for slot in candidates
        if slot["user_name"] not in users_gone
        and slot["create_date"]
        and (slot["user_name"], _second(datetime.fromisoformat(slot["create_date"]))) not in listed
    ]


def _second(moment):
    """Return the moment in UTC without its fraction of a second."""
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def with_report_use(key, slot, now):
    """Return the key with its last use as the report has it; never used counts from creation."""
    since = slot.last_used_date or (datetime.fromisoformat(key["create_date"]) if key["create_date"] else None)
    return dict(
        key,
        last_used_date=_iso(slot.last_used_date),
        last_used_service=slot.last_used_service,
        last_used_region=slot.last_used_region,
        days_since_last_use=(now - since).days if since else None,
    )
