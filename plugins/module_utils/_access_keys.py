# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM access-key calls (one function per API call), and the pure helpers that shape and compare keys."""

from __future__ import annotations

import re
from datetime import timezone

from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError, call

STATUSES = ("Active", "Inactive")
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9_+=,.@-]{1,128}")

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


def get_access_key_owner(client, access_key_id):
    """Return the name of the IAM user who owns the key, as GetAccessKeyLastUsed reports it."""
    return call(client, "GetAccessKeyLastUsed", AccessKeyId=access_key_id).get("UserName")


def normalise_key(metadata):
    """Return the fields we report for one key, from ListAccessKeys metadata."""
    created = metadata.get("CreateDate")
    return {
        "access_key_id": metadata["AccessKeyId"],
        "user_name": metadata.get("UserName"),
        "status": metadata["Status"],
        "create_date": created.astimezone(timezone.utc).isoformat() if created else None,
    }


def find_key(keys, access_key_id):
    """Return the key with this id from a list of normalised keys, or None."""
    return next((key for key in keys if key["access_key_id"] == access_key_id), None)


def plan_status(key, status):
    """Return (changed, the key as it will be once its status is `status`)."""
    after = dict(key, status=status)
    return after != key, after


def locate_key(client, access_key_id, user_name=None):
    """Return (key, update_user_name): the key as it is now, and the UserName its update must carry.

    update_user_name is None when the key belongs to the calling identity: UpdateAccessKey then
    picks the user from the signature, as the API defines, which also covers the root user's keys.
    """
    if user_name:
        key = find_key(_list_user_keys(client, user_name), access_key_id)
        if key is None:
            raise KeyguardError(_not_users_key(client, access_key_id, user_name), "NoSuchEntity")
        return key, user_name
    try:
        key = find_key(list_access_keys(client), access_key_id)
    except KeyguardError as err:
        if err.code not in NOT_A_USER_CODES:
            raise
        key = None
    if key is not None:
        return key, None
    owner = _owner_of(client, access_key_id)
    key = find_key(_list_user_keys(client, owner), access_key_id)
    if key is None:
        raise KeyguardError(
            f"Access key {access_key_id} is not among the keys of its owner {owner!r}; was it just deleted?",
            "NoSuchEntity",
        )
    return key, owner


def _list_user_keys(client, user_name):
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
        owner = get_access_key_owner(client, access_key_id)
    except KeyguardError as err:
        raise KeyguardError(
            f"Access key {access_key_id} is not one of the caller's own keys, and its owner could not be "
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
        owner = get_access_key_owner(client, access_key_id)
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
