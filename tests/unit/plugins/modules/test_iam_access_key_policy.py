"""Unit tests of iam_access_key_policy through main(): real IAM and STS clients behind Stubbers, exact calls."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils._aws import Connection
from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_policy as module
from ansible_collections.keyguard.aws.tests.unit.plugins.modules.task_args import controller_args, patch_module_args

NOW = datetime.now(timezone.utc)
TODAY = NOW.date()
SIGNER = "AKIAI44QH8DHBEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
ACCOUNT = "123456789012"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/auditor"
# alice: stale; bob: in use; carol: marked earlier, used since; dave: stale but exempt by tag
K_ALICE, K_BOB, K_CAROL, K_DAVE = (f"AKIAPOLICYEXAMPLE00{i}" for i in range(1, 5))
CREATED = {K_ALICE: 300, K_BOB: 300, K_CAROL: 300, K_DAVE: 300}
USED = {K_ALICE: 120, K_BOB: 1, K_CAROL: 10, K_DAVE: 200}  # as the report has it
MARK = "keyguard:deactivate-after:"


def ago(days):
    """Return the moment `days` days before NOW, to the second."""
    return (NOW - timedelta(days=days)).replace(microsecond=0)


def report_csv():
    """Return the credential report of the four users, one key each."""
    header = "user,arn,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_2_active,access_key_2_last_rotated"
    rows = [header]
    for user, key_id in (("alice", K_ALICE), ("bob", K_BOB), ("carol", K_CAROL), ("dave", K_DAVE)):
        created, used = ago(CREATED[key_id]).isoformat(), ago(USED[key_id]).isoformat()
        rows.append(f"{user},arn:aws:iam::{ACCOUNT}:user/{user},true,{created},{used},false,N/A")
    return ("\n".join(rows) + "\n").encode()


def detail(name, tags=None, groups=()):
    """Return one GetAccountAuthorizationDetails user."""
    return {
        "UserName": name,
        "Path": "/",
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "UserId": "AIDA" + name.upper().ljust(17, "X"),
        "CreateDate": ago(400),
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        "GroupList": list(groups),
    }


def metadata(user, key_id, status="Active"):
    """Return one ListAccessKeys entry."""
    return {"UserName": user, "AccessKeyId": key_id, "Status": status, "CreateDate": ago(CREATED[key_id])}


@pytest.fixture(scope="module")
def session():
    """Return one botocore session for every client."""
    return botocore.session.Session()


@pytest.fixture
def stubs(session, monkeypatch):
    """Yield (iam stubber, sts stubber) wired into main(); every stubbed call must be made, nothing else."""
    clients = {}
    for service in ("iam", "sts"):
        clients[service] = session.create_client(
            service, region_name="us-east-1", aws_access_key_id=SIGNER, aws_secret_access_key=SECRET
        )
    connection = Connection(clients["iam"], SIGNER, frozenset([SIGNER]), (SECRET,))
    monkeypatch.setattr(
        module, "connect_with_sts", lambda params, max_pool_connections=None: (connection, clients["sts"])
    )
    iam, sts = Stubber(clients["iam"]), Stubber(clients["sts"])
    with iam, sts:
        sts.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": CALLER, "UserId": "AIDAX"}, {})
        yield iam, sts
        iam.assert_no_pending_responses()
        sts.assert_no_pending_responses()


def run_main(args, capsys):
    """Run main() with these task args; return its JSON result."""
    base = dict(unused_for_days=90, concurrency=1, source="credential_report")
    with patch_module_args(controller_args(dict(base, **args))), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def expect_reads(iam, tags, last_used, denied=False):
    """Stub the read step: details (or their denial), the report, the listings and the fresh last uses."""
    params = {"Filter": ["User"], "MaxItems": 1000}
    if denied:
        iam.add_client_error("get_account_authorization_details", "AccessDenied", "no", 403, params)
    else:
        users = [detail(name, tags.get(name)) for name in ("alice", "bob", "carol", "dave")]
        iam.add_response("get_account_authorization_details", {"UserDetailList": users, "IsTruncated": False}, params)
    iam.add_response("generate_credential_report", {"State": "COMPLETE"}, {})
    iam.add_response(
        "get_credential_report",
        {"Content": report_csv(), "ReportFormat": "text/csv", "GeneratedTime": NOW - timedelta(hours=1)},
        {},
    )
    # the scope: the users under path_prefix now, one ListUsers per 1000 users
    users = [
        {
            "UserName": n,
            "Path": "/",
            "UserId": "AIDA" + n.upper().ljust(17, "X"),
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/{n}",
            "CreateDate": ago(400),
        }
        for n in ("alice", "bob", "carol", "dave")
    ]
    iam.add_response("list_users", {"Users": users, "IsTruncated": False}, {"MaxItems": 1000})
    # the report's candidates, alice and dave; then carol, whose mark the details showed
    listed = [("alice", K_ALICE), ("dave", K_DAVE)] + ([("carol", K_CAROL)] if "carol" in tags and not denied else [])
    for user, key_id in listed:
        iam.add_response("list_access_keys", {"AccessKeyMetadata": [metadata(user, key_id)]}, {"UserName": user})
    if denied:
        for user in ("alice", "dave"):
            found = [{"Key": k, "Value": v} for k, v in tags.get(user, {}).items()]
            iam.add_response("list_user_tags", {"Tags": found, "IsTruncated": False}, {"UserName": user})
    for user, key_id in listed:
        answer = {"UserName": user, "AccessKeyLastUsed": {"Region": "us-east-1", "ServiceName": "s3"}}
        answer["AccessKeyLastUsed"]["LastUsedDate"] = ago(last_used[key_id])
        iam.add_response("get_access_key_last_used", answer, {"AccessKeyId": key_id})


FIRST_TAGS = {
    "carol": {MARK + K_CAROL: "2026-01-01", "email": "carol@example.com"},
    "dave": {"keyguard:exempt": "true"},
}


def test_first_run_warns_clears_and_exempts_with_exact_calls(stubs, capsys):
    iam, _sts = stubs
    expect_reads(iam, FIRST_TAGS, {K_ALICE: 120, K_DAVE: 200, K_CAROL: 3})  # carol's key was used since
    deadline = (TODAY + timedelta(days=14)).isoformat()
    iam.add_response("tag_user", {}, {"UserName": "alice", "Tags": [{"Key": MARK + K_ALICE, "Value": deadline}]})
    iam.add_response("untag_user", {}, {"UserName": "carol", "TagKeys": [MARK + K_CAROL]})
    result = run_main(dict(grace_days=14, _ansible_diff=True), capsys)
    assert "changed" in result, result.get("msg")
    assert result["changed"] is True, result
    assert (result["account_id"], result["caller_arn"]) == (ACCOUNT, CALLER)
    actions = {item["user_name"]: (item["access_key_id"], item["action"]) for item in result["access_keys"]}
    assert actions == {
        "alice": (K_ALICE, "warned"),
        "bob": (None, "none"),  # known only from the report: never listed, no call for it
        "carol": (K_CAROL, "cleared"),
        "dave": (K_DAVE, "exempt"),
    }
    alice = result["access_keys"][0]
    assert (alice["deadline"], alice["status"], alice["previous_status"], alice["days_since_last_use"]) == (
        deadline,
        "Active",
        "Active",
        120,
    )
    assert result["access_keys"][1]["slot"] == 1
    assert result["counts"] == dict(
        seen=4, stale=2, deactivated=0, warned=1, pending=0, exempt=1, cleared=1, none=1, failed=0
    )
    assert [(e["type"], e["user_name"], e["tag_key"], e["before"], e["after"]) for e in result["journal"]] == [
        ("tag", "alice", MARK + K_ALICE, None, deadline),
        ("tag", "carol", MARK + K_CAROL, "2026-01-01", None),
    ]
    assert {e["account_id"] for e in result["journal"]} == {ACCOUNT}
    assert result["notices"] == [
        dict(
            user_name="alice",
            tags={MARK + K_ALICE: deadline},
            keys=[dict(access_key_id=K_ALICE, action="warned", deadline=deadline)],
        )
    ]
    assert result["diff"]["before"]["tags"] == {
        "alice": {MARK + K_ALICE: None},
        "carol": {MARK + K_CAROL: "2026-01-01"},
    }
    assert result["diff"]["after"]["tags"] == {"alice": {MARK + K_ALICE: deadline}, "carol": {MARK + K_CAROL: None}}
    assert result["policy"]["grace_days"] == 14 and result["source"] == "credential_report"


def test_rerun_is_pending_and_writes_nothing(stubs, capsys):
    iam, _sts = stubs
    deadline = (TODAY + timedelta(days=13)).isoformat()
    tags = {"alice": {MARK + K_ALICE: deadline}, "dave": {"keyguard:exempt": "true"}}
    expect_reads(iam, tags, {K_ALICE: 121, K_DAVE: 200})
    result = run_main(dict(grace_days=14, _ansible_diff=True), capsys)
    assert result["changed"] is False
    assert result["journal"] == [] and result["notices"] == []
    assert result["access_keys"][0]["action"] == "pending" and result["access_keys"][0]["deadline"] == deadline
    assert result["diff"] == {"before": {"access_keys": {}, "tags": {}}, "after": {"access_keys": {}, "tags": {}}}


def test_past_the_deadline_deactivates_then_removes_the_mark(stubs, capsys):
    iam, _sts = stubs
    tags = {"alice": {MARK + K_ALICE: (TODAY - timedelta(days=1)).isoformat()}, "dave": {"keyguard:exempt": "true"}}
    expect_reads(iam, tags, {K_ALICE: 135, K_DAVE: 200})
    iam.add_response("update_access_key", {}, {"UserName": "alice", "AccessKeyId": K_ALICE, "Status": "Inactive"})
    iam.add_response("untag_user", {}, {"UserName": "alice", "TagKeys": [MARK + K_ALICE]})
    result = run_main(dict(grace_days=14), capsys)
    assert [e["type"] for e in result["journal"]] == ["status", "tag"]
    assert result["journal"][0] | {"time": None} == dict(
        account_id=ACCOUNT,
        time=None,
        type="status",
        user_name="alice",
        access_key_id=K_ALICE,
        before="Active",
        after="Inactive",
    )
    assert result["access_keys"][0]["status"] == "Inactive" and result["access_keys"][0]["action"] == "deactivated"
    assert result["notices"][0]["keys"][0]["action"] == "deactivated"


def test_check_mode_makes_the_same_reads_and_no_write(stubs, capsys):
    iam, _sts = stubs
    expect_reads(iam, FIRST_TAGS, {K_ALICE: 120, K_DAVE: 200, K_CAROL: 3})
    result = run_main(dict(grace_days=0, _ansible_check_mode=True), capsys)  # no write stubbed: any write fails
    assert result["changed"] is True
    assert [(e["type"], e["user_name"]) for e in result["journal"]] == [("status", "alice"), ("tag", "carol")]
    assert result["access_keys"][0]["status"] == "Inactive"  # predicted


def test_authorization_details_denied_falls_back_to_list_user_tags_with_a_warning(stubs, capsys):
    iam, _sts = stubs
    expect_reads(iam, FIRST_TAGS, {K_ALICE: 120, K_DAVE: 200}, denied=True)
    iam.add_response("update_access_key", {}, {"UserName": "alice", "AccessKeyId": K_ALICE, "Status": "Inactive"})
    result = run_main({}, capsys)
    assert any("iam:GetAccountAuthorizationDetails was denied" in str(w) for w in result["warnings"]), result[
        "warnings"
    ]
    actions = [(item["user_name"], item["action"]) for item in result["access_keys"]]
    # carol's mark is on a user that is no candidate: it cannot be seen, so it stays for a later run
    assert actions == [("alice", "deactivated"), ("bob", "none"), ("carol", "none"), ("dave", "exempt")]


def test_tag_limit_fails_that_key_and_the_rest_go_on(stubs, capsys):
    iam, _sts = stubs
    full = {f"tag{i}": "x" for i in range(50)}
    tags = {"alice": full, "carol": {MARK + K_CAROL: "2026-01-01"}, "dave": {"keyguard:exempt": "true"}}
    expect_reads(iam, tags, {K_ALICE: 120, K_DAVE: 200, K_CAROL: 3})
    iam.add_response("untag_user", {}, {"UserName": "carol", "TagKeys": [MARK + K_CAROL]})
    result = run_main(dict(grace_days=14), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith(f"1 of 4 access keys failed: {K_ALICE}: Not done: user alice already holds 50 tags")
    assert result["msg"].endswith("The run made 1 other writes, listed in journal.")
    assert [e["user_name"] for e in result["journal"]] == ["carol"]
    assert result["counts"]["failed"] == 1 and result["counts"]["cleared"] == 1


def test_a_write_that_fails_reports_the_journal_so_far(stubs, capsys):
    iam, _sts = stubs
    expect_reads(iam, FIRST_TAGS, {K_ALICE: 120, K_DAVE: 200, K_CAROL: 3})
    iam.add_client_error(
        "update_access_key",
        "AccessDenied",
        "no",
        403,
        {"UserName": "alice", "AccessKeyId": K_ALICE, "Status": "Inactive"},
    )
    iam.add_response("untag_user", {}, {"UserName": "carol", "TagKeys": [MARK + K_CAROL]})
    result = run_main({}, capsys)
    assert result["failed"] is True and result["changed"] is True
    assert "could not be deactivated: Access denied" in result["access_keys"][0]["reason"]
    assert result["access_keys"][0]["status"] == "Active"
    assert [(e["type"], e["user_name"]) for e in result["journal"]] == [("tag", "carol")]


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"unused_for_days": None}, "Set older_than_days, unused_for_days or both"),
        ({"unused_for_days": -1}, "unused_for_days must be from 0 to 36500"),
        ({"older_than_days": 40000}, "older_than_days must be from 0 to 36500"),
        ({"grace_days": 4000}, "grace_days must be from 0 (deactivate at once) to 3650 days, not 4000."),
        ({"grace_days": -1}, "grace_days must be from 0"),
        ({"exempt_tag": "aws:exempt"}, "exempt_tag must be an IAM tag key"),
        ({"exempt_tag": "bad!tag"}, "exempt_tag must be an IAM tag key"),
        ({"exempt_tag": "x" * 129}, "exempt_tag must be an IAM tag key"),
        ({"exempt_tag": "keyguard:deactivate-after:x"}, "exempt_tag must not start with keyguard:deactivate-after:"),
        ({"exempt_users": ["bob smith"]}, "exempt_users[0] must be an IAM user name"),
        ({"exempt_groups": ["ok", ""]}, "exempt_groups[1] must be an IAM group name"),
        ({"exempt_access_keys": ["AKIA-NOPE"]}, "exempt_access_keys[0] must be an access key ID"),
        ({"path_prefix": "service"}, "path_prefix must be a path"),
        ({"concurrency": 0}, "concurrency must be between 1 and 32"),
        ({"endpoint_url": "localhost"}, "endpoint_url must be an http"),
    ],
)
def test_bad_input_fails_naming_the_option_before_any_call(args, fragment, capsys, monkeypatch):
    monkeypatch.setattr(module, "connect_with_sts", lambda *a, **k: pytest.fail("connected for bad input"))
    result = run_main(args, capsys)
    assert result["failed"] is True
    assert fragment in result["msg"], result["msg"]
    assert "\n" not in result["msg"]


def test_a_failure_every_call_would_share_stops_the_writes_and_says_which_were_not_attempted(stubs, capsys):
    iam, _sts = stubs
    expect_reads(iam, FIRST_TAGS, {K_ALICE: 120, K_DAVE: 200, K_CAROL: 3})
    iam.add_client_error(
        "update_access_key",
        "Throttling",
        "Rate exceeded",
        400,
        {"UserName": "alice", "AccessKeyId": K_ALICE, "Status": "Inactive"},
        response_meta={"RetryAttempts": 4},
    )
    result = run_main({}, capsys)  # carol's UntagUser is never sent: no stub for it
    assert result["failed"] is True and result["changed"] is False
    assert result["journal"] == []
    alice, _bob, carol, dave = result["access_keys"]
    assert alice["action"] == carol["action"] == "failed"
    assert "could not be deactivated: IAM throttled iam:UpdateAccessKey" in alice["reason"]
    assert carol["reason"].startswith("The key was not attempted: an earlier call failed in a way every call would")
    assert (dave["action"], result["counts"]["failed"]) == ("exempt", 2)
    assert result["msg"].startswith("2 of 4 access keys failed")
