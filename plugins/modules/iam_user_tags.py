#!/usr/bin/python
# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_user_tags
short_description: Set or remove tags on IAM users, with compare-and-set
version_added: 0.2.0
description:
  - Sets or removes many tags on many IAM users in one task, each tag only where it still has the value the task
    expects (compare-and-set), so that a tag someone changed since is left alone and reported, never overwritten.
  - Made for putting back what a M(keyguard.aws.iam_access_key_policy) run wrote (see C(playbooks/undo_sweep.yml)),
    and usable for any tag a playbook owns.
  - Reads each user's tags with one C(ListUserTags); a user whose tags change costs at most one C(UntagUser) and
    one C(TagUser). Nothing is read back after the writes.
  - Every item is validated against IAM's tag rules before any call.
  - A user that fails (it does not exist, a call is denied, it would exceed IAM's 50 tags) does not stop the
    others; the task then fails, listing which users failed and why. After a failure of the endpoint or the
    credentials, no further user is started, and its items are reported with RV(tags[].attempted=false).
author:
  - Keyguard maintainers (@keyguard-aws)
requirements:
  - python >= 3.11
  - botocore >= 1.35.0
options:
  tags:
    description:
      - The tags to set or remove. Each item is a dict with C(user_name) (the IAM user), C(key) (the tag key) and
        C(value), the value the tag must have, or V(null) for no tag (the tag is removed).
      - "An item may also have C(expected_value), the value the tag must have now for the task to change it, or
        V(null) for a tag that must be absent now. A tag found otherwise is left as it is and reported with
        RV(tags[].conflict=true); a conflict is not a failure. Without C(expected_value) the tag is set whatever
        its value."
      - "C(user_name) is 1 to 128 characters of letters, digits and V(_+=,.@-). A key is 1 to 128 characters and a
        value 0 to 256, of Unicode letters, digits, spaces and V(_ . : / = + - @), and a key may not start with
        V(aws:). IAM user names are case-insensitive, so V(bob) and V(Bob) are one user."
      - One tag of one user listed twice is handled once if both items agree, and refused if they differ.
        An empty list changes nothing.
    type: list
    elements: dict
    required: true
  account_id:
    description:
      - The AWS account the task is meant for, 12 digits. When set, the task first asks C(sts:GetCallerIdentity) and
        fails, before any IAM call, unless its credentials (after O(assume_role_arn)) are in that account.
      - C(playbooks/undo_sweep.yml) sets it, so that a journal is never put back in another account.
    type: str
  concurrency:
    description:
      - How many users may be handled at once, from 1 to 32.
    type: int
    default: 8
extends_documentation_fragment:
  - keyguard.aws.connection
  - keyguard.aws.connection.modules
attributes:
  check_mode:
    support: full
    description: Makes the same reads, never writes, and reports the predicted values and conflicts.
  diff_mode:
    support: full
    description: Returns each user's tags before and after the task (predicted in check mode).
  idempotent:
    support: full
    description:
      - A tag that already has its value is reported unchanged. With C(expected_value), a second run finds the
        tag no longer as expected and reports a conflict, changing nothing.
notes:
  - "Permissions: C(iam:ListUserTags), and C(iam:TagUser) and C(iam:UntagUser) for the changes;
    C(sts:GetCallerIdentity) with O(account_id)."
  - IAM allows 50 tags per user; a change that would need more fails for that user only, before any write to it.
"""

EXAMPLES = r"""
- name: Put back a deadline tag, only where it still has the value a sweep wrote
  keyguard.aws.iam_user_tags:
    tags:
      - user_name: deploy-bot
        key: "keyguard:deactivate-after:AKIAIOSFODNN7EXAMPLE"
        value: null
        expected_value: "2026-12-31"
  register: undone

- name: Name the tags changed since, which were left alone
  ansible.builtin.debug:
    msg: "{{ item.user_name }} {{ item.key }} is {{ item.value | default('absent', true) }}: left alone"
  loop: "{{ undone.tags | selectattr('conflict', 'defined') }}"

- name: Exempt a break-glass user until the end of the year
  keyguard.aws.iam_user_tags:
    tags:
      - user_name: break-glass
        key: "keyguard:exempt"
        value: "2026-12-31"
"""

RETURN = r"""
tags:
  description:
    - One item for each tag of O(tags), in the order given, as it is after the task (in check mode, as it would
      be). Returned when the task fails too.
  returned: always
  type: list
  elements: dict
  contains:
    user_name:
      description: The IAM user.
      type: str
      sample: deploy-bot
    key:
      description: The tag key.
      type: str
      sample: "keyguard:deactivate-after:AKIAIOSFODNN7EXAMPLE"
    value:
      description: The tag's value after the task, V(null) when the user has no such tag. Missing for a tag that failed.
      type: str
      sample: "2026-12-31"
    previous_value:
      description: The tag's value before the task, V(null) when it was absent. Missing for a tag that failed.
      type: str
      sample: null
    changed:
      description: Whether the task changed (in check mode, would change) this tag.
      type: bool
      sample: true
    conflict:
      description:
        - Present and V(true) for a tag left alone because its value, read by this task, was not the item's
          C(expected_value). RV(tags[].value) is the value found.
        - When every item of a user has C(expected_value) and the user no longer exists (deleted, or renamed), its
          tags are conflicts too, with RV(tags[].value) V(null) and the RV(tags[].reason); not failures.
      type: bool
      sample: true
    expected_value:
      description: With RV(tags[].conflict), the value the item expected (V(null) for absent).
      type: str
      sample: "2026-12-31"
    reason:
      description: With RV(tags[].conflict), for a user that no longer exists, what IAM said of it.
      type: str
      sample: IAM user 'ghost' does not exist.
    failed:
      description: Present and V(true) for a tag that could not be read or changed.
      type: bool
      sample: true
    attempted:
      description: Present and V(false) for a tag never started because an earlier call failed at the endpoint.
      type: bool
      sample: false
    msg:
      description: Why this tag failed.
      type: str
      sample: IAM user 'ghost' does not exist.
diff:
  description: The tags of each user in O(tags), before and after the task.
  returned: success, in diff mode
  type: dict
  contains:
    before:
      description: "C(users): each user name, with its tags as a dict of key and value, before the task."
      type: dict
    after:
      description: "C(users): each user name, with its tags, after the task; predicted, in check mode."
      type: dict
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    USER_NAME_PATTERN,
    USER_NAME_RULE,
    check_account,
    check_account_id,
    list_user_tags,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import (
    CONNECTION_ARGS,
    HAS_BOTOCORE,
    KeyguardError,
    MaskedUrlModule,
    connect,
    connect_with_sts,
    connection_rules,
    redact,
    validate_connection,
)
from ansible_collections.keyguard.aws.plugins.module_utils._pool import (
    DEFAULT_CONCURRENCY,
    run_ordered,
    validate_concurrency,
)
from ansible_collections.keyguard.aws.plugins.module_utils._user_tags import (
    check_tag_key,
    check_tag_limit,
    check_tag_value,
    plan_user,
    tag_user_many,
    tags_after,
    untag_user_many,
)

ARGUMENT_SPEC = dict(
    tags=dict(type="list", elements="dict", required=True),
    concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
    account_id=dict(type="str"),
    **CONNECTION_ARGS,
)


def requested_tags(params):
    """Return {user: [items]} in first-seen order, each tag once; raise KeyguardError naming bad input."""
    users, seen = {}, {}
    for index, raw in enumerate(params["tags"]):
        where = f"tags[{index}]"
        user_name = raw.get("user_name")
        if not (isinstance(user_name, str) and USER_NAME_PATTERN.fullmatch(user_name)):
            raise KeyguardError(f"{where}.user_name must be {USER_NAME_RULE}.")
        check_tag_key(raw.get("key"), f"{where}.key")
        if "value" not in raw:
            raise KeyguardError(f"{where}.value is required: the value the tag must have, or null for no tag.")
        check_tag_value(raw["value"], f"{where}.value")
        item = {"user_name": user_name, "key": raw["key"], "value": raw["value"]}
        if "expected_value" in raw:
            check_tag_value(raw["expected_value"], f"{where}.expected_value")
            item["expected_value"] = raw["expected_value"]
        unknown = sorted(set(raw) - {"user_name", "key", "value", "expected_value"})
        if unknown:
            raise KeyguardError(
                f"{where} has unknown fields {', '.join(unknown)}; use user_name, key, value, expected_value."
            )
        # IAM user names are case-insensitive: Bob and bob are one user, and the first spelling stays.
        spelling = next((name for name in users if name.lower() == user_name.lower()), user_name)
        item["user_name"] = spelling
        known = seen.get((spelling, item["key"]))
        if known is not None and known != item:
            raise KeyguardError(
                f"{where}: tag {item['key']!r} of IAM user {spelling!r} is listed twice with different values or "
                "expected values; list it once."
            )
        if known is None:
            seen[(spelling, item["key"])] = item
            users.setdefault(spelling, []).append(item)
    return users


def apply_tags(client, users, concurrency, check_mode):
    """Read, compare and, where needed, write each user's tags; return {user: outcome} (pool Outcome of work)."""

    def ensure(user_name):
        """Bring one user's tags to the plan; return (tags before, tags after, [(prev, value, changed, conflict)])."""
        try:
            current = list_user_tags(client, user_name)
        except KeyguardError as err:
            # Tags expected to hold a value on a user that no longer exists (deleted, or renamed) are not as
            # expected either: left alone and reported, so that an undo after a clean-up does not fail.
            if err.code == "NoSuchEntity" and all("expected_value" in item for item in users[user_name]):
                gone = f"IAM user {user_name!r} does not exist."
                return None, None, [(None, None, False, gone) for _item in users[user_name]]
            raise
        outcomes, to_set, to_remove = plan_user(current, users[user_name])
        check_tag_limit(user_name, current, to_set, to_remove)
        if not check_mode:
            # Removing first frees room under IAM's 50-tag limit for the tags set next.
            if to_remove:
                untag_user_many(client, user_name, to_remove)
            if to_set:
                try:
                    tag_user_many(client, user_name, to_set)
                except KeyguardError as err:
                    raise PartlyDone(err, {key: current[key] for key in to_remove}) from None
        return current, tags_after(current, to_set, to_remove), outcomes

    names = list(users)
    return dict(zip(names, run_ordered(ensure, names, concurrency)))


class PartlyDone(KeyguardError):
    """TagUser failed after UntagUser removed tags: the removals stand, the tags to set failed."""

    def __init__(self, err, removed):
        super().__init__(str(err), err.code)
        self.removed = removed  # {key: the value it had}


def report(users, results):
    """Return (result, diff) in the order of the items; raise KeyguardError listing the users that failed."""
    tags, before, after, failures = [], {}, {}, []
    for user_name, items in users.items():
        outcome = results[user_name]
        if outcome.value is not None:
            current, planned, outcomes = outcome.value
            before[user_name], after[user_name] = current, planned
            tags += [tag_result(item, *found) for item, found in zip(items, outcomes)]
            continue
        err = outcome.error or outcome.not_attempted
        failures.append(f"{user_name}: {err}")
        removed = err.removed if isinstance(err, PartlyDone) else {}
        for item in items:
            if item["key"] in removed:
                tags.append(tag_result(item, removed[item["key"]], None, True, False))
                continue
            fields = dict(user_name=user_name, key=item["key"], changed=False, failed=True)
            if outcome.not_attempted is not None:
                msg = f"Not attempted: an earlier call failed in a way every call would ({err})"
                tags.append(dict(fields, attempted=False, msg=msg))
            else:
                tags.append(dict(fields, msg=str(err)))
    result = dict(changed=any(tag.get("changed") for tag in tags), tags=tags)
    if failures:
        done = ", ".join(f"{t['user_name']} {t['key']}" for t in tags if t.get("changed")) or "none"
        raise KeyguardError(
            f"{len(failures)} of {len(users)} IAM users failed: {'; '.join(failures)}. Changed as asked: {done}.",
            result=result,
        )
    return result, dict(before=dict(users=before), after=dict(users=after))


def tag_result(item, previous, value, changed, conflict):
    """Return what the task reports for one tag."""
    reported = dict(user_name=item["user_name"], key=item["key"], value=value, previous_value=previous, changed=changed)
    if isinstance(conflict, str):  # the user no longer exists: what IAM said of it
        return dict(reported, conflict=True, expected_value=item["expected_value"], reason=conflict)
    if conflict:
        return dict(reported, conflict=True, expected_value=item["expected_value"])
    return reported


def connect_to(params):
    """Return (the IAM Connection, an STS client with the same credentials, or None when account_id is not set)."""
    if params["account_id"] is None:
        return connect(params, max_pool_connections=params["concurrency"]), None
    return connect_with_sts(params, max_pool_connections=params["concurrency"])


def main():
    """Run the module: validate, connect, compare-and-set each user's tags, report."""
    module = MaskedUrlModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **connection_rules())
    secrets = [module.params["secret_key"], module.params["session_token"]]
    try:
        users = requested_tags(module.params)
        validate_concurrency(module.params["concurrency"])
        validate_connection(module.params)
        check_account_id(module.params["account_id"])
        if not HAS_BOTOCORE:
            module.fail_json(msg=missing_required_lib("botocore"))
        if not users:
            module.exit_json(changed=False, tags=[])
        connection, sts = connect_to(module.params)
        secrets += connection.secrets
        if sts is not None:  # before any IAM call: never read or write another account's users
            check_account(sts, module.params["account_id"])
        results = apply_tags(connection.client, users, module.params["concurrency"], module.check_mode)
        result, diff = report(users, results)
    except KeyguardError as err:
        module.fail_json(msg=redact(str(err), secrets), **err.result)
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
