#!/usr/bin/python
# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_access_key_policy
short_description: Apply a stale-key policy to one account, with a grace period, exemptions and a journal of every write
version_added: 0.2.0
description:
  - Finds the account's C(Active) access keys that are older than O(older_than_days) or unused for more than
    O(unused_for_days) (with the meaning these have in M(keyguard.aws.iam_access_key_info)), and deactivates them,
    warning the owner first when O(grace_days) asks for it. One task does the whole policy for one account.
  - "B(Grace period.) With O(grace_days=0) a qualifying key is deactivated in this run. With N > 0, the first run
    that finds it only marks it: it tags the owning user with C(keyguard:deactivate-after:<AccessKeyId>) =
    C(YYYY-MM-DD) (today + N days, UTC) and reports it V(warned). Later runs report it V(pending) until that date;
    on or after it, a run deactivates the key if it still qualifies, and removes the mark. The date in the tag
    decides, so an owner's extension written into the tag is honoured."
  - "A marked key that no longer qualifies (used since, deactivated by hand, deleted, or exempt since) has its mark
    removed and is reported V(cleared)."
  - "B(Exemptions.) A key is exempt when its user is tagged O(exempt_tag) with V(true) or with a date C(YYYY-MM-DD)
    up to which the exemption holds; when its user is in O(exempt_users) or in one of the IAM groups of
    O(exempt_groups); or when its ID is in O(exempt_access_keys). An exempt key is reported V(exempt) with the reason
    and never written. A lapsed exemption counts as none, and the key's reason says it lapsed. An O(exempt_tag) value
    that is neither V(true) nor a date fails that key (nothing is written) until the tag is fixed, since someone
    meant to exempt the user."
  - "B(Reading.) The account is read as M(keyguard.aws.iam_access_key_info) reads it with C(all_users): the
    credential report (or the API, see O(source)) decides which keys to look at. One paged
    C(GetAccountAuthorizationDetails) with C(Filter=[User]) (1000 users a page) gives every user's tags, groups and
    current path, so exemptions and the marks of keys that no longer qualify are seen without a call per user. Each
    key that may be written is decided on a fresh C(ListAccessKeys) of its user and a fresh C(GetAccessKeyLastUsed),
    never on the report alone."
  - "Where C(iam:GetAccountAuthorizationDetails) is denied, the module reads the tags of the candidates' users with
    C(ListUserTags) (and the members of O(exempt_groups) with C(GetGroup)), and warns that marks on other users
    cannot be cleared in this run."
  - "B(Cost.) A few calls per account: one C(sts:GetCallerIdentity), the credential report, one
    C(GetAccountAuthorizationDetails) and one C(ListUsers) (the scope, on the users' current paths) per 1000 users;
    then, per user with a candidate or a mark, one
    C(ListAccessKeys), one C(GetAccessKeyLastUsed) per candidate or marked key, and the writes. Never one call per
    user of the account (except with O(source=api), which lists every user's keys by design)."
  - "B(Writing.) Only C(UpdateAccessKey) (to V(Inactive)), C(TagUser) and C(UntagUser), each appended to
    RV(journal) as it is made. A write that fails does not stop the others; the task then fails, returning the
    journal so far and every key with its action, as M(keyguard.aws.iam_access_key_status) does with O(keyguard.aws.iam_access_key_status#module:access_keys).
    A user that already holds 50 tags (IAM's limit) cannot take a new mark: that key is reported V(failed) with the
    reason and the rest go on."
  - "RV(journal) can be replayed backwards by C(playbooks/undo_sweep.yml) to put back exactly what a run changed."
author:
  - keyguard.aws contributors (@keyguard-aws)
requirements:
  - python >= 3.11
  - botocore >= 1.35.0
options:
  older_than_days:
    description:
      - Keys created more than this many days ago qualify, from V(0) to V(36500).
      - At least one of O(older_than_days) and O(unused_for_days) is required; with both, a key must pass both.
    type: int
  unused_for_days:
    description:
      - Keys not used for more than this many days qualify, from V(0) to V(36500). A key never used counts from its
        creation.
    type: int
  grace_days:
    description:
      - Days between the warning (the mark) and the deactivation, from V(0) to V(3650).
      - V(0) deactivates a qualifying key in the run that finds it.
    type: int
    default: 0
  exempt_tag:
    description:
      - The user tag that exempts all of a user's keys. Its value is V(true), or a date C(YYYY-MM-DD) up to and
        including which the exemption holds. IAM user tag keys ignore case, and so does the module.
      - "A valid IAM tag key: 1 to 128 letters, digits, spaces and C(_ . : / = + - @), not starting with C(aws:)."
    type: str
    default: "keyguard:exempt"
  exempt_users:
    description:
      - IAM user names whose keys are exempt (compared without regard to case, as IAM does).
      - A name that no user in scope has is warned about, since it exempts nothing (where
        C(GetAccountAuthorizationDetails) is allowed).
    type: list
    elements: str
    default: []
  exempt_groups:
    description:
      - IAM group names whose members' keys are exempt, as the AWS access key rotation sample does it.
      - A group that no user in scope is a member of (a misspelt name, for example) is warned about, since it exempts
        nothing.
    type: list
    elements: str
    default: []
  exempt_access_keys:
    description:
      - Access key IDs that are exempt (compared without regard to case, so a lower-case copy still exempts the key).
    type: list
    elements: str
    default: []
  path_prefix:
    description:
      - Only users whose path starts with this, for example V(/service/), as in M(keyguard.aws.iam_access_key_info).
    type: str
  source:
    description:
      - Where the keys to look at are read from, as in M(keyguard.aws.iam_access_key_info). Whatever the source,
        every write is decided on fresh calls.
    type: str
    choices: [auto, credential_report, api]
    default: auto
  concurrency:
    description:
      - How many per-user and per-key IAM calls may run at once, from 1 to 32.
    type: int
    default: 8
extends_documentation_fragment:
  - keyguard.aws.connection
  - keyguard.aws.connection.modules
attributes:
  check_mode:
    support: full
    description: Makes the same reads and no write at all (neither tags nor status); RV(access_keys), RV(journal) and
      RV(notices) say what would happen.
  diff_mode:
    support: full
    description: The status of each key and the value of each tag that the run changes (or would), before and after.
  idempotent:
    support: full
    description: A run that has nothing new to do reports C(changed=false) and an empty RV(journal); a pending key
      stays pending until its date.
notes:
  - "Containment is separate on purpose: M(keyguard.aws.iam_access_key_status), C(playbooks/contain_exposed_key.yml)
    and the EDA path (C(exposed_key_events)) ignore exemptions and grace, because a leaked key must go off now.
    This module is for the slow, scheduled policy."
  - "Permissions: C(sts:GetCallerIdentity); C(iam:GenerateCredentialReport) and C(iam:GetCredentialReport) (not
    needed with O(source=api)); C(iam:ListUsers); C(iam:GetAccountAuthorizationDetails); C(iam:ListAccessKeys),
    C(iam:GetAccessKeyLastUsed); C(iam:UpdateAccessKey), C(iam:TagUser), C(iam:UntagUser); C(iam:ListUserTags) and
    C(iam:GetGroup) for the fallback."
  - "The marks are public: a user's tag C(keyguard:deactivate-after:AKIA...) = C(2026-12-16) in the IAM console
    says that key goes off on or after 16 December 2026 (UTC) unless it is used by then."
  - "The credential report says which keys to look at; it is never the last word on a write. IAM serves a report up
    to 4 hours old and records last use with a delay of up to a few hours, so a key used a few hours before the run
    may still be judged on its earlier use."
  - The key that signs the task's own requests is never deactivated; it is reported V(failed) instead.
  - "STS is reached through E(AWS_ENDPOINT_URL_STS), E(AWS_ENDPOINT_URL) or the profile; O(endpoint_url) is IAM's."
"""

EXAMPLES = r"""
- name: Warn owners of keys unused for 90 days, deactivate them 14 days later (run daily)
  keyguard.aws.iam_access_key_policy:
    unused_for_days: 90
    grace_days: 14
    exempt_groups: [break-glass]
  register: policy

- name: Tell each owner what happened to their keys (their email tag, if they have one)
  ansible.builtin.debug:
    msg: >-
      {{ item.tags.email | default(item.user_name) }}:
      {% for key in item['keys'] %}{{ key.access_key_id }} {{ key.action }}{{ ' until ' ~ key.deadline if key.action == 'warned' else '' }} {% endfor %}
  loop: "{{ policy.notices }}"
  loop_control:
    label: "{{ item.user_name }}"

- name: Keep the journal, so the run can be undone exactly
  ansible.builtin.copy:
    content: "{{ policy.journal | to_nice_json }}"
    dest: "./policy-journal-{{ policy.account_id }}.json"
    mode: "0600"
  when: policy.journal | length > 0

- name: CIS 1.14, keys older than 90 days, service users only, no grace, exempt a documented key
  keyguard.aws.iam_access_key_policy:
    older_than_days: 90
    path_prefix: /service/
    exempt_access_keys: [AKIAIOSFODNN7EXAMPLE]
  check_mode: true
  register: preview
"""

RETURN = r"""
account_id:
  description: The account the policy ran in, from C(sts:GetCallerIdentity).
  returned: always
  type: str
  sample: "123456789012"
caller_arn:
  description: The identity that ran it.
  returned: always
  type: str
  sample: arn:aws:sts::123456789012:assumed-role/KeyguardAudit/keyguard-aws
policy:
  description: The options in force.
  returned: always
  type: dict
  contains:
    older_than_days: {description: O(older_than_days)., type: int}
    unused_for_days: {description: O(unused_for_days)., type: int}
    grace_days: {description: O(grace_days)., type: int}
    exempt_tag: {description: O(exempt_tag)., type: str}
    exempt_users: {description: O(exempt_users)., type: list, elements: str}
    exempt_groups: {description: O(exempt_groups)., type: list, elements: str}
    exempt_access_keys: {description: O(exempt_access_keys)., type: list, elements: str}
    path_prefix: {description: O(path_prefix)., type: str}
    source: {description: O(source) as asked., type: str}
  sample:
    older_than_days: null
    unused_for_days: 90
    grace_days: 14
    exempt_tag: "keyguard:exempt"
    exempt_users: []
    exempt_groups: [break-glass]
    exempt_access_keys: []
    path_prefix: null
    source: auto
source:
  description: Where the keys were read from, V(credential_report) or V(api).
  returned: always
  type: str
  sample: credential_report
credential_report_generated:
  description: When IAM generated the credential report that was read, ISO 8601 in UTC.
  returned: when RV(source) is V(credential_report)
  type: str
  sample: "2026-12-02T09:00:00+00:00"
access_keys:
  description:
    - Every key seen in the account (or under O(path_prefix)), sorted by user, creation and key ID. Keys the
      credential report shows but that were never listed (they could not qualify) have no ID; their RV(access_keys[].slot) says which.
    - Returned when the task fails too, so no key is left unaccounted for.
  returned: always
  type: list
  elements: dict
  contains:
    user_name:
      description: "The owner."
      type: str
      sample: deploy-bot
    access_key_id:
      description: "The key ID; null for a key known only from the credential report."
      type: str
      sample: AKIAIOSFODNN7EXAMPLE
    slot:
      description: "The credential report's slot, V(1) or V(2), for a key known only from it; else null."
      type: int
      sample: 1
    previous_status:
      description: "V(Active) or V(Inactive) before this run; null for a key that no longer exists."
      type: str
      sample: Active
    status:
      description: "The status after this run (in check mode, the predicted one)."
      type: str
      sample: Inactive
    create_date:
      description: "When the key was created, ISO 8601 in UTC."
      type: str
      sample: "2026-01-10T08:00:00+00:00"
    age_days:
      description: "Whole days since creation."
      type: int
      sample: 326
    last_used_date:
      description: "Last use, ISO 8601 in UTC, or null if never used or not read."
      type: str
      sample: "2026-08-01T10:00:00+00:00"
    days_since_last_use:
      description: "Whole days since last use (or creation, if never used)."
      type: int
      sample: 123
    action:
      description:
        - V(deactivated), V(warned) (marked this run), V(pending) (marked earlier, its date not yet come),
          V(exempt), V(cleared) (its mark removed), V(none), or V(failed).
      type: str
      sample: warned
    reason:
      description: A sentence saying why.
      type: str
      sample: "The key is Active, unused for 123 days (more than 90); it will be deactivated on or after 2026-12-16 unless it is used by then."
    deadline:
      description: The date on or after which the key is deactivated, C(YYYY-MM-DD), or null.
      type: str
      sample: "2026-12-16"
counts:
  description: How many keys were seen, how many qualified (stale), and how many had each action.
  returned: always
  type: dict
  sample: {seen: 5000, stale: 50, deactivated: 0, warned: 48, pending: 0, exempt: 2, cleared: 0, none: 4950, failed: 0}
journal:
  description:
    - Every write of this run, in the order made (in check mode, what would be written). Entries of C(type)
      V(status) have C(access_key_id) and C(before)/C(after) statuses; entries of C(type) V(tag) have C(tag_key)
      and C(before)/C(after) values (null for absent). Each has C(account_id), C(time) (ISO 8601 UTC) and
      C(user_name).
    - Empty when nothing changed.
  returned: always
  type: list
  elements: dict
  sample:
    - {account_id: "123456789012", time: "2026-12-02T15:00:01+00:00", type: tag, user_name: deploy-bot,
       tag_key: "keyguard:deactivate-after:AKIAIOSFODNN7EXAMPLE", before: null, after: "2026-12-16"}
notices:
  description:
    - One entry per user with news this run (a key warned or deactivated), with the user's tags (after this run),
      so that a playbook can reach the owner.
  returned: always
  type: list
  elements: dict
  sample:
    - user_name: deploy-bot
      tags: {email: team-deploy@example.com}
      keys: [{access_key_id: AKIAIOSFODNN7EXAMPLE, action: warned, deadline: "2026-12-16"}]
skipped_keys:
  description: Users and keys deleted while the run read the account, each with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{user_name: departed-contractor, access_key_id: null, reason: the user was deleted while the sweep ran}]
"""

import functools
import threading
from datetime import datetime, timezone

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    USER_NAME_PATTERN,
    get_access_key_last_used,
    get_account_authorization_details,
    get_caller_identity,
    get_group_members,
    key_age,
    list_user_tags,
    tag_user,
    untag_user,
    update_access_key,
    with_last_use,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import (
    ACCESS_KEY_ID_PATTERN,
    CONNECTION_ARGS,
    HAS_BOTOCORE,
    KeyguardError,
    MaskedUrlModule,
    connect_with_sts,
    connection_rules,
    is_endpoint_failure,
    redact,
    validate_connection,
)
from ansible_collections.keyguard.aws.plugins.module_utils._credential_report import (
    in_path,
    match_slots,
    with_report_use,
)
from ansible_collections.keyguard.aws.plugins.module_utils._policy import (
    ACTIONS,
    DEFAULT_EXEMPT_TAG,
    MAX_GRACE_DAYS,
    MAX_USER_TAGS,
    TAG_KEY_RULE,
    Plan,
    Policy,
    User,
    failed,
    mark_key,
    marks_of,
    plan_user,
    qualifies,
    valid_tag_key,
)
from ansible_collections.keyguard.aws.plugins.module_utils._pool import (
    DEFAULT_CONCURRENCY,
    Stop,
    run_ordered,
    validate_concurrency,
)
from ansible_collections.keyguard.aws.plugins.module_utils._sweep import (
    MAX_DAYS,
    PATH_PREFIX_RULE,
    Sweep,
    read_keys,
    valid_path,
)

ARGUMENT_SPEC = dict(
    older_than_days=dict(type="int"),
    unused_for_days=dict(type="int"),
    grace_days=dict(type="int", default=0),
    exempt_tag=dict(type="str", default=DEFAULT_EXEMPT_TAG),
    exempt_users=dict(type="list", elements="str", default=[]),
    exempt_groups=dict(type="list", elements="str", default=[]),
    exempt_access_keys=dict(type="list", elements="str", default=[], no_log=False),
    path_prefix=dict(type="str"),
    source=dict(type="str", choices=["auto", "credential_report", "api"], default="auto"),
    concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
    **CONNECTION_ARGS,
)
POLICY_OPTIONS = (
    "older_than_days",
    "unused_for_days",
    "grace_days",
    "exempt_tag",
    "exempt_users",
    "exempt_groups",
    "exempt_access_keys",
    "path_prefix",
    "source",
)
NAME_PATTERN_RULE = "1 to 128 characters of letters, digits and _+=,.@- (no spaces)"


# --- validate --------------------------------------------------------------------------------------


def validate(params):
    """Raise KeyguardError naming the first option whose value cannot work, before any call."""
    if params["older_than_days"] is None and params["unused_for_days"] is None:
        raise KeyguardError(
            "Set older_than_days, unused_for_days or both: the policy needs to know which keys are stale."
        )
    for name in ("older_than_days", "unused_for_days"):
        if params[name] is not None and not 0 <= params[name] <= MAX_DAYS:
            raise KeyguardError(f"{name} must be from 0 to {MAX_DAYS} days (100 years), not {params[name]}.")
    if not 0 <= params["grace_days"] <= MAX_GRACE_DAYS:
        raise KeyguardError(
            f"grace_days must be from 0 (deactivate at once) to {MAX_GRACE_DAYS} days, not {params['grace_days']}."
        )
    if not valid_tag_key(params["exempt_tag"]):
        raise KeyguardError(f"exempt_tag must be an IAM tag key: {TAG_KEY_RULE}; got {params['exempt_tag']!r}.")
    if params["exempt_tag"].lower().startswith(mark_key("")):
        raise KeyguardError(f"exempt_tag must not start with {mark_key('')}, which names the deactivation marks.")
    for name in ("exempt_users", "exempt_groups"):
        for index, value in enumerate(params[name]):
            if not isinstance(value, str) or not USER_NAME_PATTERN.fullmatch(value):
                raise KeyguardError(
                    f"{name}[{index}] must be an IAM {name[7:-1]} name, {NAME_PATTERN_RULE}; got {value!r}."
                )
    for index, value in enumerate(params["exempt_access_keys"]):
        if not isinstance(value, str) or not ACCESS_KEY_ID_PATTERN.fullmatch(value):
            raise KeyguardError(
                f"exempt_access_keys[{index}] must be an access key ID, 16 to 128 letters, digits or underscores "
                f"like AKIAIOSFODNN7EXAMPLE; got {value!r}."
            )
    if params["path_prefix"] is not None and not valid_path(params["path_prefix"]):
        raise KeyguardError(f"path_prefix must be {PATH_PREFIX_RULE}; got {params['path_prefix']!r}.")
    validate_concurrency(params["concurrency"])
    validate_connection(params)


def policy_of(params):
    """Return the Policy the options ask for."""
    return Policy(
        older_than_days=params["older_than_days"],
        unused_for_days=params["unused_for_days"],
        grace_days=params["grace_days"],
        exempt_tag=params["exempt_tag"],
        exempt_users=tuple(params["exempt_users"]),
        exempt_groups=tuple(params["exempt_groups"]),
        exempt_access_keys=tuple(params["exempt_access_keys"]),
    )


# --- read ------------------------------------------------------------------------------------------


class Account:
    """What the read step found: the keys, the users' tags and groups, and the report's unlisted slots."""

    def __init__(self):
        self.keys = []  # every key listed fresh, with age and last use
        self.users = {}  # user name -> User, for every user whose tags were read
        self.unlisted_slots = []  # report slots of users never listed
        self.fresh = set()  # key IDs whose last use was read from IAM in this run


def read_account(sweep, params, policy, now):
    """Return the Account: the sweep, every user's tags (one paged call), fresh reads for what may be written."""
    tags_by_user = read_authorization_details(sweep, params)
    keys, slots = read_keys(sweep, sweep.params, now)
    keys = [key_age(key, now) for key in keys]
    users_gone = {entry["user_name"] for entry in sweep.skipped_keys if entry["access_key_id"] is None}
    listed_users = {key["user_name"] for key in keys} | users_gone
    if tags_by_user is not None:
        # Marks on users the sweep did not list: keys that no longer qualify, or were deleted; list them fresh.
        marked = sorted(name for name, user in tags_by_user.items() if marks_of(user.tags) and name not in listed_users)
        keys += [key_age(key, now) for key in sweep.list_keys(marked)]
        users_gone = {entry["user_name"] for entry in sweep.skipped_keys if entry["access_key_id"] is None}
        listed_users.update(marked)
    keys = with_known_use(keys, slots, now)
    account = Account()
    # Candidates by what is known so far (the report's last use, or none yet); their owners' tags decide exemptions.
    maybe = {key["access_key_id"]: key for key in keys if may_qualify(key, now, policy)}
    owners = sorted({key["user_name"] for key in maybe.values()})
    if tags_by_user is None:
        account.users = read_tags_fallback(sweep, owners, policy)
    else:
        account.users = {
            name: user for name, user in tags_by_user.items() if name in listed_users and name not in users_gone
        }
        missing = [name for name in owners if name not in account.users]  # created after the details were read
        account.users.update(read_tags_fallback(sweep, missing, policy) if missing else {})
    # A write is decided on a fresh GetAccessKeyLastUsed: for every key that may qualify, and every marked key.
    marked_ids = {key_id for user in account.users.values() for key_id in marks_of(user.tags)}
    confirm = [
        key
        for key in keys
        if key["status"] == "Active"
        and passes_age(key, now, policy)
        and (key["access_key_id"] in maybe or key["access_key_id"].upper() in marked_ids)
    ]
    answers = sweep.each(lambda key: get_access_key_last_used(sweep.client, key["access_key_id"]), confirm)
    fresh = {key["access_key_id"]: answer for key, answer in zip(confirm, answers) if answer is not None}
    gone = {key["access_key_id"] for key, answer in zip(confirm, answers) if answer is None}
    account.keys = [
        with_last_use(key, fresh[key["access_key_id"]], now) if key["access_key_id"] in fresh else key
        for key in keys
        if key["access_key_id"] not in gone
    ]
    account.fresh = set(fresh)
    in_scope = set(tags_by_user) if tags_by_user is not None else None
    account.unlisted_slots = unlisted(slots, listed_users, in_scope, params["path_prefix"])
    return account


def read_authorization_details(sweep, params):
    """Return {user name: User} for every user in scope, or None (with a warning) where the call is denied."""
    try:
        details = get_account_authorization_details(sweep.client)
    except KeyguardError as err:
        if not (err.code or "").startswith("AccessDenied"):
            raise
        sweep.warnings.append(
            "Read the candidates' tags with iam:ListUserTags because iam:GetAccountAuthorizationDetails was denied; "
            "deactivation marks on other users (keys used or deactivated since they were marked) cannot be seen, so "
            f"they cannot be cleared in this run. Grant iam:GetAccountAuthorizationDetails to fix it. ({err})"
        )
        return None
    prefix = params["path_prefix"] or "/"
    users = {
        user["user_name"]: User(user["user_name"], user["tags"], tuple(user["groups"]))
        for user in details
        if user["path"].startswith(prefix)  # the user's path now, not as the report saw it
    }
    sweep.warnings += unmatched_exemptions(users.values(), params)
    return users


def unmatched_exemptions(users, params):
    """Return a warning for each exempt_users or exempt_groups name that no user in scope matches.

    A misspelt break-glass group or user exempts nobody, and its keys go off like any other; say so.
    """
    where = f" under path_prefix {params['path_prefix']}" if params["path_prefix"] else ""
    names = {user.name.lower() for user in users}
    groups = {group.lower() for user in users for group in user.groups}
    warnings = [
        f"exempt_users names {name}, but no IAM user{where} of this account has that name, so it exempts no key."
        for name in params["exempt_users"]
        if name.lower() not in names
    ]
    warnings += [
        f"exempt_groups names {group}, but no IAM user{where} of this account is a member of that group, so it "
        "exempts no key."
        for group in params["exempt_groups"]
        if group.lower() not in groups
    ]
    return warnings


def read_tags_fallback(sweep, user_names, policy):
    """Return {user name: User} read with ListUserTags, and GetGroup for the exempt groups' members."""
    members = {}
    for group in policy.exempt_groups if user_names else ():
        try:
            names = get_group_members(sweep.client, group)
        except KeyguardError as err:
            if err.code != "NoSuchEntity":
                raise
            sweep.warnings.append(f"exempt_groups names {group}, which is not an IAM group of this account.")
            names = []
        for name in names:
            members.setdefault(name.lower(), []).append(group)
    tags = sweep.each(lambda name: list_user_tags(sweep.client, name), user_names)
    return {
        name: User(name, found, tuple(members.get(name.lower(), ())))
        for name, found in zip(user_names, tags)
        if found is not None
    }


def with_known_use(keys, slots, now):
    """Return the keys with last use from the report's slot where it is known for sure (no call); else unknown."""
    if slots is None:
        return keys
    by_user = {}
    for slot in slots:
        by_user.setdefault(slot.user_name, []).append(slot)
    mine = {}
    for key in keys:
        mine.setdefault(key["user_name"], []).append(key)
    known = {}
    for user_name, user_keys in mine.items():
        known.update(match_slots(user_keys, by_user.get(user_name, [])))
    return [
        dict(with_report_use(key, known[key["access_key_id"]], now), slot=known[key["access_key_id"]].number)
        if key["access_key_id"] in known
        else key
        for key in keys
    ]


def passes_age(key, now, policy):
    """Return whether the key passes older_than_days (or there is none)."""
    return qualifies(dict(key, last_used_date=None), now, policy._replace(unused_for_days=None))


def may_qualify(key, now, policy):
    """Return whether the key could qualify: it does on what is known, or its last use is not known yet."""
    if key["status"] != "Active" or not passes_age(key, now, policy):
        return False
    if policy.unused_for_days is None or "slot" not in key:  # no slot matched: last use not known yet
        return True
    return qualifies(key, now, policy)


def unlisted(slots, listed_users, in_scope, path_prefix):
    """Return the report's slots of users in scope that were never listed (each an entry without a key ID).

    In scope: users under path_prefix now, from the authorization details; without them, by the report's ARN.
    """
    if slots is None:
        return []
    return [
        slot
        for slot in slots
        if slot.user_name not in listed_users
        and (slot.user_name in in_scope if in_scope is not None else in_path(slot, path_prefix))
    ]


# --- compare ---------------------------------------------------------------------------------------


def plan_account(account, policy, now, protected):
    """Return [(User, [(key, Plan)])] for every listed user, sorted by user name."""
    by_user = {}
    for key in account.keys:
        by_user.setdefault(key["user_name"], []).append(key)
    for name in account.users:
        by_user.setdefault(name, [])
    plans = []
    for name in sorted(by_user):
        user = account.users.get(name) or User(name, {}, ())
        keys = sorted(by_user[name], key=lambda key: (key["create_date"] or "", key["access_key_id"]))
        plans.append(
            (user, [unconfirmed(key, plan, account) for key, plan in plan_user(user, keys, now, policy, protected)])
        )
    return plans


def unconfirmed(key, plan, account):
    """Return the plan, or a failed one for a key it would switch off or mark without a fresh last use."""
    writes_on_use = plan.deactivates or (plan.mark_after is not None and plan.marks)
    if not writes_on_use or key["access_key_id"] in account.fresh:
        return (key, plan)
    # Never reached by the read step, which confirms every key that may qualify; kept so a gap can never write.
    return (key, failed(plan, key, "its last use was not read fresh from IAM in this run"))


# --- apply -----------------------------------------------------------------------------------------


class Journal:
    """Every write of the run, in the order made; shared by the workers."""

    def __init__(self, account_id, check_mode):
        self.account_id = account_id
        self.check_mode = check_mode
        self.entries = []
        self._lock = threading.Lock()

    def status(self, user_name, access_key_id, before, after):
        """Record a status write."""
        self._add(dict(type="status", user_name=user_name, access_key_id=access_key_id, before=before, after=after))

    def tag(self, user_name, tag_key, before, after):
        """Record a tag write (before or after None: absent)."""
        self._add(dict(type="tag", user_name=user_name, tag_key=tag_key, before=before, after=after))

    def _add(self, entry):
        """Append one entry with the account and the time."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            self.entries.append(dict(account_id=self.account_id, time=now, **entry))


NOT_ATTEMPTED = "was not attempted: an earlier call failed in a way every call would"


def apply_user(client, user, plans, journal, check_mode, stop):
    """Make one user's writes: status first, then removed marks, then new marks. Return the plans as done.

    A write that fails turns that key's plan into `failed` with the reason; the user's other keys go on, unless the
    endpoint or the credentials failed (then `stop` is set and no further write starts, here or for other users).
    """
    spelled = {key_id: name for key_id, (name, _value) in marks_of(user.tags).items()}
    done = {}

    def write(index, what, send, record, status):
        """Send one write and record it; on failure mark the key failed with `what` and the error."""
        if stop.reason is not None:
            done[index] = write_failed(plans[index][1], NOT_ATTEMPTED, stop.reason, status)
            return
        try:
            if not check_mode:
                send()
            record()
        except KeyguardError as err:
            if is_endpoint_failure(err):
                stop.set(err)
            if err.code == "LimitExceeded":
                err = KeyguardError(f"user {user.name} holds {MAX_USER_TAGS} tags, IAM's limit ({err})", err.code)
            done[index] = write_failed(plans[index][1], what, err, status)

    for index, (key, plan) in enumerate(plans):
        if plan.deactivates:
            key_id = key["access_key_id"]
            write(
                index,
                "could not be deactivated",
                lambda key_id=key_id: update_access_key(client, key_id, "Inactive", user.name),
                lambda key_id=key_id, before=key["status"]: journal.status(user.name, key_id, before, "Inactive"),
                key["status"],
            )
    for index in sorted(range(len(plans)), key=lambda i: plans[i][1].mark_after is not None):  # removals free room
        key, plan = plans[index]
        if index in done or not plan.marks:
            continue
        tag_key = spelled.get(key["access_key_id"].upper()) or mark_key(key["access_key_id"])
        if plan.mark_after is None:
            send = functools.partial(untag_user, client, user.name, tag_key)
            what = (
                "was deactivated, but its mark could not be removed"
                if plan.deactivates
                else "could not have its mark removed"
            )
        else:
            send = functools.partial(tag_user, client, user.name, tag_key, plan.mark_after)
            what = "could not be marked"
        record = functools.partial(journal.tag, user.name, tag_key, plan.mark_before, plan.mark_after)
        write(index, what, send, record, "Inactive" if plan.deactivates else key["status"])
    return [(key, done.get(index, plan)) for index, (key, plan) in enumerate(plans)]


def write_failed(plan, what, err, status):
    """Return the failed Plan for a key whose write failed; status is the key's status after the run."""
    return Plan(
        "failed",
        f"The key {what}: {err}. The policy said: {plan.reason}",
        deadline=plan.deadline,
        status=status,
        mark_before=plan.mark_before,
        mark_after=plan.mark_before,
    )


def apply_plans(client, plans, journal, params, check_mode):
    """Make every user's writes on the task's workers; return the plans as done, and whether the run stopped."""
    writing = [
        index
        for index, (_user, user_plans) in enumerate(plans)
        if any(p.deactivates or p.marks for _k, p in user_plans)
    ]
    stop = Stop()
    outcomes = run_ordered(
        lambda index: apply_user(client, plans[index][0], plans[index][1], journal, check_mode, stop),
        writing,
        params["concurrency"],
        stop,
    )
    done = list(plans)
    for index, outcome in zip(writing, outcomes):
        user, user_plans = plans[index]
        if outcome.error is None and outcome.not_attempted is None:
            done[index] = (user, outcome.value)
            continue
        err = outcome.error or outcome.not_attempted
        why = NOT_ATTEMPTED if outcome.not_attempted else "failed"
        done[index] = (
            user,
            [
                (key, write_failed(plan, why, err, key["status"]) if plan.deactivates or plan.marks else plan)
                for key, plan in user_plans
            ],
        )
    return done


# --- report ----------------------------------------------------------------------------------------


def entry(key, plan, user_name, now, policy):
    """Return what the task reports for one key."""
    return dict(
        user_name=user_name,
        access_key_id=key["access_key_id"],
        slot=key.get("slot"),
        previous_status=key.get("status"),
        status=plan.status,
        create_date=key.get("create_date"),
        age_days=key.get("age_days"),
        last_used_date=key.get("last_used_date"),
        days_since_last_use=key.get("days_since_last_use"),
        action=plan.action,
        reason=plan.reason,
        deadline=plan.deadline,
        stale=qualifies(key, now, policy),
    )


def slot_entry(slot, now):
    """Return the entry for a key known only from the credential report: it could not qualify, so it was not listed."""
    created = slot.created
    since = slot.last_used_date or created
    status = "Active" if slot.active else "Inactive"
    return dict(
        user_name=slot.user_name,
        access_key_id=None,
        slot=slot.number,
        previous_status=status,
        status=status,
        create_date=created.astimezone(timezone.utc).isoformat() if created else None,
        age_days=(now - created).days if created else None,
        last_used_date=slot.last_used_date.astimezone(timezone.utc).isoformat() if slot.last_used_date else None,
        days_since_last_use=(now - since).days if since else None,
        action="none",
        reason="The credential report shows this key outside the policy (Inactive, recent or in use), so it was "
        "not listed; its ID is not in the report.",
        deadline=None,
        stale=False,
    )


def tags_after(user, user_plans):
    """Return the user's tags as they are after the run."""
    tags = dict(user.tags)
    spelled = {key_id: name for key_id, (name, _value) in marks_of(user.tags).items()}
    for key, plan in user_plans:
        if not plan.marks:
            continue
        name = spelled.get(key["access_key_id"].upper()) or mark_key(key["access_key_id"])
        if plan.mark_after is None:
            tags.pop(name, None)
        else:
            tags[name] = plan.mark_after
    return tags


def report(sweep, account, plans, journal, identity, params, now, policy):
    """Return (result, diff, failed entries)."""
    entries, notices = [], []
    before_diff, after_diff = {"access_keys": {}, "tags": {}}, {"access_keys": {}, "tags": {}}
    for user, user_plans in plans:
        news = []
        for key, plan in user_plans:
            item = entry(key, plan, user.name, now, policy)
            entries.append(item)
            if plan.action in ("warned", "deactivated"):
                news.append(dict(access_key_id=item["access_key_id"], action=plan.action, deadline=plan.deadline))
        if news:
            notices.append(dict(user_name=user.name, tags=tags_after(user, user_plans), keys=news))
    entries += [slot_entry(slot, now) for slot in account.unlisted_slots]
    entries.sort(key=lambda item: (item["user_name"] or "", item["create_date"] or "", item["access_key_id"] or ""))
    for change in journal.entries:
        where = "access_keys" if change["type"] == "status" else "tags"
        name = f"{change['user_name']}/{change['access_key_id']}" if where == "access_keys" else change["user_name"]
        if where == "access_keys":
            before_diff[where][name], after_diff[where][name] = change["before"], change["after"]
        else:
            before_diff[where].setdefault(name, {})[change["tag_key"]] = change["before"]
            after_diff[where].setdefault(name, {})[change["tag_key"]] = change["after"]
    counts = {action: 0 for action in ACTIONS}
    for item in entries:
        counts[item["action"]] += 1
    counts = dict(seen=len(entries), stale=sum(item.pop("stale") for item in entries), **counts)
    result = dict(
        changed=bool(journal.entries),
        account_id=identity[0],
        caller_arn=identity[1],
        policy={name: params[name] for name in POLICY_OPTIONS},
        source=sweep.source,
        access_keys=entries,
        counts=counts,
        journal=journal.entries,
        notices=notices,
        skipped_keys=sweep.skipped_keys,
    )
    if sweep.source == "credential_report":
        result["credential_report_generated"] = sweep.report_generated
    failed = [item for item in entries if item["action"] == "failed"]
    return result, dict(before=before_diff, after=after_diff), failed


def failure_message(failed, result, check_mode):
    """Return one line: how many keys failed and why (the first five), and what the run wrote."""
    named = "; ".join(f"{item['access_key_id'] or item['user_name']}: {item['reason']}" for item in failed[:5])
    more = f" and {len(failed) - 5} more (see access_keys)" if len(failed) > 5 else ""
    verb = "would make" if check_mode else "made"
    return (
        f"{len(failed)} of {result['counts']['seen']} access keys failed: {named}{more}. The run {verb} "
        f"{len(result['journal'])} other writes, listed in journal."
    )


def run_policy(connection, sts, params, check_mode, now):
    """Read, compare, apply; return (result, diff, failed entries)."""
    identity = get_caller_identity(sts)
    policy = policy_of(params)
    # The info module's read path, over the whole account (or path_prefix), whatever the keys' status.
    sweep = Sweep(connection.client, dict(params, all_users=True, status=None, include_last_used=False, user_name=None))
    account = read_account(sweep, params, policy, now)
    plans = plan_account(account, policy, now, connection.protected_key_ids)
    journal = Journal(identity[0], check_mode)
    plans = apply_plans(connection.client, plans, journal, params, check_mode)
    return sweep, report(sweep, account, plans, journal, identity, params, now, policy)


def main():
    """Run the module: validate, connect, read, compare, apply, report."""
    module = MaskedUrlModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **connection_rules())
    secrets = [module.params["secret_key"], module.params["session_token"]]
    try:
        validate(module.params)
        if not HAS_BOTOCORE:
            module.fail_json(msg=missing_required_lib("botocore"))
        connection, sts = connect_with_sts(module.params, max_pool_connections=module.params["concurrency"])
        secrets += connection.secrets
        sweep, (result, diff, failed) = run_policy(
            connection, sts, module.params, module.check_mode, datetime.now(timezone.utc)
        )
    except KeyguardError as err:
        module.fail_json(msg=redact(str(err), secrets))
    for warning in sweep.warnings:
        module.warn(redact(warning, secrets))
    if module._diff:
        result["diff"] = diff
    if failed:
        module.fail_json(msg=redact(failure_message(failed, result, module.check_mode), secrets), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
