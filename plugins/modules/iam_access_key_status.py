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
    there, or the caller is not an IAM user (temporary credentials), C(GetAccessKeyLastUsed) finds the key's
    owner. So a leaked key can be shut off knowing only its id.
  - Refuses to deactivate the very key that signs its own requests unless O(allow_self_deactivation=true).
author:
  - Keyguard maintainers (!UNKNOWN)
options:
  access_key_id:
    description:
      - The ID of the access key, 16 to 128 letters, digits or underscores (for example V(AKIAIOSFODNN7EXAMPLE)).
    type: str
    required: true
    aliases: [id]
  user_name:
    description:
      - The IAM user that owns the key, 1 to 128 characters of letters, digits and V(_+=,.@-).
      - When omitted, the module looks among the caller's own keys first, then asks IAM for the owner.
        Setting it saves API calls and is required if the caller may not call C(iam:GetAccessKeyLastUsed).
    type: str
    aliases: [username]
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
    type: bool
    default: false
extends_documentation_fragment:
  - keyguard.aws.connection
attributes:
  check_mode:
    support: full
    description: Makes the same reads, never writes, and returns the predicted O(status) in RV(access_key).
  diff_mode:
    support: full
    description: Returns the key's fields before and after the task.
  idempotent:
    support: full
    description: A key that already has O(status) is left alone and reported as unchanged.
notes:
  - IAM is eventually consistent. Right after a key is deactivated, requests signed with it can still
    succeed for a few seconds while the change propagates. The module reports the status it set and does
    not wait or re-read.
  - "Permissions: C(iam:ListAccessKeys) and C(iam:UpdateAccessKey); C(iam:GetAccessKeyLastUsed) when
    O(user_name) is omitted and the key is not the caller's own, or to name the owner in an error."
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
  returned: success
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
  returned: success
  type: str
  sample: Active
diff:
  description: The key's fields before and after the task.
  returned: success, in diff mode
  type: dict
  contains:
    before:
      description: The key before the task.
      type: dict
    after:
      description: The key after the task (predicted, in check mode).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    STATUSES,
    USER_NAME_PATTERN,
    locate_key,
    plan_status,
    update_access_key,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import (
    ACCESS_KEY_ID_PATTERN,
    CONNECTION_ARGS,
    CONNECTION_RULES,
    HAS_BOTOCORE,
    KeyguardError,
    connect,
    redact,
    validate_connection,
)

ARGUMENT_SPEC = dict(
    access_key_id=dict(type="str", required=True, aliases=["id"], no_log=False),
    user_name=dict(type="str", aliases=["username"]),
    status=dict(type="str", required=True, choices=list(STATUSES)),
    allow_self_deactivation=dict(type="bool", default=False),
    **CONNECTION_ARGS,
)


def validate(params):
    """Raise KeyguardError naming the first option whose value IAM would refuse."""
    if not ACCESS_KEY_ID_PATTERN.fullmatch(params["access_key_id"]):
        raise KeyguardError(
            "access_key_id must be 16 to 128 letters, digits or underscores, like AKIAIOSFODNN7EXAMPLE."
        )
    if params["user_name"] is not None and not USER_NAME_PATTERN.fullmatch(params["user_name"]):
        raise KeyguardError("user_name must be 1 to 128 characters of letters, digits and _+=,.@- (no spaces).")
    validate_connection(params)


def ensure_status(client, params, signing_key_id, check_mode):
    """Read the key, compare, update it if needed; return the result and the key before the task."""
    access_key_id, status = params["access_key_id"], params["status"]
    if status == "Inactive" and access_key_id == signing_key_id and not params["allow_self_deactivation"]:
        raise KeyguardError(
            f"Refusing to deactivate access key {access_key_id}: it signs this task's own requests, so "
            "deactivating it would lock these credentials out of AWS and nothing run with them could turn it "
            "back on. Run the task with other credentials, or set allow_self_deactivation: true if you mean it."
        )
    before, update_user_name = locate_key(client, access_key_id, params["user_name"])
    changed, after = plan_status(before, status)
    if changed and not check_mode:
        update_access_key(client, access_key_id, status, update_user_name)
    result = dict(changed=changed, access_key=after, previous_status=before["status"])
    return result, before


def main():
    """Run the module: validate, connect, ensure the status, report."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **CONNECTION_RULES)
    secrets = [module.params["secret_key"], module.params["session_token"]]
    try:
        validate(module.params)
        if not HAS_BOTOCORE:
            module.fail_json(msg=missing_required_lib("botocore"))
        client, credentials = connect(module.params)
        secrets += [credentials.secret_key, credentials.token]
        result, before = ensure_status(client, module.params, credentials.access_key, module.check_mode)
    except KeyguardError as err:
        module.fail_json(msg=redact(str(err), secrets))
    if module._diff:
        result["diff"] = dict(before=before, after=result["access_key"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
