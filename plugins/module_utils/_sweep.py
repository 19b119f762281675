# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The account read path shared by iam_access_key_info and iam_access_key_policy: report or API, churn, last use."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    get_access_key_last_used,
    key_age,
    list_access_keys,
    list_user_keys,
    list_users,
    list_users_created,
    read_credential_report,
    select_keys,
    with_last_use,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError
from ansible_collections.keyguard.aws.plugins.module_utils._credential_report import (
    ROOT_USER,
    gone_since_report,
    has_root_row,
    in_path,
    match_slots,
    parse_report,
    report_users,
    root_key,
    slot_as_key,
    with_report_use,
)
from ansible_collections.keyguard.aws.plugins.module_utils._pool import Stop, run_ordered

# IAM's own rule for PathPrefix: "/", or printable ASCII between two slashes, at most 512 characters.
PATH_PREFIX_RULE = "a path that starts and ends with / (for example /service/), printable ASCII, at most 512 characters"
# The report could not be had, but the API can still answer: auto falls back, with a warning.
REPORT_UNAVAILABLE_CODES = (
    "LimitExceeded",
    "ReportTimeout",
    "ReportInProgress",
    "ReportNotPresent",
    "ReportExpired",
    "ReportUnreadable",
)
# IAM started in 2010, so 100 years selects as much as any larger count; much larger ones overflow datetime.
MAX_DAYS = 36500


def valid_path(prefix):
    """Return whether prefix is a path IAM accepts as PathPrefix."""
    printable = all("\u0021" <= ch <= "\u007f" for ch in prefix)
    return printable and len(prefix) <= 512 and prefix.startswith("/") and prefix.endswith("/")


class Sweep:
    """What one run found besides the keys: the report it used, and what vanished while it ran."""

    def __init__(self, client, params):
        self.client = client
        self.params = params
        self.stop = Stop()  # one endpoint-level failure ends every later batch of calls
        self.skipped_keys = []  # users and keys deleted (or moved out of scope) while the sweep ran
        self.warnings = []
        self.source = "api"
        self.report_generated = None
        self.generated = None  # no key the report misses is older than this datetime
        self.root_access_keys = None
        self.report_users = {}  # {user name: creation time} of every IAM user the credential report has

    def each(self, work, items):
        """Return work(item) for each item, in order, on the task's workers; None for what vanished meanwhile."""
        values = []
        for item, outcome in zip(items, run_ordered(work, items, self.params["concurrency"], self.stop)):
            error = outcome.error or outcome.not_attempted
            if error is None:
                values.append(outcome.value)
            elif error.code == "NoSuchEntity":
                self.skipped_keys.append(vanished(item, error))
                values.append(None)
            else:
                raise error
        return values

    def read_report(self):
        """Return the report's slots of IAM users (all paths), or None when the API path is to be used."""
        if not self.params["all_users"] or self.params["source"] == "api":
            return None
        try:
            content, generated = read_credential_report(self.client)
            slots = parse_report(content)
        except KeyguardError as err:
            if self.params["source"] == "credential_report" or not report_unavailable(err):
                raise
            self.warnings.append(f"Listed the keys through the IAM API instead of the credential report: {err}")
            return None
        self.source = "credential_report"
        # The report holds nothing newer than its making, so its latest date bounds that too (moto's GeneratedTime
        # is a fixed 2015 date); the later of the two bounds how young a key missing from it must be.
        latest = [moment for slot in slots for moment in (slot.created, slot.last_used_date) if moment]
        self.generated = max([moment for moment in (generated, *latest) if moment], default=None)
        self.report_generated = generated.astimezone(timezone.utc).isoformat() if generated else None
        # Without the root user's row (AWS always writes one; moto does not) no one can tell whether it has keys: an
        # empty list would tell a CIS check that it has none.
        if (self.params["path_prefix"] or "/") == "/" and has_root_row(content):
            self.root_access_keys = [root_key(slot) for slot in slots if slot.user_name == ROOT_USER]
        self.report_users = report_users(content)
        return [slot for slot in slots if slot.user_name != ROOT_USER]

    def list_keys(self, users):
        """Return the keys of these users, each listed once; users deleted meanwhile are skipped."""
        listed = self.each(lambda user_name: list_access_keys(self.client, user_name), users)
        # Each key is the listed user's: AWS answers with that name, but moto keeps a renamed user's old one.
        return [dict(key, user_name=user_name) for user_name, keys in zip(users, listed) if keys for key in keys]

    def last_use(self, keys, now, slots=None):
        """Return the keys with their last use, from IAM for every unused_for_days candidate.

        The report's slot gives a key's last use only where the key is known for sure and the report already shows
        a use within unused_for_days (or no such filter is set); every other key is asked with GetAccessKeyLastUsed.
        """
        known = {}
        if slots is not None:
            keys_by_user, slots_by_user = {}, {}
            for key in keys:
                keys_by_user.setdefault(key["user_name"], []).append(key)
            for slot in slots:
                slots_by_user.setdefault(slot.user_name, []).append(slot)
            for user_name, mine in keys_by_user.items():
                known.update(match_slots(mine, slots_by_user.get(user_name, [])))
        unused_for_days = self.params["unused_for_days"]
        if unused_for_days is not None:
            # The report says which keys to look at, never the last word on when a key was last used: IAM serves
            # it up to 4 hours old, and a key used since would be called unused on stale evidence. Each key the
            # report would select is asked again; a key it saw used recently needs no call, since last use only
            # moves forward.
            by_id = {key["access_key_id"]: key for key in keys}
            known = {
                key_id: slot
                for key_id, slot in known.items()
                if not select_keys([with_report_use(by_id[key_id], slot, now)], now, unused_for_days=unused_for_days)
            }
        ask = [key for key in keys if key["access_key_id"] not in known]
        answers = dict(zip((key["access_key_id"] for key in ask), self.each(self._last_used, ask)))
        found = []
        for key in keys:
            if key["access_key_id"] in known:
                found.append(with_report_use(key, known[key["access_key_id"]], now))
            elif answers[key["access_key_id"]] is not None:
                found.append(with_last_use(key, answers[key["access_key_id"]], now))
        return found

    def _last_used(self, key):
        """Return GetAccessKeyLastUsed's answer for one key."""
        return get_access_key_last_used(self.client, key["access_key_id"])


def vanished(item, error):
    """Return the skipped entry for a user (a name) or a key (a dict) that IAM no longer knows."""
    if isinstance(item, dict):
        return dict(
            user_name=item["user_name"],
            access_key_id=item["access_key_id"],
            reason=f"the key was deleted while the sweep ran ({error})",
        )
    return dict(user_name=item, access_key_id=None, reason=f"the user was deleted while the sweep ran ({error})")


def report_unavailable(err):
    """Return whether a credential report failure leaves the API path open (source auto then falls back)."""
    return err.code is not None and (err.code.startswith("AccessDenied") or err.code in REPORT_UNAVAILABLE_CODES)


def new_keys_may_pass(params, generated, now):
    """Return whether a key created after the report could pass the age and last-use filters.

    Such a key is at most now - generated old, and unused for no longer than it exists; a filter on more whole days
    than that can never select it.
    """
    if generated is None:
        return True
    # An hour's margin: IAM does not say how long before GeneratedTime it began reading the users.
    window = now - generated + timedelta(hours=1)
    return all(
        days is None or timedelta(days=days) <= window
        for days in (params["older_than_days"], params["unused_for_days"])
    )


def report_keys(sweep, params, slots, now):
    """Return the keys in scope on the report path: the report picks the candidates, fresh reads decide the rest.

    The scope is the current ListUsers (under path_prefix), never the path or name the report saw: a user moved in
    since is swept, one moved out is not, and a user the report does not know by its name now (created or renamed
    since) is listed whatever the filters. Candidates pass the age and last-use filters in the report whatever its
    status says (a key may have been reactivated since; the fresh listing's status decides). When a key created
    since the report could pass the filters, every user in scope is listed.
    """
    prefix = params["path_prefix"]
    current = list_users_created(sweep.client, prefix)
    in_scope = set(current)
    reported = set(sweep.report_users)
    # Users the report placed in the path who are no longer in scope by that name: moved out, renamed or deleted.
    left = {slot.user_name for slot in slots if slot.user_name not in in_scope and in_path(slot, prefix)}
    loose = select_keys(
        [slot_as_key(slot) for slot in slots if slot.user_name in in_scope or slot.user_name in left],
        now,
        older_than_days=params["older_than_days"],
        unused_for_days=params["unused_for_days"],
    )
    users = {key["user_name"] for key in loose} | (in_scope - reported)
    if new_keys_may_pass(params, sweep.generated, now):
        users |= in_scope
    listed = sweep.list_keys(sorted(users))
    keys = [key for key in listed if key["user_name"] in in_scope]
    candidates = select_keys(loose, now, status=params["status"])
    account_for_leavers(sweep, loose, left, keys, prefix, {name: current[name] for name in in_scope - reported})
    users_gone = {entry["user_name"] for entry in sweep.skipped_keys} | left
    for slot in gone_since_report(candidates, keys, users_gone):
        sweep.skipped_keys.append(
            dict(
                user_name=slot["user_name"],
                access_key_id=None,
                reason=f"the key created {slot['create_date']} (slot {slot['slot']} of the credential report) "
                "was deleted after the report was generated",
            )
        )
    return keys


def account_for_leavers(sweep, loose, left, keys, prefix, unreported):
    """Say in skipped_keys why each listed user no longer in scope by its report name was not swept.

    A user still listed by that name was moved out of path_prefix. One IAM no longer knows by that name was renamed
    when exactly one user the report does not know was created in the same second and holds a key created in the
    same second as one of its slots (IAM keeps both dates through a rename); otherwise it was deleted.
    """
    # Each leaver was listed: by now it has a NoSuchEntity entry in skipped_keys, or it still exists by that name.
    vanished_users = {entry["user_name"] for entry in sweep.skipped_keys}
    still_there = {user_name for user_name in left if user_name not in vanished_users}
    key_seconds = {}
    for key in keys:
        if key["user_name"] in unreported and key["create_date"]:
            key_seconds.setdefault(key["user_name"], set()).add(_second(key["create_date"]))
    gone = sorted({slot["user_name"] for slot in loose} & left - still_there)
    homes = {}
    for user_name in gone:
        created = sweep.report_users.get(user_name)
        slots = {_second(slot["create_date"]) for slot in loose if slot["user_name"] == user_name}
        homes[user_name] = [
            name
            for name, since in sorted(unreported.items())
            if created and since and _second(since) == _second(created) and slots & key_seconds.get(name, set())
        ]
    claimed = [name for names in homes.values() for name in names]
    for user_name in sorted({slot["user_name"] for slot in loose} & left):
        if user_name in still_there:
            sweep.skipped_keys.append(
                dict(
                    user_name=user_name,
                    access_key_id=None,
                    reason=f"the user was moved out of path_prefix {prefix} after the credential report was "
                    "generated; it is out of scope now, so its keys were not swept",
                )
            )
            continue
        entries = [entry for entry in sweep.skipped_keys if entry["user_name"] == user_name]
        if not entries:
            continue
        found = homes.get(user_name, [])
        if len(found) == 1 and claimed.count(found[0]) == 1:
            entries[0]["reason"] = (
                f"the user was renamed or moved after the credential report was generated: its key is now user "
                f"{found[0]!r}'s, and is swept under that name"
            )
        elif found:
            entries[0]["reason"] = (
                "the user was renamed or deleted after the credential report was generated; which cannot be told "
                f"(users {', '.join(map(repr, found))} were created in the same second, with keys of the same second)"
            )
        else:
            elsewhere = f", or renamed and moved out of {prefix}" if (prefix or "/") != "/" else ""
            entries[0]["reason"] = f"the user was deleted after the credential report was generated{elsewhere}"


def _second(moment):
    """Return a moment (datetime or ISO 8601) as a UTC datetime without its fraction of a second."""
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def read_keys(sweep, params, now):
    """Return the keys in scope, and the report's slots when the report chose them: None on the API path."""
    if params["all_users"]:
        slots = sweep.read_report()
        if slots is None:
            return sweep.list_keys(list_users(sweep.client, params["path_prefix"])), None
        return report_keys(sweep, params, slots, now), slots
    if params["user_name"]:
        return list_user_keys(sweep.client, params["user_name"]), None
    try:
        return list_access_keys(sweep.client), None
    except KeyguardError as err:
        if err.code in ("ValidationError", "NoSuchEntity"):
            raise KeyguardError(
                "These credentials are not an IAM user's, so they have no keys of their own to list. "
                "Set user_name, or all_users: true.",
                err.code,
            ) from None
        raise


def find_keys(sweep, params, now):
    """Read the keys in scope, add last use where needed, and return the selected ones, sorted."""
    keys, slots = read_keys(sweep, params, now)
    keys = [key_age(key, now) for key in keys]
    keys = select_keys(keys, now, status=params["status"], older_than_days=params["older_than_days"])
    if params["include_last_used"] or params["unused_for_days"] is not None:
        keys = sweep.last_use(keys, now, slots)
        keys = select_keys(keys, now, unused_for_days=params["unused_for_days"])
    return sorted(keys, key=lambda key: (key["user_name"] or "", key["create_date"] or "", key["access_key_id"]))
