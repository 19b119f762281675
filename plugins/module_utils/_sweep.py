# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The account read path shared by iam_access_key_info and iam_access_key_policy: report or API, churn, last use."""

from __future__ import annotations

from datetime import timedelta, timezone

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    get_access_key_last_used,
    key_age,
    list_access_keys,
    list_users,
    read_credential_report,
    select_keys,
    with_last_use,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError
from ansible_collections.keyguard.aws.plugins.module_utils._credential_report import (
    ROOT_USER,
    gone_since_report,
    in_path,
    match_slots,
    parse_report,
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
        """Return the report's slots, or None when the API path is to be used (by choice or as a fallback)."""
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
        if (self.params["path_prefix"] or "/") == "/":
            self.root_access_keys = [root_key(slot) for slot in slots if slot.user_name == ROOT_USER]
        return [slot for slot in slots if in_path(slot, self.params["path_prefix"])]

    def list_keys(self, users):
        """Return the keys of these users, each listed once; users deleted meanwhile are skipped."""
        listed = self.each(lambda user_name: list_access_keys(self.client, user_name), users)
        return [key for keys in listed if keys for key in keys]

    def last_use(self, keys, now, slots=None):
        """Return the keys with their last use: from the report's slot where it is known for sure, else from IAM."""
        known = {}
        if slots is not None:
            keys_by_user, slots_by_user = {}, {}
            for key in keys:
                keys_by_user.setdefault(key["user_name"], []).append(key)
            for slot in slots:
                slots_by_user.setdefault(slot.user_name, []).append(slot)
            for user_name, mine in keys_by_user.items():
                known.update(match_slots(mine, slots_by_user.get(user_name, [])))
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


def read_keys(sweep, params, now):
    """Return the keys in scope, and the report's slots when the report chose them: None on the API path."""
    if params["all_users"]:
        slots = sweep.read_report()
        if slots is None:
            return sweep.list_keys(list_users(sweep.client, params["path_prefix"])), None
        # Candidates pass the age and last-use filters in the report whatever its status says: a key may have been
        # (re)activated or deactivated since, so the fresh listing's status decides. Keys the report cannot show
        # (created since) are younger than the report; only when such a key could pass the filters is every user
        # listed (ListUsers, then each user's keys).
        loose = select_keys(
            [slot_as_key(slot) for slot in slots],
            now,
            older_than_days=params["older_than_days"],
            unused_for_days=params["unused_for_days"],
        )
        users = {key["user_name"] for key in loose}
        if new_keys_may_pass(params, sweep.generated, now):
            users.update(list_users(sweep.client, params["path_prefix"]))
        keys = sweep.list_keys(sorted(users))
        users_gone = {entry["user_name"] for entry in sweep.skipped_keys}
        for slot in gone_since_report(select_keys(loose, now, status=params["status"]), keys, users_gone):
            sweep.skipped_keys.append(
                dict(
                    user_name=slot["user_name"],
                    access_key_id=None,
                    reason=f"the key created {slot['create_date']} (slot {slot['slot']} of the credential report) "
                    "was deleted after the report was generated",
                )
            )
        return keys, slots
    if params["user_name"]:
        return list_access_keys(sweep.client, params["user_name"]), None
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
