"""iam_access_key_status end to end: real ansible-playbook runs against a moto server on 127.0.0.1."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml
from harness import ADMIN_KEY, ADMIN_SECRET, STRANGER_KEY, STRANGER_SECRET, allow, assert_clean_failure

from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_status

LIST_ONLY = Counter(ListAccessKeys=1)
LIST_AND_UPDATE = Counter(ListAccessKeys=1, UpdateAccessKey=1)
LOOKUP = Counter(ListAccessKeys=2, GetAccessKeyLastUsed=1)
LOOKUP_AND_UPDATE = LOOKUP + Counter(UpdateAccessKey=1)


def assert_four_runs(ansible, moto, args, user, key_id, status, calls_when_changing, calls_when_unchanged):
    """Check, apply, check again, apply again: assert changed, returned key, calls and the server's state."""
    before = moto.status(user, key_id)
    assert before != status
    expected_key = {"access_key_id": key_id, "user_name": user, "status": status}

    first = ansible.run(args, check=True, diff=True)
    assert first.result["changed"] is True, first.stdout
    assert "[WARNING]" not in first.stdout
    assert first.result["access_key"] | expected_key == first.result["access_key"]
    assert first.result["previous_status"] == before
    assert first.result["diff"]["before"]["status"] == before
    assert first.result["diff"]["after"]["status"] == status
    assert first.calls == calls_when_unchanged  # the same reads, and no write
    assert moto.status(user, key_id) == before

    second = ansible.run(args, diff=True)
    assert second.result["changed"] is True
    assert second.result["access_key"] == first.result["access_key"]
    assert second.result["previous_status"] == before
    assert second.calls == calls_when_changing
    assert moto.status(user, key_id) == status

    for run in (ansible.run(args, check=True), ansible.run(args)):
        assert run.result["changed"] is False
        assert run.result["access_key"] == first.result["access_key"]
        assert run.result["previous_status"] == status
        assert run.calls == calls_when_unchanged
        assert moto.status(user, key_id) == status
    return second


# --- the four runs, on every path ----------------------------------------------------------------


@pytest.mark.matrix
def test_deactivate_with_user_name(ansible, moto):
    key = moto.user_with_key("bob")
    args = dict(user_name="bob", access_key_id=key["AccessKeyId"], status="Inactive", **ansible.connection())
    run = assert_four_runs(ansible, moto, args, "bob", key["AccessKeyId"], "Inactive", LIST_AND_UPDATE, LIST_ONLY)
    update = [params for action, params in run.requests if action == "UpdateAccessKey"]
    assert update == [
        {"UserName": "bob", "AccessKeyId": key["AccessKeyId"], "Status": "Inactive", "Version": "2010-05-08"}
    ]


def test_activate_with_user_name(ansible, moto):
    key = moto.user_with_key("bob", status="Inactive")
    args = dict(username="bob", id=key["AccessKeyId"], status="Active", **ansible.connection())
    assert_four_runs(ansible, moto, args, "bob", key["AccessKeyId"], "Active", LIST_AND_UPDATE, LIST_ONLY)


def test_implicit_user_signing_with_own_key(ansible, moto):
    signer = moto.user_with_key("carol")
    other = moto.add_key("carol")
    args = dict(access_key_id=other["AccessKeyId"], status="Inactive")
    args.update(ansible.connection(signer["AccessKeyId"], signer["SecretAccessKey"]))
    run = assert_four_runs(ansible, moto, args, "carol", other["AccessKeyId"], "Inactive", LIST_AND_UPDATE, LIST_ONLY)
    listing, update = run.requests
    assert listing == ("ListAccessKeys", {"Version": "2010-05-08"})  # the API's implicit user
    assert update == (
        "UpdateAccessKey",
        {"AccessKeyId": other["AccessKeyId"], "Status": "Inactive", "Version": "2010-05-08"},
    )


def test_owner_lookup_when_signing_as_a_non_user(ansible, moto):
    key = moto.user_with_key("bob")
    args = dict(
        access_key_id=key["AccessKeyId"], status="Inactive", **ansible.connection(STRANGER_KEY, STRANGER_SECRET)
    )
    run = assert_four_runs(ansible, moto, args, "bob", key["AccessKeyId"], "Inactive", LOOKUP_AND_UPDATE, LOOKUP)
    assert run.requests[-1] == (
        "UpdateAccessKey",
        {"UserName": "bob", "AccessKeyId": key["AccessKeyId"], "Status": "Inactive", "Version": "2010-05-08"},
    )


def test_owner_lookup_when_the_key_is_another_users(ansible, moto):
    signer = moto.user_with_key("dave")
    key = moto.user_with_key("bob")
    args = dict(access_key_id=key["AccessKeyId"], status="Inactive")
    args.update(ansible.connection(signer["AccessKeyId"], signer["SecretAccessKey"]))
    assert_four_runs(ansible, moto, args, "bob", key["AccessKeyId"], "Inactive", LOOKUP_AND_UPDATE, LOOKUP)


def test_no_region_and_endpoint_from_the_environment(ansible, moto):
    key = moto.user_with_key("bob")
    env = {"AWS_ENDPOINT_URL_IAM": moto.url, "AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET}
    run = ansible.run(dict(user_name="bob", access_key_id=key["AccessKeyId"], status="Inactive"), env=env)
    assert run.result["changed"] is True, run.stdout
    assert moto.status("bob", key["AccessKeyId"]) == "Inactive"


def test_module_defaults_group_sets_the_connection(ansible, moto, tmp_path):
    key = moto.user_with_key("bob")
    out = tmp_path / "grouped.json"
    playbook = f"""\
- name: Connection from module_defaults
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/keyguard.aws.aws:
      endpoint_url: {moto.url}
      access_key: {ADMIN_KEY}
      secret_key: {ADMIN_SECRET}
  tasks:
    - name: Deactivate
      keyguard.aws.iam_access_key_status:
        user_name: bob
        access_key_id: {key["AccessKeyId"]}
        status: Inactive
      register: result
    - name: Save
      ansible.builtin.copy:
        content: "{{{{ result | to_json }}}}"
        dest: {out}
        mode: "0600"
"""
    run = ansible.run(None, playbook=playbook)
    assert run.rc == 0, run.stdout
    assert moto.status("bob", key["AccessKeyId"]) == "Inactive"


def test_documented_examples_run(ansible, moto, tmp_path):
    """The EXAMPLES block, with its placeholder ids swapped for real ones, runs as written."""
    rotated = moto.user_with_key("deploy-bot")
    leaked = moto.user_with_key("intern")
    (tmp_path / "aws-config").write_text(
        f"[profile security-admin]\naws_access_key_id = {ADMIN_KEY}\naws_secret_access_key = {ADMIN_SECRET}\n"
    )
    examples = iam_access_key_status.EXAMPLES.replace("AKIAIOSFODNN7EXAMPLE", rotated["AccessKeyId"])
    examples = examples.replace("AKIAI44QH8DHBEXAMPLE", leaked["AccessKeyId"])
    play = [{"name": "EXAMPLES", "hosts": "localhost", "gather_facts": False, "tasks": yaml.safe_load(examples)}]
    env = {"AWS_ENDPOINT_URL_IAM": moto.url, "AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET}
    run = ansible.run(None, playbook=yaml.safe_dump(play), env=env)
    assert run.rc == 0, run.stdout
    assert "intern was Active, is now Inactive" in run.stdout
    assert moto.status("deploy-bot", rotated["AccessKeyId"]) == "Active"  # deactivated, then re-activated
    assert moto.status("intern", leaked["AccessKeyId"]) == "Inactive"
    assert run.calls["UpdateAccessKey"] == 3


# --- errors --------------------------------------------------------------------------------------


def test_bad_status_fails_before_any_call(ansible, moto):
    key = moto.user_with_key("bob")
    run = ansible.run(
        dict(user_name="bob", access_key_id=key["AccessKeyId"], status="inactive", **ansible.connection())
    )
    assert_clean_failure(run, "status", "Active, Inactive")
    assert run.calls == Counter()


def test_bad_access_key_id_fails_before_any_call(ansible, moto):
    run = ansible.run(dict(access_key_id="AKIA 123", status="Inactive", **ansible.connection()))
    assert_clean_failure(run, "access_key_id must be 16 to 128 letters, digits or underscores")
    assert run.calls == Counter()


def test_user_that_does_not_exist(ansible, moto):
    run = ansible.run(dict(user_name="ghost", access_key_id=STRANGER_KEY, status="Inactive", **ansible.connection()))
    assert_clean_failure(run, "IAM user 'ghost' does not exist.")
    assert run.calls == LIST_ONLY


def test_key_of_another_user_names_its_owner(ansible, moto):
    moto.user_with_key("bob")
    alice = moto.user_with_key("alice")
    run = ansible.run(
        dict(user_name="bob", access_key_id=alice["AccessKeyId"], status="Inactive", **ansible.connection())
    )
    assert_clean_failure(run, f"Access key {alice['AccessKeyId']} belongs to IAM user 'alice', not 'bob'")
    assert run.calls == Counter(ListAccessKeys=1, GetAccessKeyLastUsed=1)
    assert moto.status("alice", alice["AccessKeyId"]) == "Active"


def test_key_that_does_not_exist(ansible, moto):
    moto.user_with_key("bob")
    run = ansible.run(dict(user_name="bob", access_key_id=STRANGER_KEY, status="Inactive", **ansible.connection()))
    assert_clean_failure(run, f"Access key {STRANGER_KEY} does not exist")


def test_unknown_key_without_user_name_says_it_does_not_exist(ansible, moto):
    # Not an owner lookup that failed: IAM knows no such key (issue 16, item 12).
    run = ansible.run(
        dict(
            access_key_id="AKIAUNKNOWNKEY000001", status="Inactive", **ansible.connection(STRANGER_KEY, STRANGER_SECRET)
        )
    )
    assert_clean_failure(run, "Access key AKIAUNKNOWNKEY000001 does not exist in this account", "Check the key ID.")
    assert "owner could not be found" not in run.result["msg"]
    assert run.calls == Counter(ListAccessKeys=1, GetAccessKeyLastUsed=1)


@pytest.mark.matrix
def test_update_denied_names_the_action_and_changes_nothing(ansible, moto):
    target = moto.user_with_key("bob")
    reader = moto.user_with_key("reader", policy=allow("iam:ListAccessKeys"))
    moto.enforce_auth()
    args = dict(user_name="bob", access_key_id=target["AccessKeyId"], status="Inactive")
    run = ansible.run(dict(args, **ansible.connection(reader["AccessKeyId"], reader["SecretAccessKey"])))
    assert_clean_failure(run, "Access denied: these credentials may not call iam:UpdateAccessKey")
    moto.relax_auth()
    assert moto.status("bob", target["AccessKeyId"]) == "Active"


def test_list_denied_names_the_action(ansible, moto):
    target = moto.user_with_key("bob")
    writer = moto.user_with_key("writer", policy=allow("iam:UpdateAccessKey"))
    moto.enforce_auth()
    args = dict(user_name="bob", access_key_id=target["AccessKeyId"], status="Inactive")
    run = ansible.run(dict(args, **ansible.connection(writer["AccessKeyId"], writer["SecretAccessKey"])))
    assert_clean_failure(run, "Access denied: these credentials may not call iam:ListAccessKeys")
    assert run.calls == LIST_ONLY
    moto.relax_auth()
    assert moto.status("bob", target["AccessKeyId"]) == "Active"


def test_owner_lookup_denied_suggests_user_name(ansible, moto):
    target = moto.user_with_key("bob")
    caller = moto.user_with_key("ops", policy=allow("iam:ListAccessKeys", "iam:UpdateAccessKey"))
    moto.enforce_auth()
    args = dict(access_key_id=target["AccessKeyId"], status="Inactive")
    run = ansible.run(dict(args, **ansible.connection(caller["AccessKeyId"], caller["SecretAccessKey"])))
    assert_clean_failure(run, "iam:GetAccessKeyLastUsed", "Set user_name to the IAM user that owns it.")


def test_no_credentials(ansible, moto):
    run = ansible.run(dict(user_name="bob", access_key_id=STRANGER_KEY, status="Inactive", endpoint_url=moto.url))
    assert_clean_failure(run, "No AWS credentials found.")
    assert run.calls == Counter()
