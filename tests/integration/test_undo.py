"""playbooks/undo_sweep.yml end to end on moto: a journal put back exactly, and nothing else."""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest
from harness import ADMIN_KEY, ADMIN_SECRET, REPO

sys.path.insert(0, str(REPO / "tools"))
from moto_org import MotoOrganization  # noqa: E402
from test_policy import make_key, policy  # noqa: E402

UNDO = REPO / "playbooks" / "undo_sweep.yml"
ACCOUNT = "123456789012"  # moto's default account: the admin credentials' own
WRITES = ("UpdateAccessKey", "TagUser", "UntagUser")
MARK = "keyguard:deactivate-after:"


def env_for(moto):
    """Return the environment of a run: every AWS service at moto, the admin's keys as the credentials."""
    return {
        "AWS_ACCESS_KEY_ID": ADMIN_KEY,
        "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "AWS_ENDPOINT_URL": moto.url,
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
    }


def undo(ansible, journal_file, check=False, **extra):
    """Run undo_sweep.yml on the journal file; return (Run, its report or None, the first failure's msg or None)."""
    extra_vars = dict(journal_file=str(journal_file), **extra)
    run = ansible.run_file(UNDO, check=check, env=env_for(ansible.moto), extra_vars=extra_vars)
    return run, report_of(run.stdout), failure_of(run.stdout)


def results_after(stdout, marker):
    """Return every JSON result printed after `marker` lines (e.g. 'fatal: ['), in order."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := stdout.find(marker, at)) != -1:
        start = stdout.index("=> {", at) + 3
        result, end = decoder.raw_decode(stdout, start)
        found.append(result)
        at = end
    return found


def report_of(stdout):
    """Return the undo's report, {account_id: {restored, left_alone, failed}}, or None if it never ran."""
    if "TASK [Report restored, left alone and failed per account]" not in stdout:
        return None
    section = stdout.split("TASK [Report restored, left alone and failed per account]")[1]
    (result,) = results_after(section.split("TASK [")[0], "ok: [")
    return {account["account_id"]: account for account in result["msg"]}


def failure_of(stdout):
    """Return the msg of the first failed task, or None."""
    failed = results_after(stdout, "fatal: [")
    return failed[0]["msg"] if failed else None


def writes(run):
    """Return the write calls moto recorded during the run, by action."""
    return Counter({action: n for action, n in run.calls.items() if action in WRITES})


def status_entry(user, key_id, account=ACCOUNT, before="Active", after="Inactive"):
    """Return a status entry as the policy module journals it."""
    return dict(account_id=account, time="2026-12-01T10:00:00Z", type="status", user_name=user,
                access_key_id=key_id, before=before, after=after)  # fmt: skip


def tag_entry(user, tag_key, before, after, account=ACCOUNT):
    """Return a tag entry as the policy module journals it."""
    return dict(account_id=account, time="2026-12-01T10:00:00Z", type="tag", user_name=user, tag_key=tag_key,
                before=before, after=after)  # fmt: skip


@pytest.fixture
def swept(moto, tmp_path):
    """The state a sweep left, its journal written by hand, then one key and one tag changed by hand.

    keys0 and keys1 were deactivated; keys2 was deactivated and turned back on by hand since. warned got a deadline
    tag that someone has since moved; pending got one that is still as set; cleared had its tag removed.
    """
    keys = [moto.user_with_key(f"keys{i}", status="Inactive") for i in range(3)]
    moto.iam.update_access_key(UserName="keys2", AccessKeyId=keys[2]["AccessKeyId"], Status="Active")  # by hand
    marked = {name: moto.user_with_key(name)["AccessKeyId"] for name in ("warned", "pending", "cleared")}
    moto.iam.tag_user(UserName="warned", Tags=[{"Key": MARK + marked["warned"], "Value": "2027-01-31"}])  # by hand
    moto.iam.tag_user(UserName="pending", Tags=[{"Key": MARK + marked["pending"], "Value": "2026-12-31"},
                                                {"Key": "owner", "Value": "team-a"}])  # fmt: skip
    journal = [
        status_entry("keys0", keys[0]["AccessKeyId"]),
        tag_entry("warned", MARK + marked["warned"], None, "2026-12-31"),
        status_entry("keys1", keys[1]["AccessKeyId"]),
        tag_entry("pending", MARK + marked["pending"], None, "2026-12-31"),
        status_entry("keys2", keys[2]["AccessKeyId"]),
        tag_entry("cleared", MARK + marked["cleared"], "2026-11-15", None),
    ]
    path = tmp_path / "journal.json"
    path.write_text(json.dumps({"changed": True, "account_id": ACCOUNT, "journal": journal}))  # a registered result
    moto.clear_calls()
    return dict(keys=keys, marked=marked, path=path)


def tags_of(moto, user):
    """Return the user's tags as the server holds them."""
    return {t["Key"]: t["Value"] for t in moto.iam.list_user_tags(UserName=user)["Tags"]}


def test_undo_check_apply_again(ansible, moto, swept):
    keys, marked = swept["keys"], swept["marked"]
    ids = [k["AccessKeyId"] for k in keys]

    check, output, _failure = undo(ansible, swept["path"], check=True)
    assert check.rc == 0, check.stdout
    assert writes(check) == Counter()
    report = output[ACCOUNT]
    assert sorted(report["restored"]) == sorted([
        f"key {ids[0]} of keys0: would restore Active (was Inactive)",
        f"key {ids[1]} of keys1: would restore Active (was Inactive)",
        f"tag {MARK}{marked['pending']} of pending: would restore absent (was 2026-12-31)",
        f"tag {MARK}{marked['cleared']} of cleared: would restore 2026-11-15 (was absent)",
    ])  # fmt: skip
    assert sorted(report["left_alone"]) == sorted([
        f"key {ids[2]} of keys2: already Active, as before the sweep; nothing to do",
        f"tag {MARK}{marked['warned']} of warned: left alone, it is 2027-01-31, not 2026-12-31 as the journal set it "
        "(changed since)",
    ])  # fmt: skip
    assert report["failed"] == []
    assert moto.status("keys0", ids[0]) == "Inactive"
    assert MARK + marked["pending"] in tags_of(moto, "pending")

    apply, output, _failure = undo(ansible, swept["path"])
    assert apply.rc == 0, apply.stdout
    report = output[ACCOUNT]
    assert len(report["restored"]) == 4 and all(": restored " in line for line in report["restored"])
    assert len(report["left_alone"]) == 2 and report["failed"] == []
    # one UpdateAccessKey per key restored, one UntagUser and one TagUser for the two tags; keys2 and warned untouched
    assert writes(apply) == Counter(UpdateAccessKey=2, UntagUser=1, TagUser=1)
    assert [moto.status(f"keys{i}", ids[i]) for i in range(3)] == ["Active"] * 3
    assert tags_of(moto, "pending") == {"owner": "team-a"}
    assert tags_of(moto, "cleared") == {MARK + marked["cleared"]: "2026-11-15"}
    assert tags_of(moto, "warned") == {MARK + marked["warned"]: "2027-01-31"}  # changed by hand: left alone

    for again, output, _failure in (undo(ansible, swept["path"], check=True), undo(ansible, swept["path"])):
        assert again.rc == 0, again.stdout
        assert writes(again) == Counter()
        report = output[ACCOUNT]
        assert report["restored"] == [] and report["failed"] == []
        assert len(report["left_alone"]) == 6
        assert sum("as before the sweep; nothing to do" in line for line in report["left_alone"]) == 5


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "journal_file {path} does not exist or is not a file; give the path of a saved journal."),
        ("not json", "journal_file {path} is not JSON (Expecting value: line 1 column 1 (char 0))."),
        ('{"changed": true}', "journal_file {path} holds no journal: give the journal list itself"),
        (
            json.dumps([status_entry("bob", "AKIAIOSFODNN7EXAMPLE"), {"account_id": ACCOUNT, "type": "policy"}]),
            "journal_file {path}, entry 1 has type 'policy'; a journal holds only status and tag writes.",
        ),
        (
            json.dumps([status_entry("bob", "AKIAIOSFODNN7EXAMPLE", before="active")]),
            "journal_file {path}, entry 0 has before 'active'; a status is Active or Inactive.",
        ),
        (
            json.dumps({"check_mode": True, "journal": [status_entry("bob", "AKIAIOSFODNN7EXAMPLE")]}),
            "journal_file {path} was saved by a check-mode run",
        ),
        (
            json.dumps(
                [
                    status_entry("bob", "AKIAIOSFODNN7EXAMPLE", account="111111111111"),
                    status_entry("al", "AKIAI44QH8DHBEXAMPLE", account="222222222222"),
                ]
            ),  # fmt: skip
            "The journal names 2 accounts (111111111111, 222222222222): set keyguard_role_arn_template",
        ),
    ],
    ids=["missing", "not-json", "no-journal", "unknown-type", "bad-status", "check-mode", "two-accounts-no-role"],
)
def test_a_bad_journal_file_is_one_line_before_any_call(ansible, moto, tmp_path, content, message):
    path = tmp_path / "journal.json"
    if content is not None:
        path.write_text(content)
    run, _report, text = undo(ansible, path)
    assert run.rc != 0
    assert text.startswith(message.format(path=path)), text
    assert "\n" not in text
    assert run.calls == Counter()


# --- across accounts, through AssumeRole --------------------------------------------------------


def test_undo_across_accounts_through_each_accounts_role(ansible, moto, tmp_path):
    org = MotoOrganization(moto.url, ADMIN_KEY, ADMIN_SECRET)
    members = [org.account("alpha"), org.account("beta")]
    journal, keys = [], {}
    for account_id in members:
        iam = org.member(account_id)
        iam.create_user(UserName="robot")
        key_id = iam.create_access_key(UserName="robot")["AccessKey"]["AccessKeyId"]
        iam.update_access_key(UserName="robot", AccessKeyId=key_id, Status="Inactive")
        iam.tag_user(UserName="robot", Tags=[{"Key": MARK + key_id, "Value": "2026-12-31"}])
        keys[account_id] = key_id
        journal += [status_entry("robot", key_id, account=account_id),
                    tag_entry("robot", MARK + key_id, None, "2026-12-31", account=account_id)]  # fmt: skip
    home_key = moto.user_with_key("home-robot", status="Inactive")["AccessKeyId"]
    journal.append(status_entry("home-robot", home_key, account=org.management_id))
    path = tmp_path / "org-journal.json"
    path.write_text(json.dumps(journal))
    options = dict(
        keyguard_role_arn_template="arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        keyguard_home_account_id=org.management_id,
    )
    moto.clear_calls()

    check, report, failed = undo(ansible, path, check=True, **options)
    assert check.rc == 0, check.stdout
    assert writes(check) == Counter()
    assert set(report) == {*members, org.management_id}
    assert all(len(report[a]["restored"]) == 2 for a in members)
    assert org.keys(members[0])[keys[members[0]]] == ("robot", "Inactive")

    apply, report, failed = undo(ansible, path, **options)
    assert apply.rc == 0, apply.stdout
    assert failed is None
    # a role per member account and task (tags, then keys); none for the credentials' own account
    assert apply.calls["AssumeRole"] == 4
    roles = sorted(p["RoleArn"] for action, p in apply.requests if action == "AssumeRole")
    assert roles == sorted(org.role_arn(a) for a in members for _task in range(2))
    assert writes(apply) == Counter(UpdateAccessKey=3, UntagUser=2)
    for account_id in members:
        assert org.keys(account_id)[keys[account_id]] == ("robot", "Active")
        assert org.member(account_id).list_user_tags(UserName="robot")["Tags"] == []
        assert report[account_id]["restored"] == [
            f"tag {MARK}{keys[account_id]} of robot: restored absent (was 2026-12-31)",
            f"key {keys[account_id]} of robot: restored Active (was Inactive)",
        ]
    assert moto.status("home-robot", home_key) == "Active"

    again, report, failed = undo(ansible, path, **options)
    assert again.rc == 0 and writes(again) == Counter()
    assert all(report[a]["restored"] == [] for a in report)


def test_one_other_account_through_account_role_arn_must_be_that_accounts(ansible, moto, tmp_path):
    path = tmp_path / "journal.json"
    path.write_text(json.dumps([status_entry("robot", "AKIAIOSFODNN7EXAMPLE", account="210987654321")]))
    run, _report, text = undo(ansible, path, account_role_arn="arn:aws:iam::123456789012:role/Other")
    assert run.rc != 0
    assert text == (
        "account_role_arn arn:aws:iam::123456789012:role/Other is in account 123456789012, but the journal names "
        "210987654321; with accounts other than the role's, use keyguard_role_arn_template."
    )
    assert run.calls == Counter()


# --- a journal from a real policy run -----------------------------------------------------------


def test_undo_a_real_policy_run_deactivation_then_a_warning(ansible, moto, tmp_path):
    keys = {f"stale{i}": make_key(moto, f"stale{i}", 100, used_days_ago=60)["AccessKeyId"] for i in range(3)}
    swept = policy(ansible, unused_for_days=45)
    assert swept.result["counts"]["deactivated"] == 3, swept.stdout
    journal = tmp_path / "deactivated.json"
    journal.write_text(json.dumps(swept.result))  # the module's whole registered result
    moto.iam.update_access_key(UserName="stale2", AccessKeyId=keys["stale2"], Status="Active")  # by hand

    run, report, failed = undo(ansible, journal)
    assert run.rc == 0 and failed is None, run.stdout
    assert writes(run) == Counter(UpdateAccessKey=2)
    assert sorted(report[ACCOUNT]["restored"]) == sorted(
        f"key {keys[u]} of {u}: restored Active (was Inactive)" for u in ("stale0", "stale1")
    )
    assert report[ACCOUNT]["left_alone"] == [
        f"key {keys['stale2']} of stale2: already Active, as before the sweep; nothing to do"
    ]
    assert {moto.status(u, k) for u, k in keys.items()} == {"Active"}

    warned = policy(ansible, unused_for_days=45, grace_days=7)
    assert warned.result["counts"]["warned"] == 3, warned.stdout
    journal = tmp_path / "warned.json"
    journal.write_text(json.dumps(warned.result["journal"]))  # the journal list itself
    moto.iam.tag_user(UserName="stale1", Tags=[{"Key": MARK + keys["stale1"], "Value": "2099-01-01"}])  # extended

    run, report, failed = undo(ansible, journal)
    assert run.rc == 0 and failed is None, run.stdout
    assert writes(run) == Counter(UntagUser=2)
    assert tags_of(moto, "stale0") == {} and tags_of(moto, "stale2") == {}
    assert tags_of(moto, "stale1") == {MARK + keys["stale1"]: "2099-01-01"}
    (left,) = report[ACCOUNT]["left_alone"]
    assert left.startswith(f"tag {MARK}{keys['stale1']} of stale1: left alone, it is 2099-01-01, not ")


def test_a_journal_of_another_account_is_never_put_back_in_the_credentials_own(ansible, moto, tmp_path):
    # Without a role option the credentials' own account is used; a journal of another account (a file mixed up, a
    # role option forgotten) must not write there, even where a user of that name holds what the journal expects.
    key_id = moto.user_with_key("robot", status="Inactive")["AccessKeyId"]
    other = "210987654321"
    path = tmp_path / "journal.json"
    path.write_text(json.dumps([
        status_entry("robot", key_id, account=other),
        tag_entry("robot", MARK + key_id, "2026-12-16", None, account=other),
    ]))  # fmt: skip

    run, report, failed = undo(ansible, path)
    assert run.rc != 0
    assert writes(run) == Counter()
    assert moto.status("robot", key_id) == "Inactive" and tags_of(moto, "robot") == {}
    assert report[other]["restored"] == [] and len(report[other]["failed"]) == 2
    reason = f"account_id is {other}, but these credentials ("
    assert all(reason in line and f"are in account {ACCOUNT}, so nothing was written" in line
               for line in report[other]["failed"]), report[other]["failed"]  # fmt: skip
    assert failed.startswith(reason)  # the first task's own failure, one line
    assert f"2 writes not restored in account {other}: tag {MARK}{key_id} of robot: not restored: " in run.stdout


def test_keys_and_users_deleted_since_the_sweep_are_left_alone_and_reported_not_failed(ansible, moto, tmp_path):
    kept, deleted_key, gone_user = (moto.user_with_key(name, status="Inactive") for name in ("kept", "dk", "gone"))
    moto.iam.delete_access_key(UserName="dk", AccessKeyId=deleted_key["AccessKeyId"])  # cleaned up since the sweep
    moto.iam.delete_access_key(UserName="gone", AccessKeyId=gone_user["AccessKeyId"])
    moto.iam.delete_user(UserName="gone")
    journal = [
        status_entry("kept", kept["AccessKeyId"]),
        status_entry("dk", deleted_key["AccessKeyId"]),
        tag_entry("gone", MARK + gone_user["AccessKeyId"], "2026-11-30", None),
        status_entry("gone", gone_user["AccessKeyId"]),
    ]
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(journal))

    for check in (True, False, False):
        run, report, failed = undo(ansible, path, check=check)
        assert run.rc == 0 and failed is None, run.stdout
        left = sorted(report[ACCOUNT]["left_alone"])
        assert sorted(
            line.split(": left alone, it no longer exists (")[0] for line in left if "no longer" in line
        ) == sorted(
            [
                f"key {deleted_key['AccessKeyId']} of dk",
                f"key {gone_user['AccessKeyId']} of gone",
                f"tag {MARK}{gone_user['AccessKeyId']} of gone",
            ]
        )
        assert report[ACCOUNT]["failed"] == []
    assert writes(run) == Counter()  # the third run: kept is Active again, nothing left to do
    assert moto.status("kept", kept["AccessKeyId"]) == "Active"
