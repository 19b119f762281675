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
  - "API calls: one C(ListAccessKeys) per user (plus C(ListUsers) pages with O(all_users)), and one
    C(GetAccessKeyLastUsed) per key that is still selected after the O(status) and O(older_than_days) filters,
    when O(include_last_used) or O(unused_for_days) needs it."
author:
  - Keyguard maintainers (!UNKNOWN)
options:
  user_name:
    description:
      - List this IAM user's keys. Without it and without O(all_users), the calling identity's own keys are listed.
    type: str
    aliases: [username]
  all_users:
    description:
      - List the keys of every IAM user in the account.
    type: bool
    default: false
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
      - Needs C(GetAccessKeyLastUsed) for each key, whatever O(include_last_used) says.
    type: int
  include_last_used:
    description:
      - Ask IAM when each key was last used, and by which service and region (one C(GetAccessKeyLastUsed) per key).
      - When V(false) and O(unused_for_days) is unset, the RV(access_keys[].last_used_date) and related fields are null.
    type: bool
    default: true
extends_documentation_fragment:
  - keyguard.aws.connection
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
  - "Permissions: C(iam:ListAccessKeys); C(iam:ListUsers) with O(all_users); C(iam:GetAccessKeyLastUsed) for last use."
  - IAM records a key's last use with a delay of up to a few hours, and only from April 22, 2015 onwards.
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
"""

from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    STATUSES,
    USER_NAME_PATTERN,
    USER_NAME_RULE,
    get_access_key_last_used,
    key_age,
    list_access_keys,
    list_users,
    select_keys,
    with_last_use,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import (
    CONNECTION_ARGS,
    HAS_BOTOCORE,
    KeyguardError,
    connect,
    connection_rules,
    redact,
    validate_connection,
)

ARGUMENT_SPEC = dict(
    user_name=dict(type="str", aliases=["username"]),
    all_users=dict(type="bool", default=False),
    status=dict(type="str", choices=list(STATUSES)),
    older_than_days=dict(type="int"),
    unused_for_days=dict(type="int"),
    include_last_used=dict(type="bool", default=True),
    **CONNECTION_ARGS,
)
# IAM started in 2010, so 100 years selects as much as any larger count; much larger ones overflow datetime.
MAX_DAYS = 36500


def validate(params):
    """Raise KeyguardError naming the first option whose value cannot work."""
    if params["user_name"] is not None and not USER_NAME_PATTERN.fullmatch(params["user_name"]):
        raise KeyguardError(f"user_name must be {USER_NAME_RULE}.")
    for name in ("older_than_days", "unused_for_days"):
        if params[name] is not None and not 0 <= params[name] <= MAX_DAYS:
            raise KeyguardError(f"{name} must be from 0 to {MAX_DAYS} days (100 years), not {params[name]}.")
    validate_connection(params)


def read_keys(client, params):
    """Return the keys in scope: one user's, every user's, or the calling identity's own."""
    if params["all_users"]:
        return [key for user_name in list_users(client) for key in list_access_keys(client, user_name)]
    if params["user_name"]:
        return list_access_keys(client, params["user_name"])
    try:
        return list_access_keys(client)
    except KeyguardError as err:
        if err.code in ("ValidationError", "NoSuchEntity"):
            raise KeyguardError(
                "These credentials are not an IAM user's, so they have no keys of their own to list. "
                "Set user_name, or all_users: true.",
                err.code,
            ) from None
        raise


def find_keys(client, params, now):
    """Read the keys in scope, look up last use where needed, and return the selected ones, sorted."""
    keys = [key_age(key, now) for key in read_keys(client, params)]
    keys = select_keys(keys, now, status=params["status"], older_than_days=params["older_than_days"])
    if params["include_last_used"] or params["unused_for_days"] is not None:
        keys = [with_last_use(key, get_access_key_last_used(client, key["access_key_id"]), now) for key in keys]
        keys = select_keys(keys, now, unused_for_days=params["unused_for_days"])
    return sorted(keys, key=lambda key: (key["user_name"] or "", key["create_date"] or "", key["access_key_id"]))


def main():
    """Run the module: validate, connect, read and filter, report."""
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        **connection_rules(mutually_exclusive=[["user_name", "all_users"]]),
    )
    secrets = [module.params["secret_key"], module.params["session_token"]]
    try:
        validate(module.params)
        if not HAS_BOTOCORE:
            module.fail_json(msg=missing_required_lib("botocore"))
        connection = connect(module.params)
        secrets += connection.secrets
        keys = find_keys(connection.client, module.params, datetime.now(timezone.utc))
    except KeyguardError as err:
        module.fail_json(msg=redact(str(err), secrets))
    module.exit_json(changed=False, access_keys=keys)


if __name__ == "__main__":
    main()
