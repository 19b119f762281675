# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM access-key calls (one function per API call), and the pure helpers that shape and compare keys."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError, call

STATUSES = ("Active", "Inactive")
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9_+=,.@-]{1,128}")
USER_NAME_RULE = "1 to 128 characters of letters, digits and _+=,.@- (no spaces)"

# AWS refuses a listing without UserName from credentials that are not an IAM user's
# (ValidationError); moto answers NoSuchEntity for a signing key it does not know.
NOT_A_USER_CODES = ("ValidationError", "NoSuchEntity")


def list_access_keys(client, user_name=None):
    """Return the keys of user_name, or of the calling identity when user_name is None."""
    params = {"UserName": user_name} if user_name else {}
    # A user holds at most two keys, so one page (100 items by default) always holds them all.
    response = call(client, "ListAccessKeys", **params)
    return [normalise_key(metadata) for metadata in response.get("AccessKeyMetadata", [])]


def update_access_key(client, access_key_id, status, user_name=None):
    """Set the key's status; without user_name AWS picks the user from the signing key."""
    params = {"AccessKeyId": access_key_id, "Status": status}
    if user_name:
        params["UserName"] = user_name
    call(client, "UpdateAccessKey", **params)


def get_access_key_last_used(client, access_key_id):
    """Return GetAccessKeyLastUsed's answer: the key's owner (UserName) and AccessKeyLastUsed."""
    return call(client, "GetAccessKeyLastUsed", AccessKeyId=access_key_id)


def list_users(client, path_prefix=None):
    """Return the name of every IAM user in the account (or under path_prefix), one ListUsers call per page."""
    return list(list_users_created(client, path_prefix))


def list_users_created(client, path_prefix=None):
    """Return {user name: CreateDate} of every IAM user in the account (or under path_prefix), in IAM's order."""
    # 1000 is the largest page IAM serves: ten times fewer calls than its default of 100.
    params = {"MaxItems": 1000, **({"PathPrefix": path_prefix} if path_prefix else {})}
    users = {}
    while True:
        page = call(client, "ListUsers", **params)
        users.update((user["UserName"], user.get("CreateDate")) for user in page.get("Users", []))
        if not page.get("IsTruncated"):
            return users
        if not page.get("Marker"):
            # More users and no way to ask for them: stopping here would sweep part of the account in silence.
            raise KeyguardError(
                "iam:ListUsers answered that more users follow (IsTruncated) without a Marker to list them; check "
                "endpoint_url and any proxy in between.",
                "NotIAM",
            )
        params = dict(params, Marker=page["Marker"])


def get_account_authorization_details(client):
    """Return every IAM user's name, path, tags and groups: GetAccountAuthorizationDetails, 1000 users a page.

    Returns [{"user_name", "path", "arn", "tags": {key: value}, "groups": [names]}] in IAM's order.
    """
    params = {"Filter": ["User"], "MaxItems": 1000}
    users = []
    while True:
        page = call(client, "GetAccountAuthorizationDetails", **params)
        users += [
            {
                "user_name": user["UserName"],
                "path": user.get("Path", "/"),
                "arn": user.get("Arn"),
                "tags": {tag["Key"]: tag["Value"] for tag in user.get("Tags", [])},
                "groups": list(user.get("GroupList", [])),
            }
            for user in page.get("UserDetailList", [])
        ]
        if not page.get("IsTruncated"):
            return users
        params = dict(params, Marker=page["Marker"])


def list_user_tags(client, user_name):
    """Return the user's tags as {key: value}, every page of ListUserTags."""
    params = {"UserName": user_name}
    tags = {}
    while True:
        page = call(client, "ListUserTags", **params)
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
        if not page.get("IsTruncated"):
            return tags
        params = dict(params, Marker=page["Marker"])


def get_group_members(client, group_name):
    """Return the names of the IAM group's users, every page of GetGroup (1000 a page)."""
    params = {"GroupName": group_name, "MaxItems": 1000}
    members = []
    while True:
        page = call(client, "GetGroup", **params)
        members += [user["UserName"] for user in page.get("Users", [])]
        if not page.get("IsTruncated"):
            return members
        params = dict(params, Marker=page["Marker"])


def tag_user(client, user_name, key, value):
    """Set one tag on an IAM user (TagUser)."""
    call(client, "TagUser", UserName=user_name, Tags=[{"Key": key, "Value": value}])


def untag_user(client, user_name, key):
    """Remove one tag from an IAM user (UntagUser)."""
    call(client, "UntagUser", UserName=user_name, TagKeys=[key])


def get_caller_identity(sts):
    """Return (account ID, caller ARN) from an STS client's GetCallerIdentity."""
    response = call(sts, "GetCallerIdentity")
    return response["Account"], response["Arn"]


def generate_credential_report(client):
    """Ask IAM to build the credential report; return its state: STARTED, INPROGRESS or COMPLETE."""
    return call(client, "GenerateCredentialReport").get("State")


def get_credential_report(client):
    """Return (the report's CSV content, when IAM generated it)."""
    response = call(client, "GetCredentialReport")
    if "Content" not in response:
        # IAM always sends the CSV; without it something in between (a proxy, a wrong endpoint) cut the answer.
        fields = ", ".join(sorted(name for name in response if name != "ResponseMetadata")) or "none"
        raise KeyguardError(
            f"iam:GetCredentialReport answered without Content, the report's CSV (fields: {fields}); check "
            "endpoint_url and any proxy in between.",
            "ReportUnreadable",
        )
    return response["Content"], response.get("GeneratedTime")


# IAM serves a report up to 4 hours old at once; a new one takes seconds, longer in a large account.
REPORT_WAIT_SECONDS = 120
REPORT_FIRST_DELAY = 0.5
REPORT_MAX_DELAY = 8
REPORT_NOT_READY_CODES = ("ReportInProgress", "ReportNotPresent", "ReportExpired")


def read_credential_report(client, wait=REPORT_WAIT_SECONDS, sleep=time.sleep, clock=time.monotonic):
    """Return (content, generated time) of a current credential report, generating one and waiting if needed.

    Polls with doubling delays (0.5 s, then up to 8 s) while IAM says STARTED or INPROGRESS, for at most `wait`
    seconds; raises KeyguardError with code ReportTimeout after that.
    """
    deadline = clock() + wait
    delay = REPORT_FIRST_DELAY
    while True:
        if generate_credential_report(client) == "COMPLETE":
            try:
                return get_credential_report(client)
            except KeyguardError as err:
                # COMPLETE, then ReportInProgress or ReportNotPresent: IAM is eventually consistent here too.
                if err.code not in REPORT_NOT_READY_CODES:
                    raise
        if clock() + delay > deadline:
            raise KeyguardError(
                f"The IAM credential report was not ready after {wait} seconds; try again later, or use source: api.",
                "ReportTimeout",
            )
        sleep(delay)
        delay = min(delay * 2, REPORT_MAX_DELAY)


def normalise_key(metadata):
    """Return the fields we report for one key, from ListAccessKeys metadata."""
    created = metadata.get("CreateDate")
    for field in ("AccessKeyId", "Status"):
        if not metadata.get(field):
            # IAM always sends both; without them the endpoint is not IAM, or something in between cut the answer.
            raise KeyguardError(
                f"iam:ListAccessKeys answered a key without {field}; check endpoint_url and any proxy in between.",
                "NotIAM",
            )
    return {
        "access_key_id": metadata["AccessKeyId"],
        "user_name": metadata.get("UserName"),
        "status": metadata["Status"],
        "create_date": _iso(created),
    }


def _iso(moment):
    """Return a datetime as ISO 8601 in UTC, or None."""
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def key_age(key, now):
    """Return the key with age_days, and last-use fields left empty until they are looked up."""
    age = (now - datetime.fromisoformat(key["create_date"])).days if key["create_date"] else None
    empty = dict(last_used_date=None, last_used_service=None, last_used_region=None, days_since_last_use=None)
    return dict(key, age_days=age, **empty)


def with_last_use(key, response, now):
    """Return the key with its last use, from GetAccessKeyLastUsed's answer; never used counts from creation."""
    last_used = response.get("AccessKeyLastUsed", {})
    used = last_used.get("LastUsedDate")
    since = used or (datetime.fromisoformat(key["create_date"]) if key["create_date"] else None)
    return dict(
        key,
        last_used_date=_iso(used),
        # IAM answers N/A for a key that was never used
        last_used_service=None if last_used.get("ServiceName") in (None, "N/A") else last_used["ServiceName"],
        last_used_region=None if last_used.get("Region") in (None, "N/A") else last_used["Region"],
        days_since_last_use=(now - since).days if since else None,
    )


def select_keys(keys, now, status=None, older_than_days=None, unused_for_days=None):
    """Return the keys that pass every filter given: status, created or last active more than N days ago."""

    def before(moment, days):
        return days is None or (moment is not None and datetime.fromisoformat(moment) < now - timedelta(days=days))

    return [
        key
        for key in keys
        if (status is None or key["status"] == status)
        and before(key["create_date"], older_than_days)
        and before(key["last_used_date"] or key["create_date"], unused_for_days)
    ]


def find_key(keys, access_key_id):
    """Return the key with this id from a list of normalised keys, or None."""
    return next((key for key in keys if key["access_key_id"] == access_key_id), None)


def plan_status(key, status):
    """Return (changed, the key as it will be once its status is `status`)."""
    after = dict(key, status=status)
    return after != key, after


class KeyLocator:
    """Finds keys for one task, listing each user's keys, and the caller's own, at most once."""

    def __init__(self, client):
        self.client = client
        self._listings = {}  # user name (None: the calling identity) -> its keys, or the error listing them gave
        self._lock = threading.Lock()
        self._user_locks = {}  # one lock per user, so workers handling two keys of one user list them once

    def locate(self, access_key_id, user_name=None):
        """Return (key, update_user_name): the key as it is now, and the UserName its update must carry.

        update_user_name is None when the key belongs to the calling identity: UpdateAccessKey then
        picks the user from the signature, as the API defines, which also covers the root user's keys.
        """
        if user_name:
            key = find_key(self._keys_of(user_name), access_key_id)
            if key is None:
                raise KeyguardError(_not_users_key(self.client, access_key_id, user_name), "NoSuchEntity")
            return key, user_name
        key = find_key(self._keys_of(None), access_key_id)
        if key is not None:
            return key, None
        owner = _owner_of(self.client, access_key_id)
        key = find_key(self._keys_of(owner), access_key_id)
        if key is None:
            raise KeyguardError(
                f"Access key {access_key_id} is not among the keys of its owner {owner!r}; was it just deleted?",
                "NoSuchEntity",
            )
        return key, owner

    def _keys_of(self, user_name):
        """Return the keys of user_name (None: the calling identity) from this task's one listing of them."""
        with self._lock:
            user_lock = self._user_locks.setdefault(user_name, threading.Lock())
        with user_lock:
            if user_name not in self._listings:
                try:
                    self._listings[user_name] = (
                        _own_keys(self.client) if user_name is None else list_user_keys(self.client, user_name)
                    )
                except KeyguardError as err:
                    self._listings[user_name] = err
            listing = self._listings[user_name]
        if isinstance(listing, KeyguardError):
            raise listing
        return listing


def _own_keys(client):
    """Return the calling identity's keys; none when it is not an IAM user, or may not list its own keys."""
    try:
        return list_access_keys(client)
    except KeyguardError as err:
        # A policy narrowed to a path (user/service/*) denies the caller's own listing when the caller lives
        # elsewhere; the owner lookup can still find the key, so deny falls through like ValidationError.
        if err.code not in NOT_A_USER_CODES and not (err.code or "").startswith("AccessDenied"):
            raise
        return []


def list_user_keys(client, user_name):
    """Return the keys of an IAM user, saying plainly when the user does not exist."""
    try:
        return list_access_keys(client, user_name)
    except KeyguardError as err:
        if err.code == "NoSuchEntity":
            raise KeyguardError(f"IAM user {user_name!r} does not exist.", err.code) from None
        raise


def _owner_of(client, access_key_id):
    """Return the IAM user owning the key, or raise an error that suggests user_name."""
    try:
        owner = get_access_key_last_used(client, access_key_id).get("UserName")
    except KeyguardError as err:
        if err.code == "NoSuchEntity":
            raise KeyguardError(
                f"Access key {access_key_id} does not exist in this account (it is not among the caller's own "
                f"keys, and IAM knows no owner for it: {str(err).rstrip('.')}). Check the key ID.",
                err.code,
            ) from None
        raise KeyguardError(
            f"Access key {access_key_id} was not found among the caller's own keys, and its owner could not be "
            f"found: {str(err).rstrip('.')}. Set user_name to the IAM user that owns it.",
            err.code,
        ) from None
    if not owner:
        raise KeyguardError(
            f"IAM reported no owner for access key {access_key_id}. Set user_name to the IAM user that owns it."
        )
    return owner


def _not_users_key(client, access_key_id, user_name):
    """Return the message for a key missing from user_name's keys, naming the real owner when IAM tells."""
    try:
        owner = get_access_key_last_used(client, access_key_id).get("UserName")
    except KeyguardError as err:
        if err.code == "NoSuchEntity":
            return f"Access key {access_key_id} does not exist (IAM user {user_name!r} has no such key)."
        return f"Access key {access_key_id} is not one of IAM user {user_name!r}'s keys ({err})"
    if owner and owner != user_name:
        return (
            f"Access key {access_key_id} belongs to IAM user {owner!r}, not {user_name!r}. "
            f"Set user_name to {owner}, or leave it out."
        )
    return f"Access key {access_key_id} is not one of IAM user {user_name!r}'s keys."
