#!/usr/bin/python
# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_access_key_status
short_description: Set an IAM access key to Active or Inactive, idempotently
version_added: 0.1.0
description:
  - Reads the access key's current status and calls C(UpdateAccessKey) only when it differs from O(status).
  - With O(user_name), one C(ListAccessKeys) call reads the key; a change adds one C(UpdateAccessKey) call.
    Nothing is read back after the write.
  - Without O(user_name), the key is first looked for among the calling identity's own keys (this covers
    the account root user's keys too) and updated without C(UserName), as the IAM API defines. If it is not
    there, or the caller is not an IAM user (temporary credentials), or may not list its own keys (a policy narrowed
    to a user path), C(GetAccessKeyLastUsed) finds the key's owner. So a leaked key can be shut off knowing only its id.
  - With O(access_keys), sets many keys in one task, for example the RV(keyguard.aws.iam_access_key_info#module:access_keys)
    that M(keyguard.aws.iam_access_key_info) found. One client serves every key; each user's keys are listed once,
    each key that needs a change costs one C(UpdateAccessKey), and only keys without a user name need the owner lookup.
    A key that fails does not stop the others; the task then fails, listing which keys failed and why, and which
    it changed.
  - With O(access_keys), keys are handled on up to O(concurrency) threads sharing one client, and reported in the
    order given. After a failure of the endpoint or the credentials (unreachable, timed out, TLS certificate not
    verified, an answer that is not IAM's, credentials rejected, throttled past the retries), no further key is
    started, since every call would fail the same way; those keys are reported with
    RV(access_keys[].attempted=false) and the reason. A key deleted between its read and its write fails alone,
    saying so. An update sent but not answered in time leaves the key's state unknown
    (RV(access_keys[].state_unknown=true)), since IAM may have applied it; read the key back.
  - Refuses to deactivate the very key that signs its own requests unless O(allow_self_deactivation=true). With a
    O(profile) that assumes a role (C(role_arn) with C(source_profile), or C(credential_source = Environment)), the
    static key at the root of that chain counts as signing too, since the profile cannot assume its role without it.
author:
  - keyguard.aws contributors (@keyguard-aws)
requirements:
  - python >= 3.11
  - botocore >= 1.35.0
options:
  access_key_id:
    description:
      - The ID of the access key, 16 to 128 letters, digits or underscores (for example V(AKIAIOSFODNN7EXAMPLE)).
      - Exactly one of O(access_key_id) and O(access_keys) is required.
    type: str
    aliases: [id]
  user_name:
    description:
      - The IAM user that owns the key, 1 to 128 characters of letters, digits and V(_+=,.@-).
      - When omitted, the module looks among the caller's own keys first, then asks IAM for the owner.
        Setting it saves API calls and is required if the caller may not call C(iam:GetAccessKeyLastUsed).
      - Not with O(access_keys), whose items carry their own C(user_name).
    type: str
    aliases: [username]
  access_keys:
    description:
      - Many keys to set to O(status) in one task. Each item needs C(access_key_id) and may have C(user_name);
        other fields are ignored, so the RV(keyguard.aws.iam_access_key_info#module:access_keys) list of
        M(keyguard.aws.iam_access_key_info) can be passed as it is.
      - A key listed twice is handled once; an item without C(user_name) takes the one of another item for the
        same key, and only two different user names for one key are refused. IAM user names are case-insensitive,
        so V(bob) and V(Bob) are one user and the first spelling is used. An empty list changes nothing.
      - An item may have C(expected_status), V(Active) or V(Inactive), the status the key must have now for the
        task to change it (compare-and-set). A key whose status, freshly read, is another is left alone and
        reported with RV(access_keys[].conflict=true), its RV(access_keys[].status) as found and the
        RV(access_keys[].expected_status); a conflict is not a failure. This is how C(playbooks/undo_sweep.yml)
        puts back only the keys still as a sweep left them. One key listed twice with two different
        C(expected_status) is refused.
    type: list
    elements: dict
  status:
    description:
      - The status the key must have. V(Active) keys can sign requests; V(Inactive) keys cannot.
    type: str
    required: true
    choices: [Active, Inactive]
  allow_self_deactivation:
    description:
      - Allow O(status=Inactive) for the access key that signs this module's own requests.
      - Deactivating it locks these credentials out of AWS, so the task could not even undo it; by
        default the module fails before writing anything, in check mode too.
      - With O(access_keys), the signing key is handled after every other key, so none of them is refused once the
        change propagates.
    type: bool
    default: false
  account_id:
    description:
      - The AWS account the task is meant for, 12 digits. When set, the task first asks C(sts:GetCallerIdentity) and
        fails, before any IAM call, unless its credentials (after O(assume_role_arn)) are in that account.
      - C(playbooks/undo_sweep.yml) sets it, so that a journal is never put back in another account.
    type: str
  concurrency:
    description:
      - With O(access_keys), how many keys may be handled at once, from 1 to 32.
      - IAM throttles calls per account; throttled calls are retried by botocore (see O(aws_config)). If other
        jobs share the account, or the task reports throttling, lower it; V(1) handles one key at a time.
    type: int
    default: 8
extends_documentation_fragment:
  - keyguard.aws.connection
  - keyguard.aws.connection.modules
attributes:
  check_mode:
    support: full
    description:
      - Makes the same reads, never writes, and returns the predicted O(status) in RV(access_key) or RV(access_keys).
      - A conflict with an item's C(expected_status) is found and reported in check mode as in a real run.
  diff_mode:
    support: full
    description: Returns the key's fields (with O(access_keys), the list of keys) before and after the task.
  idempotent:
    support: full
    description: A key that already has O(status) is left alone and reported as unchanged.
notes:
  - IAM is eventually consistent. Right after a key is deactivated, requests signed with it can still
    succeed for a few seconds while the change propagates. The module reports the status it set and does
    not wait or re-read.
  - "Permissions: C(iam:ListAccessKeys) and C(iam:UpdateAccessKey); C(iam:GetAccessKeyLastUsed) when
    O(user_name) is omitted and the key is not the caller's own, or to name the owner in an error;
    C(sts:GetCallerIdentity) with O(account_id)."
"""

EXAMPLES = r"""
- name: Deactivate a user's old key during rotation
  keyguard.aws.iam_access_key_status:
    user_name: deploy-bot
    access_key_id: AKIAIOSFODNN7EXAMPLE
    status: Inactive

- name: Shut off a leaked key knowing only its id (the owner is looked up)
  keyguard.aws.iam_access_key_status:
    access_key_id: AKIAI44QH8DHBEXAMPLE
    status: Inactive
  register: leaked

- name: Say whose key it was
  ansible.builtin.debug:
    msg: "{{ leaked.access_key.user_name }} was {{ leaked.previous_status }}, is now {{ leaked.access_key.status }}"

- name: Find the keys nobody used for 45 days
  keyguard.aws.iam_access_key_info:
    all_users: true
    status: Active
    unused_for_days: 45
  register: stale

- name: Deactivate them all in one task
  keyguard.aws.iam_access_key_status:
    access_keys: "{{ stale.access_keys }}"
    status: Inactive

- name: Put back keys a sweep deactivated, but only those still Inactive (compare-and-set)
  keyguard.aws.iam_access_key_status:
    access_keys:
      - user_name: deploy-bot
        access_key_id: AKIAIOSFODNN7EXAMPLE
        expected_status: Inactive
    status: Active
  register: restored

- name: Say which keys were changed since, and left alone
  ansible.builtin.debug:
    msg: "{{ item.access_key_id }} is {{ item.status }}, not {{ item.expected_status }}: left alone"
  loop: "{{ restored.access_keys | selectattr('conflict', 'defined') }}"

- name: Re-activate a key, with connection settings for every module of the collection
  module_defaults:
    group/keyguard.aws.aws:
      profile: security-admin
  block:
    - name: Re-activate
      keyguard.aws.iam_access_key_status:
        user_name: deploy-bot
        access_key_id: AKIAIOSFODNN7EXAMPLE
        status: Active
"""

RETURN = r"""
access_key:
  description:
    - The key as it is after the task. In check mode, as it would be.
  returned: success, with O(access_key_id)
  type: dict
  contains:
    access_key_id:
      description: The access key ID.
      type: str
      sample: AKIAIOSFODNN7EXAMPLE
    user_name:
      description: The IAM user that owns the key.
      type: str
      sample: deploy-bot
    status:
      description: The key's status, V(Active) or V(Inactive).
      type: str
      sample: Inactive
    create_date:
      description: When the key was created, ISO 8601 in UTC.
      type: str
      sample: "2026-08-01T09:30:00+00:00"
previous_status:
  description: The key's status before the task.
  returned: success, with O(access_key_id)
  type: str
  sample: Active
access_keys:
  description:
    - One item for each key of O(access_keys), in the order given, as it is after the task (in check mode, as it
      would be). Returned when the task fails too, so no key is left unaccounted for.
  returned: always, with O(access_keys)
  type: list
  elements: dict
  contains:
    access_key_id:
      description: The access key ID.
      type: str
      sample: AKIAIOSFODNN7EXAMPLE
    user_name:
      description: The IAM user that owns the key.
      type: str
      sample: deploy-bot
    status:
      description: The key's status after the task. Missing for a key that failed.
      type: str
      sample: Inactive
    create_date:
      description: When the key was created, ISO 8601 in UTC. Missing for a key that failed.
      type: str
      sample: "2026-08-01T09:30:00+00:00"
    previous_status:
      description: The key's status before the task. Missing for a key that failed.
      type: str
      sample: Active
    changed:
      description: Whether the task changed (in check mode, would change) this key.
      type: bool
      sample: true
    failed:
      description: Present and V(true) for a key that could not be read or changed.
      type: bool
      sample: true
    attempted:
      description: Present and V(false) for a key never started because an earlier call failed at the endpoint.
      type: bool
      sample: false
    state_unknown:
      description:
        - Present and V(true) for a key whose update was sent but not answered in time (a read timeout). IAM may
          have applied it, so the key's status is unknown and RV(access_keys[].changed) is left out; read it back.
      type: bool
      sample: true
    conflict:
      description:
        - Present and V(true) for a key left alone because its status, read by this task, was not the item's
          C(expected_status). RV(access_keys[].status) is the status found, which the task kept.
        - A key with C(expected_status) that no longer exists (the key or its user deleted, or the user renamed) is
          a conflict too, with RV(access_keys[].status) V(null) and the RV(access_keys[].reason); it is not a
          failure.
      type: bool
      sample: true
    reason:
      description: With RV(access_keys[].conflict), for a key that no longer exists, what IAM said of it.
      type: str
      sample: IAM user 'ghost' does not exist.
    expected_status:
      description: With RV(access_keys[].conflict), the status the item expected the key to have.
      type: str
      sample: Inactive
    msg:
      description: Why this key failed.
      type: str
      sample: IAM user 'ghost' does not exist.
diff:
  description: The key's fields before and after the task; with O(access_keys), the lists of keys.
  returned: success, in diff mode
  type: dict
  contains:
    before:
      description: The key (or C(access_keys), the keys) before the task.
      type: dict
    after:
      description: The key (or C(access_keys), the keys) after the task; predicted, in check mode.
      type: dict
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    STATUSES,
    USER_NAME_PATTERN,
    USER_NAME_RULE,
    KeyLocator,
    check_account,
    check_account_id,
    plan_status,
    update_access_key,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import (
    ACCESS_KEY_ID_PATTERN,
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
    Stop,
    run_ordered,
    validate_concurrency,
)

ARGUMENT_SPEC = dict(
    access_key_id=dict(type="str", aliases=["id"], no_log=False),
    user_name=dict(type="str", aliases=["username"]),
    access_keys=dict(type="list", elements="dict", no_log=False),
    status=dict(type="str", required=True, choices=list(STATUSES)),
    allow_self_deactivation=dict(type="bool", default=False),
    concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
    account_id=dict(type="str"),
    **CONNECTION_ARGS,
)
ACCESS_KEY_ID_RULE = "16 to 128 letters, digits or underscores, like AKIAIOSFODNN7EXAMPLE"


def requested_keys(params):
    """Return [(access_key_id, user_name)] the task asks for, each key once; raise KeyguardError naming bad input."""
    if params.get("access_keys") is None:
        items, where = [params], ""
    else:
        items, where = params["access_keys"], "access_keys[{}]."
    wanted = {}
    for index, item in enumerate(items):
        access_key_id, user_name = item.get("access_key_id"), item.get("user_name")
        prefix = where.format(index)
        if not isinstance(access_key_id, str) or not ACCESS_KEY_ID_PATTERN.fullmatch(access_key_id):
            raise KeyguardError(f"{prefix}access_key_id must be {ACCESS_KEY_ID_RULE}.")
        if user_name is not None and not (isinstance(user_name, str) and USER_NAME_PATTERN.fullmatch(user_name)):
            raise KeyguardError(f"{prefix}user_name must be {USER_NAME_RULE}.")
        if item.get("expected_status") not in (None, *STATUSES):
            raise KeyguardError(
                f"{prefix}expected_status must be Active or Inactive (or left out), not {item['expected_status']!r}."
            )
        # An entry without a user name merges into a named one for the same key, in either order.
        known = wanted.get(access_key_id)
        # IAM user names are case-insensitive: Bob and bob are one user, and the first spelling stays.
        if known and user_name and known.lower() != user_name.lower():
            raise KeyguardError(
                f"{prefix}access_key_id {access_key_id} is listed twice, with different user names "
                f"{known!r} and {user_name!r}; a key belongs to one user."
            )
        wanted[access_key_id] = known or user_name
    expected_statuses(params)
    return list(wanted.items())


def expected_statuses(params):
    """Return {access_key_id: expected status} for the bulk items that set expected_status; raise on a contradiction."""
    expected = {}
    for index, item in enumerate(params.get("access_keys") or []):
        access_key_id, status = item.get("access_key_id"), item.get("expected_status")
        if status is None:
            continue
        if expected.setdefault(access_key_id, status) != status:
            raise KeyguardError(
                f"access_keys[{index}].access_key_id {access_key_id} is listed twice, with different expected_status "
                f"{expected[access_key_id]!r} and {status!r}; drop one of them."
            )
    return expected


def refuse_self_deactivation(wanted, params, protected_key_ids):
    """Raise KeyguardError if the task would deactivate a key that its own requests depend on."""
    if params["status"] != "Inactive" or params["allow_self_deactivation"]:
        return
    for access_key_id, _user_name in wanted:
        if access_key_id not in protected_key_ids:
            continue
        raise KeyguardError(
            f"Refusing to deactivate access key {access_key_id}: it signs this task's own requests, so "
            "deactivating it would lock these credentials out of AWS and nothing run with them could turn it "
            "back on. Run the task with other credentials, or set allow_self_deactivation: true if you mean it."
        )


def processing_order(wanted, params, protected_key_ids):
    """Return the indexes of `wanted` in two batches: every other key, then the keys these credentials depend on.

    With allow_self_deactivation, deactivating the signing key first would get the keys after it refused once
    the change propagates, so it goes last.
    """
    if params["status"] != "Inactive":
        return [list(range(len(wanted))), []]
    last = [index for index, (access_key_id, _user) in enumerate(wanted) if access_key_id in protected_key_ids]
    return [[index for index in range(len(wanted)) if index not in last], last]


def apply_status(client, wanted, params, protected_key_ids, check_mode):
    """Read, compare and, where needed, update each key; return one outcome per key, in the order of `wanted`."""
    locator = KeyLocator(client)
    status = params["status"]
    expected = expected_statuses(params)

    def ensure(item):
        """Bring one key to the status unless it is not as expected; return (before, after, changed, conflict, gone)."""
        try:
            before, update_user_name = locator.locate(*item)
        except KeyguardError as err:
            # A key expected in a status that no longer exists (it or its user deleted, or the user renamed) is not
            # as expected either: left alone and reported, so that an undo after a clean-up does not fail.
            if err.code == "NoSuchEntity" and item[0] in expected:
                return None, None, False, expected[item[0]], str(err)
            raise
        if expected.get(item[0], before["status"]) != before["status"]:
            return before, before, False, expected[item[0]], None
        changed, after = plan_status(before, status)
        if changed and not check_mode:
            set_status(client, before, status, update_user_name)
        return before, after, changed, None, None

    stop = Stop()  # after an endpoint-level failure, no further key is started, in either batch
    outcomes = [None] * len(wanted)
    for batch in processing_order(wanted, params, protected_key_ids):
        for index, outcome in zip(batch, run_ordered(ensure, [wanted[i] for i in batch], params["concurrency"], stop)):
            outcomes[index] = key_outcome(wanted[index], outcome)
    return outcomes


class StateUnknown(KeyguardError):
    """An update that was sent but never answered: IAM may or may not have applied it."""


def set_status(client, key, status, update_user_name):
    """Update the key's status, saying plainly when it vanished between its read and this write."""
    try:
        update_access_key(client, key["access_key_id"], status, update_user_name)
    except KeyguardError as err:
        if err.code == "ReadTimeout":
            raise StateUnknown(
                f"Access key {key['access_key_id']} of IAM user {key['user_name']!r}: the update to {status} was "
                f"sent but not answered, so its state is unknown (it may be {status} or still {key['status']}); "
                f"read it back before going on. {err}",
                err.code,
            ) from None
        if err.code != "NoSuchEntity":
            raise
        raise KeyguardError(
            f"Access key {key['access_key_id']} of IAM user {key['user_name']!r} was deleted after it was read "
            f"and before it could be set {status}; nothing was changed. IAM said: {err}",
            err.code,
        ) from None


def key_outcome(item, outcome):
    """Return the dict the reports read for one key, from the pool's Outcome."""
    access_key_id, user_name = item
    if outcome.not_attempted is not None:
        return dict(access_key_id=access_key_id, user_name=user_name, error=outcome.not_attempted, attempted=False)
    if isinstance(outcome.error, StateUnknown):
        return dict(access_key_id=access_key_id, user_name=user_name, error=outcome.error, state_unknown=True)
    if outcome.error is not None:
        return dict(access_key_id=access_key_id, user_name=user_name, error=outcome.error)
    before, after, changed, conflict, gone = outcome.value
    if gone is not None:
        return dict(access_key_id=access_key_id, user_name=user_name, changed=False, conflict=conflict, gone=gone)
    found = dict(access_key_id=access_key_id, before=before, after=after, changed=changed)
    return dict(found, conflict=conflict) if conflict else found


def ensure_status(client, wanted, params, protected_key_ids, check_mode):
    """Bring the key, or every key of access_keys, to the status; return (result, diff)."""
    refuse_self_deactivation(wanted, params, protected_key_ids)
    outcomes = apply_status(client, wanted, params, protected_key_ids, check_mode)
    if params.get("access_keys") is None:
        return single_report(outcomes[0])
    return bulk_report(outcomes, check_mode)


def single_report(outcome):
    """Return (result, diff) for the one key of access_key_id, or raise its error."""
    if "error" in outcome:
        raise outcome["error"]
    before, after = outcome["before"], outcome["after"]
    result = dict(changed=outcome["changed"], access_key=after, previous_status=before["status"])
    return result, dict(before=before, after=after)


def bulk_report(outcomes, check_mode):
    """Return (result, diff) for the keys of access_keys; raise listing the failed ones if any failed."""
    result = dict(
        changed=any(outcome.get("changed") for outcome in outcomes),
        access_keys=[key_result(outcome) for outcome in outcomes],
    )
    failed = [outcome for outcome in outcomes if "error" in outcome]
    if failed:
        raise KeyguardError(bulk_failure(failed, outcomes, check_mode), result=result)
    before = [outcome.get("before") for outcome in outcomes]
    after = [outcome.get("after") for outcome in outcomes]
    return result, dict(before=dict(access_keys=before), after=dict(access_keys=after))


def key_result(outcome):
    """Return what the task reports for one key of access_keys."""
    if "error" in outcome:
        fields = dict(access_key_id=outcome["access_key_id"], user_name=outcome["user_name"])
        if outcome.get("attempted") is False:
            reason = f"Not attempted: an earlier call failed in a way every call would ({outcome['error']})"
            return dict(fields, changed=False, failed=True, attempted=False, msg=reason)
        if outcome.get("state_unknown"):  # neither changed nor unchanged: IAM may have applied the update
            return dict(fields, failed=True, state_unknown=True, msg=str(outcome["error"]))
        return dict(fields, changed=False, failed=True, msg=str(outcome["error"]))
    if "gone" in outcome:  # expected in a status, and no longer there: left alone, not failed
        fields = dict(access_key_id=outcome["access_key_id"], user_name=outcome["user_name"], status=None)
        return dict(fields, changed=False, conflict=True, expected_status=outcome["conflict"], reason=outcome["gone"])
    reported = dict(outcome["after"], previous_status=outcome["before"]["status"], changed=outcome["changed"])
    if outcome.get("conflict"):  # left as found: not a failure, and not a change
        return dict(reported, conflict=True, expected_status=outcome["conflict"])
    return reported


NAMED_IN_MESSAGE = 5  # not-attempted key IDs named in the failure message


def bulk_failure(failed, outcomes, check_mode):
    """Return one message listing which keys failed and why, which were not attempted, and which were changed."""
    tried = [outcome for outcome in failed if outcome.get("attempted") is not False]
    skipped = [outcome for outcome in failed if outcome.get("attempted") is False]
    reasons = "; ".join(f"{outcome['access_key_id']}: {outcome['error']}" for outcome in tried)
    unknown = [outcome["access_key_id"] for outcome in failed if outcome.get("state_unknown")]
    changed = ", ".join(outcome["access_key_id"] for outcome in outcomes if outcome.get("changed")) or "none"
    verb = "would change" if check_mode else "changed"
    message = f"{len(tried)} of {len(outcomes)} access keys failed: {reasons}"
    if skipped:
        # Each not-attempted key is in access_keys with attempted: false; a thousand IDs inline help nobody.
        first = ", ".join(outcome["access_key_id"] for outcome in skipped[:NAMED_IN_MESSAGE])
        more = f" and {len(skipped) - NAMED_IN_MESSAGE} more" if len(skipped) > NAMED_IN_MESSAGE else ""
        message += (
            f" The task stopped there: {len(skipped)} access keys were not attempted ({first}{more}; each is in "
            "access_keys with attempted: false)."
        )
    if unknown:
        message += f" The state of {', '.join(unknown)} is unknown: the update was sent but not answered."
    return f"{message} The task {verb} the others as asked: {changed}."


def connect_to(params):
    """Return (the IAM Connection, an STS client with the same credentials, or None when account_id is not set)."""
    if params["account_id"] is None:
        return connect(params, max_pool_connections=params["concurrency"]), None
    return connect_with_sts(params, max_pool_connections=params["concurrency"])


def main():
    """Run the module: validate, connect, ensure the status, report."""
    module = MaskedUrlModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[["access_key_id", "access_keys"]],
        **connection_rules(mutually_exclusive=[["access_key_id", "access_keys"], ["user_name", "access_keys"]]),
    )
    secrets = [module.params["secret_key"], module.params["session_token"]]
    try:
        wanted = requested_keys(module.params)
        validate_concurrency(module.params["concurrency"])
        validate_connection(module.params)
        check_account_id(module.params["account_id"])
        if not HAS_BOTOCORE:
            module.fail_json(msg=missing_required_lib("botocore"))
        connection, sts = connect_to(module.params)
        secrets += connection.secrets
        if sts is not None:  # before any IAM call: never read or write another account's users
            check_account(sts, module.params["account_id"])
        result, diff = ensure_status(
            connection.client, wanted, module.params, connection.protected_key_ids, module.check_mode
        )
    except KeyguardError as err:
        module.fail_json(msg=redact(str(err), secrets), **err.result)
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
