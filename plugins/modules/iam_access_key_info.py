#!/usr/bin/python
# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_access_key_info
short_description: List IAM access keys with their age and last use, filtered for rotation and compliance
version_added: 0.1.0
description:
  - Lists the access keys of one IAM user, of the calling identity, or of every user in the account, with how old
    each key is and when it was last used.
  - Filters answer the usual compliance questions, for example keys unused for 45 days (CIS AWS Foundations
    1.12) or older than 90 days (CIS 1.14, AWS Config C(access-keys-rotated)).
  - The result can be passed as it is to the O(keyguard.aws.iam_access_key_status#module:access_keys) option of
    M(keyguard.aws.iam_access_key_status).
  - "API calls for one user or the caller: one C(ListAccessKeys), and one C(GetAccessKeyLastUsed) per key that is
    still selected after the O(status) and O(older_than_days) filters, when O(include_last_used) or
    O(unused_for_days) needs it."
  - "With O(all_users), the module reads the IAM credential report by default (O(source=auto)): one CSV that holds
    every user's key slots with their status, creation and last use. It pages C(ListUsers) (1000 users a page,
    under O(path_prefix)) to decide who is in scope now. It applies O(older_than_days) and O(unused_for_days) to the
    report, then calls C(ListAccessKeys) for the users with a key left (whatever the report says of its status), and
    for the users the report does not know by their name (created or renamed since). When a key created after the
    report could pass those filters (no age filter, or one shorter than the report's age), it lists every user's
    keys. It calls C(GetAccessKeyLastUsed) once for each key the report would select as unused for
    O(unused_for_days) (a candidate), and for each key the report cannot place (created after the report, or in the
    same second as its user's other key); never once per user. With O(source=api), or when the report cannot be
    had, it pages C(ListUsers), lists every user's keys, and calls C(GetAccessKeyLastUsed) once per key still
    selected after the O(status) and O(older_than_days) filters, when O(include_last_used) or O(unused_for_days)
    needs it."
  - "Per-user and per-key calls run on up to O(concurrency) threads that share one client; the result is the
    same, in the same order, whatever the concurrency."
  - "A user or key deleted while the sweep runs is left out and listed in RV(skipped_keys) with the reason; it never
    fails the task. So is, on the report path, a user the report placed in scope who was moved out of
    O(path_prefix), renamed or deleted since."
author:
  - keyguard.aws contributors (@keyguard-aws)
requirements:
  - python >= 3.11
  - botocore >= 1.35.0
options:
  user_name:
    description:
      - List this IAM user's keys. Without it and without O(all_users), the calling identity's own keys are listed.
    type: str
    aliases: [username]
  all_users:
    description:
      - List the keys of every IAM user in the account (or under O(path_prefix)).
    type: bool
    default: false
  path_prefix:
    description:
      - With O(all_users), only users whose path starts with this, for example V(/service/). C(ListUsers) gets it
        as C(PathPrefix), on the credential report path too (the users' paths now decide, not the report's ARNs).
      - A path starts and ends with V(/) and holds printable ASCII, at most 512 characters.
      - Useful when the caller's permissions end at C(user/service/*).
    type: str
  source:
    description:
      - Where O(all_users) reads the keys from.
      - V(credential_report) reads the IAM credential report (see the notes for how fresh it is) and fails if it
        cannot be had.
      - V(api) lists every user and key through the API.
      - V(auto) reads the report, and falls back to the API, with one warning naming the reason (a missing
        permission, a report that is not ready in time or cannot be parsed), when the report cannot be had.
      - Only with O(all_users); V(api) and V(credential_report) without it fail before any call.
    type: str
    choices: [auto, credential_report, api]
    default: auto
  concurrency:
    description:
      - How many per-user and per-key IAM calls may run at once, from 1 to 32.
      - IAM throttles calls per account; throttled calls are retried by botocore (see O(aws_config)). If other
        jobs share the account, or the task reports throttling, lower it; V(1) makes one call at a time.
    type: int
    default: 8
  status:
    description:
      - Only keys with this status.
    type: str
    choices: [Active, Inactive]
  older_than_days:
    description:
      - Only keys created more than this many days ago, from V(0) to V(36500) (100 years).
    type: int
  unused_for_days:
    description:
      - Only keys not used for more than this many days, from V(0) to V(36500) (100 years). A key never used counts
        from its creation.
      - Decided on IAM's fresh answer, whatever O(include_last_used) says. For one user, the caller, or
        O(source=api), one C(GetAccessKeyLastUsed) per key still selected after the O(status) and
        O(older_than_days) filters. On the credential report, one per key the report would select (its last use there
        is up to 4 hours old) and per key the report cannot place; a key the report saw used within the period needs
        no call, since last use only moves forward.
    type: int
  include_last_used:
    description:
      - Report when each key was last used, and by which service and region. For one user, the caller, or
        O(source=api), one C(GetAccessKeyLastUsed) per selected key. On the credential report, the report's last use
        (up to 4 hours old) for the keys it places, and one C(GetAccessKeyLastUsed) per key it cannot place and per
        O(unused_for_days) candidate.
      - When V(false) and O(unused_for_days) is unset, the RV(access_keys[].last_used_date) and related fields are null.
    type: bool
    default: true
extends_documentation_fragment:
  - keyguard.aws.connection
  - keyguard.aws.connection.modules
attributes:
  check_mode:
    support: full
    description: Reads only, so it runs unchanged in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
notes:
  - "Permissions: C(iam:ListAccessKeys); C(iam:GenerateCredentialReport), C(iam:GetCredentialReport) and
    C(iam:ListUsers) for O(all_users) with the report, and C(iam:GetAccessKeyLastUsed) there too with
    O(unused_for_days) or for keys made since the report; C(iam:ListUsers) and C(iam:GetAccessKeyLastUsed) for
    O(all_users) with the API, and C(iam:GetAccessKeyLastUsed) for last use of one user's keys."
  - IAM records a key's last use with a delay of up to a few hours, and only from April 22, 2015 onwards.
  - IAM builds a new credential report at most every 4 hours and serves the last one until then, so its status
    and last use can be up to 4 hours old (RV(credential_report_generated) says when it was made). The module
    guarantees on the report that every key that passes the filters now is reported. Status and creation come from a
    fresh C(ListAccessKeys); a key deactivated or reactivated since the report is judged by its status now; a key
    created since (by a new user or an old one) is listed whenever the filters could select it. The scope is the
    current C(ListUsers); a user moved into O(path_prefix) since is swept, one moved out is not, and one renamed is
    swept under its new name.
  - The report is trusted to say which keys to look at, never for the final word on last use. Every key it would
    select as unused for O(unused_for_days) is confirmed with a fresh C(GetAccessKeyLastUsed), and the fresh answer
    decides, so a key used after the report is never reported as unused. Without O(unused_for_days), the last use
    shown for a key the report places is the report's, up to 4 hours old; use O(source=api) to read it live.
  - C(ListUsers) never returns the account's root user, so the root user's keys, which CIS says must not exist,
    are reported only from the credential report, in RV(root_access_keys). IAM does not tell their IDs, so they
    cannot be passed to M(keyguard.aws.iam_access_key_status); delete them as the root user.
"""

EXAMPLES = r"""
- name: Report active keys nobody used for 45 days (CIS AWS Foundations 1.12)
  keyguard.aws.iam_access_key_info:
    all_users: true
    status: Active
    unused_for_days: 45
  register: stale

- name: Report keys older than 90 days, without last-use lookups
  keyguard.aws.iam_access_key_info:
    all_users: true
    older_than_days: 90
    include_last_used: false
  register: old

- name: Sweep only the service users, one call at a time (a shared account that is often throttled)
  keyguard.aws.iam_access_key_info:
    all_users: true
    path_prefix: /service/
    concurrency: 1
  register: service_keys

- name: Fail if the root user has any access key (CIS AWS Foundations 1.4); only the report can tell
  ansible.builtin.fail:
    msg: "The root user has {{ stale.root_access_keys | length }} access keys; see root_access_keys."
  when: stale.root_access_keys | default([], true) | length > 0

- name: Say so when the report could not tell (API path, or a report without a root row)
  ansible.builtin.debug:
    msg: Whether the root user has access keys is unknown in this run (root_access_keys is null).
  when: stale.root_access_keys is none

- name: Show one user's keys
  keyguard.aws.iam_access_key_info:
    user_name: deploy-bot
  register: deploy_bot_keys
"""

RETURN = r"""
access_keys:
  description:
    - The selected keys, sorted by user name, then creation date, then key ID.
  returned: always
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
      description: V(Active) or V(Inactive).
      type: str
      sample: Active
    create_date:
      description: When the key was created, ISO 8601 in UTC.
      type: str
      sample: "2026-08-01T09:30:00+00:00"
    age_days:
      description: Whole days since the key was created.
      type: int
      sample: 119
    last_used_date:
      description: When the key was last used, ISO 8601 in UTC; null if never used or not asked for.
      type: str
      sample: "2026-10-02T17:04:00+00:00"
    last_used_service:
      description: The service the key last called; null if never used or not asked for.
      type: str
      sample: s3
    last_used_region:
      description: The region the key last called; null if never used or not asked for.
      type: str
      sample: eu-west-1
    days_since_last_use:
      description: Whole days since the key was last used, or since it was created if never used; null if not asked for.
      type: int
      sample: 57
skipped_keys:
  description:
    - Users and keys deleted while the sweep ran, each with the reason. Such churn never fails the task.
    - On the credential report path, also each user the report placed in scope who has since been moved out of
      O(path_prefix) (not swept), renamed or moved (swept under the new name, which the reason gives) or deleted.
    - Named C(skipped) in earlier releases; renamed because Ansible reserves C(skipped) (a task that returned it
      showed as skipped).
  returned: always
  type: list
  elements: dict
  contains:
    user_name:
      description: The user, by the name it had (the report's name, for a user renamed since).
      type: str
      sample: departed-contractor
    access_key_id:
      description: The key, or null when the whole user was gone.
      type: str
      sample: AKIAIOSFODNN7EXAMPLE
    reason:
      description: Why it was left out.
      type: str
      sample: "the user was deleted while the sweep ran (IAM user 'departed-contractor' does not exist.)"
source:
  description: Where the keys were read from, V(credential_report) or V(api).
  returned: always
  type: str
  sample: credential_report
credential_report_generated:
  description: When IAM generated the credential report that was read, ISO 8601 in UTC.
  returned: when RV(source) is V(credential_report)
  type: str
  sample: "2026-11-28T09:00:00+00:00"
root_access_keys:
  description:
    - The account root user's access keys, from the credential report, whatever the filters. IAM does not tell
      their IDs. An empty list means the root user has none, as CIS asks.
    - Null when O(path_prefix) narrows the sweep, since the root user lies under no path.
    - Null also when the report has no C(<root_account>) row (every report AWS makes has one; a stand-in such as
      moto may not), since it then cannot tell whether the root user has keys.
  returned: when RV(source) is V(credential_report)
  type: list
  elements: dict
  contains:
    slot:
      description: The report's slot, V(1) or V(2).
      type: int
      sample: 1
    status:
      description: V(Active) or V(Inactive).
      type: str
      sample: Active
    create_date:
      description: When the key was created, ISO 8601 in UTC.
      type: str
      sample: "2020-05-05T12:00:00+00:00"
    last_used_date:
      description: When the key was last used, or null.
      type: str
      sample: "2026-11-20T08:00:00+00:00"
    last_used_service:
      description: The service it last called, or null.
      type: str
      sample: s3
    last_used_region:
      description: The region it last called, or null.
      type: str
      sample: us-east-1
"""

from datetime import datetime, timezone

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    STATUSES,
    USER_NAME_PATTERN,
    USER_NAME_RULE,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import (
    CONNECTION_ARGS,
    HAS_BOTOCORE,
    KeyguardError,
    MaskedUrlModule,
    connect,
    connection_rules,
    redact,
    validate_connection,
)
from ansible_collections.keyguard.aws.plugins.module_utils._pool import DEFAULT_CONCURRENCY, validate_concurrency
from ansible_collections.keyguard.aws.plugins.module_utils._sweep import (
    MAX_DAYS,
    PATH_PREFIX_RULE,
    Sweep,
    find_keys,
    valid_path,
)

SOURCES = ("auto", "credential_report", "api")
ARGUMENT_SPEC = dict(
    user_name=dict(type="str", aliases=["username"]),
    all_users=dict(type="bool", default=False),
    path_prefix=dict(type="str"),
    status=dict(type="str", choices=list(STATUSES)),
    older_than_days=dict(type="int"),
    unused_for_days=dict(type="int"),
    include_last_used=dict(type="bool", default=True),
    source=dict(type="str", choices=list(SOURCES), default="auto"),
    concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
    **CONNECTION_ARGS,
)


def validate(params):
    """Raise KeyguardError naming the first option whose value cannot work."""
    if params["user_name"] is not None and not USER_NAME_PATTERN.fullmatch(params["user_name"]):
        raise KeyguardError(f"user_name must be {USER_NAME_RULE}.")
    for name in ("older_than_days", "unused_for_days"):
        if params[name] is not None and not 0 <= params[name] <= MAX_DAYS:
            raise KeyguardError(f"{name} must be from 0 to {MAX_DAYS} days (100 years), not {params[name]}.")
    prefix = params["path_prefix"]
    if prefix is not None:
        if not params["all_users"]:
            raise KeyguardError("path_prefix works with all_users: true only; set all_users, or drop path_prefix.")
        if not (valid_path(prefix)):
            raise KeyguardError(f"path_prefix must be {PATH_PREFIX_RULE}; got {prefix!r}.")
    if params["source"] != "auto" and not params["all_users"]:
        # auto is the default, so it cannot tell whether the task set it; api and credential_report were chosen.
        raise KeyguardError(
            f"source: {params['source']} works with all_users: true only; set all_users, or drop source."
        )
    validate_concurrency(params["concurrency"])
    validate_connection(params)


def report(sweep, keys):
    """Return the module's result: the keys, what was skipped, and where the data came from."""
    result = dict(changed=False, access_keys=keys, skipped_keys=sweep.skipped_keys, source=sweep.source)
    if sweep.source == "credential_report":
        result.update(credential_report_generated=sweep.report_generated, root_access_keys=sweep.root_access_keys)
    return result


def main():
    """Run the module: validate, connect, read and filter, report."""
    module = MaskedUrlModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        **connection_rules(mutually_exclusive=[["user_name", "all_users"]]),
    )
    secrets = [module.params["secret_key"], module.params["session_token"]]
    try:
        validate(module.params)
        if not HAS_BOTOCORE:
            module.fail_json(msg=missing_required_lib("botocore"))
        connection = connect(module.params, max_pool_connections=module.params["concurrency"])
        secrets += connection.secrets
        sweep = Sweep(connection.client, module.params)
        keys = find_keys(sweep, module.params, datetime.now(timezone.utc))
    except KeyguardError as err:
        module.fail_json(msg=redact(str(err), secrets))
    for warning in sweep.warnings:
        module.warn(redact(warning, secrets))
    module.exit_json(**report(sweep, keys))


if __name__ == "__main__":
    main()
