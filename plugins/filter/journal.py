# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for undoing a sweep from its journal: the plan (what to put back, where) and the report. Pure, no I/O."""

from __future__ import annotations

import json
import re

ACCOUNT_ID = re.compile(r"[0-9]{12}")
STATUSES = ("Active", "Inactive")
ROLE_TEMPLATE = re.compile(r"arn:(aws(-[a-z]+)*|\{partition\}):iam::\{account_id\}:role/[A-Za-z0-9_+=,.@/-]{1,512}")
ROLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}")
PARTITION = re.compile(r"aws(-[a-z]+)*")


class JournalError(Exception):
    """Why the journal file cannot be undone, as one line."""


def journal_entries(text, name):
    """Return the journal's entries from the file's text: a list, a policy result, a saved file or a sweep report."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise JournalError(f"journal_file {name} is not JSON ({err}).") from None
    if isinstance(data, dict) and isinstance(data.get("keyguard_journals"), dict):
        data = data["keyguard_journals"]  # the AWX job's artifacts, saved as the job shows them
    if isinstance(data, dict) and data and all(artifact_entry(k, v) for k, v in data.items()):
        # The artifact keyguard_journals itself: {account ID: {check_mode, journal}}.
        if any(v.get("check_mode") is True for v in data.values()):
            raise JournalError(
                f"journal_file {name} holds the journals of a check-mode job: they list writes that were never made, "
                "so there is nothing to undo."
            )
        return [entry for value in data.values() for entry in value["journal"]]
    if isinstance(data, dict) and data.get("check_mode") is True:
        raise JournalError(
            f"journal_file {name} was saved by a check-mode run: it lists writes that were never made, so there is "
            "nothing to undo."
        )
    if isinstance(data, dict) and isinstance(data.get("journal"), list):
        return data["journal"]  # a registered policy result, or a file the sweep playbooks saved
    if isinstance(data, dict) and isinstance(data.get("accounts"), list):
        data = data["accounts"]  # a sweep report: its accounts' results
    if isinstance(data, list) and all(isinstance(e, dict) and "result" in e for e in data) and data:
        return [entry for account in data for entry in ((account.get("result") or {}).get("journal") or [])]
    if isinstance(data, list):
        return data
    raise JournalError(
        f"journal_file {name} holds no journal: give the journal list itself, the policy module's registered "
        "result (with its journal), a file the sweep playbooks saved, or their AWX artifact keyguard_journals."
    )


def artifact_entry(key, value):
    """Return whether (key, value) is one account of the AWX artifact keyguard_journals: {check_mode, journal}."""
    return bool(ACCOUNT_ID.fullmatch(str(key))) and isinstance(value, dict) and isinstance(value.get("journal"), list)


def check_entry(entry, index, name):
    """Raise JournalError unless the entry is a status or tag write as the policy module journals it."""
    where = f"journal_file {name}, entry {index}"
    if not isinstance(entry, dict):
        raise JournalError(f"{where} is not an object with account_id, type, before and after.")
    if entry.get("type") not in ("status", "tag"):
        raise JournalError(f"{where} has type {entry.get('type')!r}; a journal holds only status and tag writes.")
    account_id = entry.get("account_id")
    if not (isinstance(account_id, str) and ACCOUNT_ID.fullmatch(account_id)):
        raise JournalError(f"{where} has account_id {account_id!r}; it must be a 12-digit AWS account ID.")
    fields = ("user_name", "access_key_id") if entry["type"] == "status" else ("user_name", "tag_key")
    for field in fields:
        if not (isinstance(entry.get(field), str) and entry[field]):
            raise JournalError(f"{where} has no {field}.")
    for field in ("before", "after"):
        if field not in entry:
            raise JournalError(f"{where} has no {field}.")
        value = entry[field]
        if entry["type"] == "status" and value not in STATUSES:
            raise JournalError(f"{where} has {field} {value!r}; a status is Active or Inactive.")
        if entry["type"] == "tag" and not (value is None or isinstance(value, str)):
            raise JournalError(f"{where} has {field} {value!r}; a tag value is a string, or null for no tag.")


def resource(entry):
    """Return what the entry wrote to: one key's status, or one tag of one user (IAM user names ignore case)."""
    if entry["type"] == "status":
        return ("status", entry["account_id"], entry["access_key_id"])
    return ("tag", entry["account_id"], entry["user_name"].lower(), entry["tag_key"])


def role_for(account_id, accounts, options):
    """Return the role ARN to work in this account through ('' for the credentials' own account); raise if none fits."""
    template, home = options.get("role_arn_template") or "", options.get("home_account_id") or ""
    role_arn = options.get("account_role_arn") or ""
    if template and account_id != home:
        return template.replace("{account_id}", account_id).replace("{partition}", options.get("partition") or "aws")
    if template:
        return ""
    if role_arn:
        return role_arn
    if len(accounts) > 1:
        raise JournalError(
            f"The journal names {len(accounts)} accounts ({', '.join(accounts)}): set keyguard_role_arn_template "
            "(a role ARN with {account_id}) and keyguard_home_account_id (the account of these credentials), so "
            "that each account is worked on through its own role."
        )
    return ""


def check_options(accounts, options):
    """Raise JournalError naming the first role option that cannot work for these accounts."""
    template, home = options.get("role_arn_template") or "", options.get("home_account_id") or ""
    role_arn, partition = options.get("account_role_arn") or "", options.get("partition") or "aws"
    if template and not ROLE_TEMPLATE.fullmatch(template):
        raise JournalError(
            "keyguard_role_arn_template must be an IAM role ARN with {account_id} as its account, such as "
            "arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole."
        )
    if template and not ACCOUNT_ID.fullmatch(home):
        raise JournalError(
            "keyguard_home_account_id is required with keyguard_role_arn_template: the 12-digit account of the "
            "credentials this playbook runs with, where the journal is undone without a role."
        )
    if not PARTITION.fullmatch(partition):
        raise JournalError("keyguard_partition must be an AWS partition such as aws, aws-cn or aws-us-gov.")
    if role_arn and template:
        raise JournalError("Set account_role_arn or keyguard_role_arn_template, not both.")
    if role_arn:
        match = ROLE_ARN.fullmatch(role_arn)
        if not match:
            raise JournalError(f"account_role_arn must be an IAM role ARN, not {role_arn!r}.")
        if accounts != [match.group(2)]:
            raise JournalError(
                f"account_role_arn {role_arn} is in account {match.group(2)}, but the journal names "
                f"{', '.join(accounts)}; with accounts other than the role's, use keyguard_role_arn_template."
            )


def undo_plan(text, name="", role_arn_template="", home_account_id="", account_role_arn="", partition="aws"):
    """Return {"error": one line or None, "accounts": [...], "entries": n}: what to put back in each account.

    Each account has account_id, role_arn ('' for none), the compare-and-set items for the status module
    (to_active, to_inactive) and for iam_user_tags (tags), and `items`: every resource to restore, latest write first.
    """
    options = dict(
        role_arn_template=role_arn_template,
        home_account_id=str(home_account_id or ""),
        account_role_arn=account_role_arn,
        partition=partition,
    )
    try:
        entries = journal_entries(text, name)
        for index, entry in enumerate(entries):
            check_entry(entry, index, name)
        accounts = list(dict.fromkeys(entry["account_id"] for entry in entries))
        check_options(accounts, options)
        plans = {a: dict(account_id=a, role_arn=role_for(a, accounts, options), items=[]) for a in accounts}
        chains = {}
        # Latest write first: a resource written twice is put back to its first `before`, only where it still
        # holds its last `after`; the writes in between must chain, or the journal was edited or merged wrongly.
        for index in reversed(range(len(entries))):
            entry = entries[index]
            item = chains.get(resource(entry))
            if item is None:
                item = dict(entry, expected=entry["after"], restore=entry["before"], entries=[index])
                chains[resource(entry)] = item
                plans[entry["account_id"]]["items"].append(item)
                continue
            if entry["after"] != item["restore"]:
                raise JournalError(
                    f"journal_file {name}: entries {index} and {item['entries'][-1]} write the same "
                    f"{entry['type']} but do not follow on ({entry['after']!r} then {item['restore']!r} before it)."
                )
            item["restore"], item["entries"] = entry["before"], [*item["entries"], index]
    except JournalError as err:
        return dict(error=str(err), accounts=[], entries=0)
    for plan in plans.values():
        items = [item for item in plan.pop("items") if item["restore"] != item["expected"]]
        plan["items"] = [
            {
                k: item.get(k)
                for k in ("type", "user_name", "access_key_id", "tag_key", "expected", "restore", "entries")
            }
            for item in items
        ]
        plan["to_active"] = status_items(items, "Active")
        plan["to_inactive"] = status_items(items, "Inactive")
        plan["tags"] = [
            dict(user_name=i["user_name"], key=i["tag_key"], value=i["restore"], expected_value=i["expected"])
            for i in items
            if i["type"] == "tag"
        ]
    return dict(error=None, accounts=list(plans.values()), entries=len(entries))


def status_items(items, status):
    """Return the status module's compare-and-set items for the keys to put back to `status`."""
    return [
        dict(user_name=i["user_name"], access_key_id=i["access_key_id"], expected_status=i["expected"])
        for i in items
        if i["type"] == "status" and i["restore"] == status
    ]


def shown(value):
    """Return a tag value or status for a sentence: absent for None."""
    return "absent" if value is None else repr(value) if value == "" else value


def undo_report(plan, results, check_mode=False):
    """Return {account_id, restored, left_alone, failed} as sentences, one per item of the account's plan.

    results: the registered results of the account's tasks by name (tags, to_active, to_inactive); a task that
    was skipped or failed before reaching a key or tag is named as the reason that item was not restored.
    """
    found = {}
    for result in (results or {}).values():
        for key in (result or {}).get("access_keys") or []:
            found[("status", key.get("access_key_id"))] = key
        for tag in (result or {}).get("tags") or []:
            found[("tag", (tag.get("user_name") or "").lower(), tag.get("key"))] = tag
    restored, left_alone, failed = [], [], []
    for item in plan.get("items", []):
        if item["type"] == "status":
            what = f"key {item['access_key_id']} of {item['user_name']}"
            outcome = found.get(("status", item["access_key_id"]))
            now = (outcome or {}).get("status")
            task = (results or {}).get("to_active" if item["restore"] == "Active" else "to_inactive")
        else:
            what = f"tag {item['tag_key']} of {item['user_name']}"
            outcome = found.get(("tag", item["user_name"].lower(), item["tag_key"]))
            now = (outcome or {}).get("value")
            task = (results or {}).get("tags")
        target, expected = shown(item["restore"]), shown(item["expected"])
        if outcome is None:
            reason = (task or {}).get("msg") if (task or {}).get("failed") else "its task did not run"
            failed.append(f"{what}: not restored: {reason}")
        elif outcome.get("failed"):
            failed.append(f"{what}: not restored: {outcome.get('msg', 'failed')}")
        elif outcome.get("changed"):
            verb = "would restore" if check_mode else "restored"
            restored.append(f"{what}: {verb} {target} (was {expected})")
        elif outcome.get("conflict") and outcome.get("reason"):
            left_alone.append(f"{what}: left alone, it no longer exists ({outcome['reason']})")
        elif outcome.get("conflict") and now == item["restore"]:
            left_alone.append(f"{what}: already {target}, as before the sweep; nothing to do")
        elif outcome.get("conflict"):
            left_alone.append(
                f"{what}: left alone, it is {shown(now)}, not {expected} as the journal set it (changed since)"
            )
        else:
            left_alone.append(f"{what}: already {target}; nothing to do")
    return dict(account_id=plan.get("account_id"), restored=restored, left_alone=left_alone, failed=failed)


class FilterModule:
    """keyguard.aws.undo_plan and keyguard.aws.undo_report."""

    def filters(self):
        """Return the filters by name."""
        return {"undo_plan": undo_plan, "undo_report": undo_report}
