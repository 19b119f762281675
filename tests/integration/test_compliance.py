"""iam_access_key_info and bulk status changes, end to end, on keys whose age and last use the tests control."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter

import pytest
import yaml
from harness import ADMIN_KEY, ADMIN_SECRET, REPO, STRANGER_KEY, STRANGER_SECRET, assert_clean_failure

from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_info

INFO = "keyguard.aws.iam_access_key_info"


def use_key(moto, key, days_ago):
    """Sign one request with the key while IAM's clock reads `days_ago` days back."""
    moto.days_ago(days_ago)
    moto.client(key["AccessKeyId"], key["SecretAccessKey"]).get_user()
    moto.days_ago(0)


def make_key(moto, user, created_days_ago, used_days_ago=None, status="Active"):
    """Create a user whose one key was made (and maybe last used) so many days ago; return the key."""
    moto.days_ago(created_days_ago)
    key = moto.user_with_key(user, status=status)
    moto.days_ago(0)
    if used_days_ago is not None:
        use_key(moto, key, used_days_ago)
    return key


@pytest.fixture
def fleet(moto):
    """Five users with one key each, of known age and last use."""
    return {
        "fresh": make_key(moto, "fresh", 0, used_days_ago=0),
        "stale": make_key(moto, "stale", 100, used_days_ago=60),
        "never": make_key(moto, "never", 50),
        "busy": make_key(moto, "busy", 120, used_days_ago=1),
        "off": make_key(moto, "off", 200, status="Inactive"),
    }


def info(ansible, **options):
    """Run iam_access_key_info as a task; return the Run."""
    return ansible.run(dict(options, **ansible.connection()), module=INFO)


def ids(keys):
    """Return the ids of keys as the module reports them, or as moto created them, in order."""
    return [key.get("access_key_id") or key["AccessKeyId"] for key in keys]


# moto has no STARTED-then-COMPLETE delay of its own: its first GenerateCredentialReport says STARTED, the next
# COMPLETE. Its report leaves last-used region and service "not_supported", which the module reports as null.
REPORT_CALLS = Counter(GenerateCredentialReport=2, GetCredentialReport=1)


@pytest.mark.parametrize("source", ["api", "credential_report", "auto"])
def test_unused_for_45_days(ansible, moto, fleet, source):
    run = info(ansible, all_users=True, status="Active", unused_for_days=45, source=source)
    assert run.result.get("failed") is not True, run.stdout
    assert ids(run.result["access_keys"]) == ids([fleet["never"], fleet["stale"]])  # sorted by user name
    never, stale = run.result["access_keys"]
    assert (never["age_days"], never["last_used_date"], never["days_since_last_use"]) == (50, None, 50)
    assert (stale["age_days"], stale["days_since_last_use"]) == (100, 60)
    assert run.result["skipped_keys"] == []
    # last use of a selected key is IAM's fresh answer on both paths (the report only picks the candidates)
    assert (stale["last_used_service"], stale["last_used_region"]) == ("iam", "us-east-1")
    if source == "api":
        assert run.result["source"] == "api"
        # one ListUsers, one ListAccessKeys per user, one GetAccessKeyLastUsed per *active* key only
        assert run.calls == Counter(ListUsers=1, ListAccessKeys=5, GetAccessKeyLastUsed=4)
    else:
        assert run.result["source"] == "credential_report"
        # moto's report has no <root_account> row: unknown, never [] (which would say the root user has no keys)
        assert run.result["root_access_keys"] is None
        # the report, one ListUsers (the scope is who exists now), one listing of each user with a slot unused for
        # 45 days, inactive "off" included (it may have been reactivated since the report), and the fresh last use
        # of each active candidate: the report picks them, IAM has the last word (busy and fresh need no call)
        assert run.calls == REPORT_CALLS + Counter(ListUsers=1, ListAccessKeys=3, GetAccessKeyLastUsed=2)


@pytest.mark.parametrize("source", ["api", "credential_report"])
def test_older_than_90_days_without_last_use(ansible, moto, fleet, source):
    run = info(ansible, all_users=True, older_than_days=90, include_last_used=False, source=source)
    assert ids(run.result["access_keys"]) == ids([fleet["busy"], fleet["off"], fleet["stale"]])
    assert {key["last_used_date"] for key in run.result["access_keys"]} == {None}
    assert {key["days_since_last_use"] for key in run.result["access_keys"]} == {None}
    if source == "api":
        assert run.calls == Counter(ListUsers=1, ListAccessKeys=5)
    else:
        assert run.calls == REPORT_CALLS + Counter(ListUsers=1, ListAccessKeys=3)


@pytest.mark.matrix
def test_one_user_with_every_field(ansible, moto, fleet):
    run = info(ansible, user_name="busy")
    (key,) = run.result["access_keys"]
    assert set(key) == {
        "access_key_id",
        "user_name",
        "status",
        "create_date",
        "age_days",
        "last_used_date",
        "last_used_service",
        "last_used_region",
        "days_since_last_use",
    }
    assert (key["user_name"], key["status"], key["age_days"], key["days_since_last_use"]) == ("busy", "Active", 120, 1)
    assert run.result["changed"] is False
    assert run.calls == Counter(ListAccessKeys=1, GetAccessKeyLastUsed=1)


def test_callers_own_keys(ansible, moto, fleet):
    fresh = fleet["fresh"]
    run = ansible.run(dict(ansible.connection(fresh["AccessKeyId"], fresh["SecretAccessKey"])), module=INFO)
    assert ids(run.result["access_keys"]) == [fresh["AccessKeyId"]]


def test_callers_own_keys_when_not_a_user(ansible, moto):
    run = ansible.run(dict(ansible.connection(STRANGER_KEY, STRANGER_SECRET)), module=INFO)
    assert_clean_failure(run, "not an IAM user's", "Set user_name, or all_users: true.")


def test_info_runs_in_check_mode(ansible, moto, fleet):
    run = ansible.run(dict(user_name="stale", **ansible.connection()), module=INFO, check=True)
    assert ids(run.result["access_keys"]) == [fleet["stale"]["AccessKeyId"]]


def test_info_names_a_missing_user_as_the_status_module_does(ansible, moto):
    run = info(ansible, user_name="nobody")
    assert_clean_failure(run, "IAM user 'nobody' does not exist.")
    assert "ListAccessKeys failed" not in run.result["msg"]
    status = ansible.run(
        dict(user_name="nobody", access_key_id="AKIAIOSFODNN7EXAMPLE", status="Inactive", **ansible.connection())
    )
    assert status.result["msg"] == run.result["msg"]
    assert run.calls == Counter(ListAccessKeys=1)


def test_info_bad_options(ansible, moto):
    run = ansible.run(dict(user_name="stale", all_users=True, **ansible.connection()), module=INFO)
    assert_clean_failure(run, "mutually exclusive: user_name|all_users")
    for name, days in (("unused_for_days", -1), ("older_than_days", 1000000), ("unused_for_days", 10000000000)):
        run = ansible.run({name: days, **ansible.connection()}, module=INFO)
        assert_clean_failure(run, f"{name} must be from 0 to 36500 days (100 years), not {days}.")
        assert run.calls == Counter()


# --- bulk ----------------------------------------------------------------------------------------


@pytest.mark.matrix
def test_bulk_four_runs_with_exact_calls(ansible, moto):
    keys = [moto.user_with_key(f"user{i}") for i in range(3)]
    extra = moto.add_key("user0")
    items = [{"access_key_id": k["AccessKeyId"], "user_name": f"user{i}"} for i, k in enumerate(keys)]
    items.append({"access_key_id": extra["AccessKeyId"], "user_name": "user0"})
    args = dict(access_keys=items, status="Inactive", **ansible.connection())

    check = ansible.run(args, check=True, diff=True)
    assert check.result["changed"] is True, check.stdout
    assert [k["status"] for k in check.result["access_keys"]] == ["Inactive"] * 4
    assert [k["status"] for k in check.result["diff"]["before"]["access_keys"]] == ["Active"] * 4
    assert check.calls == Counter(ListAccessKeys=3)  # one per distinct user, no writes
    assert moto.status("user0", extra["AccessKeyId"]) == "Active"

    apply = ansible.run(args)
    assert apply.result["changed"] is True
    assert apply.calls == Counter(ListAccessKeys=3, UpdateAccessKey=4)
    assert [moto.status(f"user{i}", k["AccessKeyId"]) for i, k in enumerate(keys)] == ["Inactive"] * 3

    for run in (ansible.run(args, check=True), ansible.run(args)):
        assert run.result["changed"] is False
        assert [k["changed"] for k in run.result["access_keys"]] == [False] * 4
        assert run.calls == Counter(ListAccessKeys=3)


def test_bulk_mixed_users_unknown_owners_and_a_missing_key(ansible, moto):
    bob = moto.user_with_key("bob")
    alice = moto.user_with_key("alice")
    orphan = moto.user_with_key("carol")  # given without a user name: its owner is looked up
    items = [
        {"access_key_id": bob["AccessKeyId"], "user_name": "bob"},
        {"access_key_id": "AKIANOSUCHKEY0000001", "user_name": "bob"},
        {"access_key_id": orphan["AccessKeyId"]},
        {"access_key_id": alice["AccessKeyId"], "user_name": "alice"},
    ]
    run = ansible.run(dict(access_keys=items, status="Inactive", **ansible.connection(STRANGER_KEY, STRANGER_SECRET)))
    assert_clean_failure(
        run, "1 of 4 access keys failed: AKIANOSUCHKEY0000001: Access key AKIANOSUCHKEY0000001 does not exist"
    )
    assert run.result["msg"].endswith(
        f"The task changed the others as asked: {bob['AccessKeyId']}, {orphan['AccessKeyId']}, {alice['AccessKeyId']}."
    )
    assert run.result["changed"] is True
    assert [k.get("failed", False) for k in run.result["access_keys"]] == [False, True, False, False]
    assert run.result["access_keys"][2]["user_name"] == "carol"
    assert [moto.status(u, k["AccessKeyId"]) for u, k in (("bob", bob), ("carol", orphan), ("alice", alice))] == [
        "Inactive"
    ] * 3
    # bob and alice listed once each, the caller's own keys once, carol's after the owner lookup
    assert run.calls == Counter(ListAccessKeys=4, GetAccessKeyLastUsed=2, UpdateAccessKey=3)


def test_bulk_guard_protects_the_signing_key(ansible, moto):
    signer = moto.user_with_key("ops")
    other = moto.user_with_key("bob")
    items = [{"access_key_id": other["AccessKeyId"], "user_name": "bob"}, {"access_key_id": signer["AccessKeyId"]}]
    run = ansible.run(
        dict(
            access_keys=items, status="Inactive", **ansible.connection(signer["AccessKeyId"], signer["SecretAccessKey"])
        )
    )
    assert_clean_failure(run, f"Refusing to deactivate access key {signer['AccessKeyId']}")
    assert run.calls == Counter()
    assert moto.status("bob", other["AccessKeyId"]) == "Active"


# --- the example playbooks, as a person would run them -------------------------------------------

AWS_ENV = {"AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET}


def playbook(ansible, name, check=False, **extra_vars):
    """Run one of playbooks/ against moto, connection from the environment; return the Run.

    Journals and reports go to the test's own directory, never the working directory. The custom stats (set_stats)
    are printed at the end.
    """
    env = dict(AWS_ENV, AWS_ENDPOINT_URL_IAM=ansible.moto.url, AWS_ENDPOINT_URL_STS=ansible.moto.url)
    env.update(ANSIBLE_SHOW_CUSTOM_STATS="true")
    extra_vars.setdefault("keyguard_journal_dir", str(ansible.workdir / "journals"))
    extra_vars.setdefault("keyguard_report_dir", str(ansible.workdir / "reports"))
    return ansible.run_file(REPO / "playbooks" / name, check=check, env=env, extra_vars=extra_vars)


def custom_stats(stdout):
    """Return the set_stats data that ansible-playbook printed after the recap (ANSIBLE_SHOW_CUSTOM_STATS)."""
    text = stdout.split("CUSTOM STATS:", 1)[1]
    match = re.search(r"RUN: (\{.*\})\s*$", text, re.MULTILINE | re.DOTALL)
    return json.loads(match.group(1))


def report_rows(directory):
    """Return the sweep report CSV's rows in the directory, by user (one key each here), and the page's text.

    On the credential report path a key the policy did not act on has no key ID in the CSV, only its slot.
    """
    with open(directory / "keyguard-keys.csv", newline="", encoding="utf-8") as handle:
        rows = {row["user_name"]: row for row in csv.DictReader(handle)}
    return rows, (directory / "keyguard-report.html").read_text(encoding="utf-8")


def test_cis_sweep_report_apply_rerun(ansible, moto, fleet):
    journals = ansible.workdir / "journals"
    reports = ansible.workdir / "reports"
    report = playbook(ansible, "cis_unused_keys.yml", check=True, keyguard_report_dir=str(reports / "check"))
    assert report.rc == 0, report.stdout
    assert re.search(rf"never {fleet['never']['AccessKeyId']}: 50 days unused \(last used never", report.stdout)
    assert re.search(rf"stale {fleet['stale']['AccessKeyId']}: 60 days unused", report.stdout)
    assert "2 of 2 stale keys would be deactivated (check mode: nothing changed)" in report.stdout  # predicted
    assert "UpdateAccessKey" not in report.calls
    assert moto.status("stale", fleet["stale"]["AccessKeyId"]) == "Active"
    assert not journals.exists()  # check mode made no writes, so it saves no journal
    assert (
        Counter({a: n for a, n in report.calls.items() if a in ("UpdateAccessKey", "TagUser", "UntagUser")})
        == Counter()
    )
    # A --check run writes its preview report: the predicted statuses, marked as a preview on the page.
    rows, page = report_rows(reports / "check")
    assert set(rows) == set(fleet)  # every key seen, those left alone too
    assert {rows[u]["access_key_id"] for u in ("stale", "never")} == {
        fleet[u]["AccessKeyId"] for u in ("stale", "never")
    }
    predicted = {user: (row["status_before"], row["status_after"]) for user, row in rows.items()}
    assert predicted == {
        "fresh": ("Active", "Active"),
        "stale": ("Active", "Inactive"),
        "never": ("Active", "Inactive"),
        "busy": ("Active", "Active"),
        "off": ("Inactive", "Inactive"),
    }
    assert 'id="preview">Preview (check mode): nothing was changed.' in page
    stats = custom_stats(report.stdout)["keyguard_report"]
    assert (stats["check_mode"], stats["keys_seen"], stats["keys_stale"], stats["keys_deactivated"]) == (True, 5, 2, 2)
    assert stats["html"] == str(reports / "check" / "keyguard-report.html")
    assert f"Sweep report (check mode: a preview, nothing changed): {stats['html']}" in " ".join(report.stdout.split())

    applied = playbook(ansible, "cis_unused_keys.yml", keyguard_report_dir=str(reports / "apply"))
    assert applied.rc == 0, applied.stdout
    assert "2 of 2 stale keys deactivated; 0 warned, 0 pending, 0 exempt, 0 cleared" in applied.stdout
    assert [moto.status(u, fleet[u]["AccessKeyId"]) for u in ("never", "stale", "busy", "fresh")] == [
        "Inactive",
        "Inactive",
        "Active",
        "Active",
    ]
    (saved,) = journals.iterdir()
    assert re.fullmatch(r"123456789012-\d{8}T\d{12}Z\.json", saved.name)
    assert saved.stat().st_mode & 0o777 == 0o600
    assert journals.stat().st_mode & 0o777 == 0o700
    content = json.loads(saved.read_text())
    assert (content["account_id"], content["check_mode"]) == ("123456789012", False)
    assert sorted((e["type"], e["user_name"], e["before"], e["after"]) for e in content["journal"]) == [
        ("status", "never", "Active", "Inactive"),
        ("status", "stale", "Active", "Inactive"),
    ]
    assert f"undo with playbooks/undo_sweep.yml -e journal_file={saved}" in " ".join(applied.stdout.split())
    # The report says what the server now holds, key by key, and what was done to each.
    rows, page = report_rows(reports / "apply")
    assert {user: row["status_after"] for user, row in rows.items()} == {
        user: moto.status(user, key["AccessKeyId"]) for user, key in fleet.items()
    }
    deactivated = {(e["user_name"], e["access_key_id"]) for e in content["journal"]}
    assert {(u, r["access_key_id"]) for u, r in rows.items() if r["action"] == "deactivated"} == deactivated
    assert 'id="preview"' not in page
    stats = custom_stats(applied.stdout)["keyguard_report"]
    assert (stats["check_mode"], stats["keys_seen"], stats["keys_deactivated"], stats["accounts_swept"]) == (
        False,
        5,
        2,
        1,
    )

    again = playbook(ansible, "cis_unused_keys.yml", keyguard_report_dir=str(reports / "again"))
    assert again.rc == 0, again.stdout
    assert "0 of 0 stale keys deactivated" in again.stdout
    # changed=0 although the report was written to a new directory: the recap's changes are keys only
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", again.stdout)
    assert (reports / "again" / "keyguard-report.html").is_file()
    assert len(list(journals.iterdir())) == 1  # nothing written, no new journal


def test_cis_sweep_with_grace_and_exemptions(ansible, moto, fleet):
    """grace_days warns first (a tag, no deactivation); exempt_users is passed through to the policy."""
    run = playbook(ansible, "cis_unused_keys.yml", grace_days=14, exempt_users=["never"])
    assert run.rc == 0, run.stdout
    assert "0 of 2 stale keys deactivated; 1 warned, 0 pending, 1 exempt, 0 cleared" in run.stdout, run.stdout
    assert [moto.status(u, fleet[u]["AccessKeyId"]) for u in ("never", "stale")] == ["Active", "Active"]
    tags = moto.iam.list_user_tags(UserName="stale")["Tags"]
    assert [t["Key"] for t in tags] == [f"keyguard:deactivate-after:{fleet['stale']['AccessKeyId']}"]
    assert moto.iam.list_user_tags(UserName="never")["Tags"] == []


def test_rotation_report(ansible, moto, fleet):
    run = playbook(ansible, "rotation_report.yml")
    assert run.rc == 0, run.stdout
    assert f"busy {fleet['busy']['AccessKeyId']} is 120 days old" in run.stdout
    assert f"stale {fleet['stale']['AccessKeyId']} is 100 days old" in run.stdout
    assert fleet["off"]["AccessKeyId"] not in run.stdout.split("TASK [Report them]")[1]  # inactive: not due


def test_contain_leaked_key(ansible, moto):
    leaked = moto.user_with_key("intern")
    run = playbook(ansible, "contain_leaked_key.yml", leaked_key_id=leaked["AccessKeyId"])
    assert run.rc == 0, run.stdout
    assert f"{leaked['AccessKeyId']} of intern: Active -> Inactive" in run.stdout
    assert moto.status("intern", leaked["AccessKeyId"]) == "Inactive"


def test_documented_examples_run(ansible, moto, fleet):
    """iam_access_key_info's EXAMPLES run as written."""
    make_key(moto, "deploy-bot", 10, used_days_ago=2)
    tasks = yaml.safe_load(iam_access_key_info.EXAMPLES)
    tasks.append(
        {
            "name": "Show",
            "ansible.builtin.debug": {
                "msg": "{{ stale.access_keys | length }} {{ old.access_keys | length }} {{ deploy_bot_keys.access_keys | length }}"
            },
        }
    )
    play = [{"name": "EXAMPLES", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    env = dict(AWS_ENV, AWS_ENDPOINT_URL_IAM=moto.url)
    run = ansible.run(None, playbook=yaml.safe_dump(play), env=env)
    assert run.rc == 0, run.stdout
    assert '"msg": "2 3 1"' in run.stdout  # stale: never, stale; old: busy, off, stale; deploy-bot's one key
