# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The floor a boto3 module cannot go below: import boto3, make an IAM client, call ListAccessKeys once."""

from __future__ import annotations

import boto3
from ansible.module_utils.basic import AnsibleModule


def main():
    """List the user's keys and return how many there are."""
    module = AnsibleModule(argument_spec=dict(user_name=dict(type="str", required=True)))
    keys = boto3.client("iam").list_access_keys(UserName=module.params["user_name"])["AccessKeyMetadata"]
    module.exit_json(changed=False, count=len(keys))


if __name__ == "__main__":
    main()
