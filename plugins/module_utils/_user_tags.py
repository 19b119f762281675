# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batched IAM user tag writes (one function per API call), IAM's tag rules, and the pure compare-and-set plan.

The read, ListUserTags, is _access_keys.list_user_tags, which the key policy shares.
"""

from __future__ import annotations

import unicodedata

from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError, call

MAX_TAGS_PER_USER = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
TAG_PUNCTUATION = "_.:/=+-@"
TAG_CHARSET_RULE = "letters, digits, spaces and _ . : / = + - @"


def tag_user_many(client, user_name, tags):
    """Add or overwrite these tags ({key: value}) on the user, in one TagUser call."""
    call(client, "TagUser", UserName=user_name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def untag_user_many(client, user_name, keys):
    """Remove these tag keys from the user, in one UntagUser call."""
    call(client, "UntagUser", UserName=user_name, TagKeys=list(keys))


def tag_text_problem(text, maximum, minimum):
    """Return why `text` cannot be an IAM tag key or value (None if it can)."""
    if not isinstance(text, str):
        return f"must be a string, not {type(text).__name__}"
    if not minimum <= len(text) <= maximum:
        return f"must be {minimum} to {maximum} characters long, not {len(text)}"
    # IAM's pattern is [\p{L}\p{Z}\p{N}_.:/=+\-@]*: Unicode letters, separators (spaces) and numbers.
    bad = [ch for ch in text if not (ch.isalnum() or unicodedata.category(ch) == "Zs" or ch in TAG_PUNCTUATION)]
    if bad:
        return f"may hold only {TAG_CHARSET_RULE}, not {bad[0]!r}"
    return None


def check_tag_key(key, where):
    """Raise KeyguardError naming `where` unless key is a tag key IAM accepts."""
    problem = tag_text_problem(key, MAX_KEY_LENGTH, 1)
    if problem is None and key.lower().startswith("aws:"):
        problem = "may not start with aws: (AWS keeps that prefix for itself)"
    if problem:
        raise KeyguardError(f"{where} {problem}.")


def check_tag_value(value, where):
    """Raise KeyguardError naming `where` unless value is a tag value IAM accepts, or None (absent)."""
    problem = None if value is None else tag_text_problem(value, MAX_VALUE_LENGTH, 0)
    if problem:
        raise KeyguardError(f"{where} {problem}, or null for no tag.")


def plan_user(current, items):
    """Return (outcomes, to_set, to_remove) for one user's items against its current tags: a pure compare-and-set.

    Each outcome is (previous value, value after, changed, conflict): conflict is True when the item had an
    expected_value and the tag's current value (None: absent) is another; that tag is left as it is.
    """
    outcomes, to_set, to_remove = [], {}, []
    for item in items:
        found = current.get(item["key"])
        if "expected_value" in item and item["expected_value"] != found:
            outcomes.append((found, found, False, True))
            continue
        wanted = item["value"]
        changed = wanted != found  # a present tag's value is a string, never None
        if changed and wanted is None:
            to_remove.append(item["key"])
        elif changed:
            to_set[item["key"]] = wanted
        outcomes.append((found, wanted, changed, False))
    return outcomes, to_set, to_remove


def tags_after(current, to_set, to_remove):
    """Return the user's tags once to_set is added and to_remove removed."""
    after = {k: v for k, v in current.items() if k not in to_remove}
    after.update(to_set)
    return after


def check_tag_limit(user_name, current, to_set, to_remove):
    """Raise KeyguardError when the plan would leave the user with more tags than IAM allows."""
    count = len(tags_after(current, to_set, to_remove))
    if count > MAX_TAGS_PER_USER:
        raise KeyguardError(
            f"IAM user {user_name!r} holds {len(current)} tags and would need {count}; IAM allows "
            f"{MAX_TAGS_PER_USER} per user, so none of its tags was changed. Remove tags it no longer needs.",
            "LimitExceeded",
        )
