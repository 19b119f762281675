#!/usr/bin/python
# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sweep_report
short_description: Write a sweep's evidence report, one HTML page with charts and a CSV of every key
version_added: 0.2.0
description:
  - Writes two files into O(dest) from the results of a sweep over one or many accounts
    (M(keyguard.aws.iam_access_key_policy), or M(keyguard.aws.iam_access_key_info) for a report-only sweep).
  - C(keyguard-report.html) is one self-contained page (inline CSS and SVG, no JavaScript, nothing fetched from the
    network) for people to read and print. It has the headline (when, where, by whom, the policy, accounts swept
    and failed with their reasons, keys seen, stale, deactivated, warned, pending, exempt and failed), a chart of
    keys by age split by status after the run, a chart of actions per account (the 25 busiest, the rest folded
    into one bar), a table of the accounts, and a table of every key acted on or exempted, account then user.
  - C(keyguard-keys.csv) lists every key seen, including those left alone, for auditors to filter in a spreadsheet.
  - Every value from AWS is escaped in the HTML; CSV cells that a spreadsheet would take for a formula are
    prefixed with an apostrophe.
  - Runs on the controller (or wherever it is delegated to) and makes no AWS call. The same input writes the same
    bytes, so a re-run with unchanged input changes nothing.
author:
  - keyguard.aws contributors (@keyguard-aws)
requirements:
  - python >= 3.11
options:
  dest:
    description:
      - The directory to write C(keyguard-report.html) and C(keyguard-keys.csv) into. It is created (mode V(0700))
        when missing.
      - A relative path is relative to the working directory of the module, which for a task on the controller
        (C(localhost), or C(delegate_to) it) is the one C(ansible-playbook) was started in. RV(html_path) and
        RV(csv_path) are absolute.
    type: path
    required: true
  accounts:
    description:
      - One entry per account swept, failed ones included.
    type: list
    elements: dict
    required: true
    suboptions:
      account_id:
        description: The account's 12-digit ID.
        type: str
        required: true
      account_name:
        description: The account's name, or null.
        type: str
      error:
        description: Why the account could not be swept (one line), or null when it was.
        type: str
      result:
        description:
          - The account's registered M(keyguard.aws.iam_access_key_policy) result, or null when the account failed
            before the policy returned one.
          - A policy task that failed on some keys still returns every key it saw; pass that result with the
            O(accounts[].error) too, so that its keys (and the writes it made) are in the report while the account
            counts as failed.
          - A M(keyguard.aws.iam_access_key_info) result is accepted too; its keys are reported with action
            V(none) (a report-only sweep), and a key counts as stale when it is V(Active) and passes
            O(run.policy)'s C(older_than_days) or C(unused_for_days).
          - An entry with neither a result nor an error is reported as not swept.
        type: dict
  run:
    description:
      - What the headline says about the run. Every field is optional.
    type: dict
    default: {}
    suboptions:
      started:
        description: When the sweep started, as text (ISO 8601 UTC is best).
        type: str
      finished:
        description: When the sweep finished.
        type: str
      caller_arn:
        description: Who ran the sweep. Without it, the headline lists the accounts' own caller ARNs.
        type: str
      policy:
        description:
          - The policy in force (the options the policy module returns in C(policy)). Without it, the first
            account's result's C(policy).
        type: dict
      scope:
        description: Where it ran, in words (for example the organization and the OUs); without it, the accounts.
        type: str
      controller:
        description: The host the sweep ran from.
        type: str
      check_mode:
        description: The sweep ran in check mode; the page then says it is a preview of what the sweep would do.
        type: bool
        default: false
  mode:
    description:
      - The mode of the two files. The report holds no secret, but it names every user and key in the accounts and
        which active keys nobody watches, so by default only the owner can read it.
    type: raw
    default: "0600"
  table_limit:
    description:
      - At most this many rows in the HTML table of keys acted on or exempted; the page says when rows were left
        out, and the CSV always lists every key. V(0) means no limit.
      - At 5,000 rows the page is about 1 MB and a browser shows it in about a second.
    type: int
    default: 10000
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; the result says which files would be written.
  diff_mode:
    support: none
    description: The files are reports of a megabyte or more; the result says which of them changed.
  idempotent:
    support: full
    description: The same input writes the same bytes; files that already hold them are left alone.
notes:
  - Pass the whole registered result of each account; the module reads only the keys the report needs.
  - In an organization sweep, build O(accounts) once on the controller after every account has finished (see
    the report guide), so that failed accounts are in the report too.
"""

EXAMPLES = r"""
- name: Apply the policy in this account
  keyguard.aws.iam_access_key_policy:
    unused_for_days: 45
    grace_days: 14
  register: policy

- name: Write the evidence report
  keyguard.aws.sweep_report:
    dest: "{{ playbook_dir }}/keyguard-reports/latest"
    accounts:
      - account_id: "{{ policy.account_id }}"
        result: "{{ policy }}"
    run:
      caller_arn: "{{ policy.caller_arn }}"
      check_mode: "{{ ansible_check_mode }}"
  check_mode: false  # a --check run still writes its preview report
  register: report

- name: Show the headline numbers in AWX
  ansible.builtin.set_stats:
    data:
      keyguard_report: "{{ report.headline | combine({'html': report.html_path, 'csv': report.csv_path}) }}"
"""

RETURN = r"""
html_path:
  description: The HTML report's absolute path.
  returned: always
  type: str
  sample: /runner/project/keyguard-reports/20261202T151000Z/keyguard-report.html
csv_path:
  description: The CSV's absolute path.
  returned: always
  type: str
  sample: /runner/project/keyguard-reports/20261202T151000Z/keyguard-keys.csv
written:
  description: The files written (in check mode, that would be written) because they were missing or different.
  returned: always
  type: list
  elements: str
sizes:
  description: The size in bytes of each file's content, by file name.
  returned: always
  type: dict
  sample: {keyguard-report.html: 48213, keyguard-keys.csv: 9120}
headline:
  description: The headline numbers, flat, ready for C(ansible.builtin.set_stats).
  returned: always
  type: dict
  contains:
    accounts_swept:
      description: Accounts whose sweep finished.
      type: int
    accounts_failed:
      description: Accounts that could not be swept.
      type: int
    keys_seen:
      description: Every key seen.
      type: int
    keys_stale:
      description: Keys the policy found stale.
      type: int
    keys_deactivated:
      description: Keys deactivated (in check mode, that would be).
      type: int
    keys_warned:
      description: Keys whose owners were warned.
      type: int
    keys_pending:
      description: Keys in their grace period.
      type: int
    keys_exempt:
      description: Keys exempted.
      type: int
    keys_cleared:
      description: Keys whose grace tag was cleared.
      type: int
    keys_failed:
      description: Keys the policy failed on.
      type: int
    keys_none:
      description: Keys left alone.
      type: int
    keys_skipped:
      description: Keys or users deleted while the sweep ran.
      type: int
  sample:
    accounts_swept: 3
    accounts_failed: 1
    keys_seen: 6
    keys_stale: 3
    keys_deactivated: 3
    keys_warned: 0
    keys_pending: 0
    keys_exempt: 0
    keys_cleared: 0
    keys_failed: 0
    keys_none: 3
    keys_skipped: 0
failed_accounts:
  description: The accounts that could not be swept, with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    account_id:
      description: The account ID.
      type: str
    account_name:
      description: The account name, or null.
      type: str
    error:
      description: Why.
      type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyguard.aws.plugins.module_utils._report import (
    ReportError,
    build,
    render_csv,
    render_html,
)

HTML_NAME = "keyguard-report.html"
CSV_NAME = "keyguard-keys.csv"
ARGUMENT_SPEC = dict(
    dest=dict(type="path", required=True),
    accounts=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            account_id=dict(type="str", required=True),
            account_name=dict(type="str"),
            error=dict(type="str"),
            result=dict(type="dict"),
        ),
    ),
    run=dict(
        type="dict",
        default={},
        options=dict(
            started=dict(type="str"),
            finished=dict(type="str"),
            caller_arn=dict(type="str"),
            policy=dict(type="dict"),
            scope=dict(type="str"),
            controller=dict(type="str"),
            check_mode=dict(type="bool", default=False),
        ),
    ),
    mode=dict(type="raw", default="0600"),
    table_limit=dict(type="int", default=10000),
)


def read_current(directory, names):
    """Return {name: bytes or None} of the files already in the directory."""
    current = {}
    for name in names:
        try:
            with open(os.path.join(directory, name), "rb") as handle:
                current[name] = handle.read()
        except FileNotFoundError:
            current[name] = None
    return current


def plan(current, wanted):
    """Return the names whose wanted content differs from what is on disk."""
    return [name for name, content in wanted.items() if current.get(name) != content]


def write_atomically(directory, name, content):
    """Write content to directory/name through a temporary file and a rename, so no reader sees half a report."""
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main():
    """Run the module: render, read what is on disk, compare, write what differs, report."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if params["table_limit"] < 0:
        module.fail_json(msg=f"table_limit must be 0 (no limit) or more rows, not {params['table_limit']}.")
    try:
        model = build(params["accounts"], params["run"])
    except ReportError as err:
        module.fail_json(msg=str(err))
    wanted = {
        HTML_NAME: render_html(model, params["table_limit"]).encode("utf-8"),
        CSV_NAME: render_csv(model).encode("utf-8"),
    }
    directory = os.path.abspath(params["dest"])  # relative to the controller's working directory, where it runs
    if os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg=f"dest must be a directory; {directory} is a file. Give a directory path.")
    written = plan(read_current(directory, wanted), wanted)
    changed = bool(written) or not os.path.isdir(directory)
    if not module.check_mode:
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            for name in written:
                write_atomically(directory, name, wanted[name])
        except OSError as err:
            module.fail_json(msg=f"Could not write the report into {directory}: {err}")
        for name in wanted:
            changed = module.set_mode_if_different(os.path.join(directory, name), params["mode"], changed)
    module.exit_json(
        changed=changed,
        html_path=os.path.join(directory, HTML_NAME),
        csv_path=os.path.join(directory, CSV_NAME),
        written=[os.path.join(directory, name) for name in written],
        sizes={name: len(content) for name, content in wanted.items()},
        headline=model["headline"],
        failed_accounts=[
            dict(account_id=s["account_id"], account_name=s["account_name"], error=s["error"])
            for s in model["accounts"]
            if s["error"]
        ],
    )


if __name__ == "__main__":
    main()
