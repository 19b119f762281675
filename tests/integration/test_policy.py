"""iam_access_key_policy end to end: real ansible-playbook runs against moto, writes counted from its recorder."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from harness import ADMIN_KEY, ADMIN_SECRET, assert_clean_failure

from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_policy

POLICY = "keyguard.aws.iam_access_key_policy"
MARK = "keyguard:deactivate-after:"
WRITES = ("UpdateAccessKey", "TagUser", "UntagUser")
# moto's first GenerateCredentialReport says STARTED, the next COMPLETE; one ListUsers (1000 a page) decides the
# scope on the users' current paths, not the report's
REPORT = Counter(
    GetCallerIdentity=1,
    GetAccountAuthorizationDetails=1,
    GenerateCredentialReport=2,
    GetCredentialReport=1,
    ListUsers=1,
)


def today(days=0):
    """Return the UTC date `days` from today, as the tags spell it."""
    return (datetime.now(timezone.utc).date() + timedelta(days=days)).isoformat()


def use_key(moto, key, days_ago=0):
    """Sign one request with the key while IAM's clock reads `days_ago` days back."""
    moto.days_ago(days_ago)
    moto.client(key["AccessKeyId"], key["SecretAccessKey"]).get_user()
    moto.days_ago(0)


def make_key(moto, user, created_days_ago, used_days_ago=None, tags=None):
    """Create a user whose one key was made (and maybe last used) so many days ago; return the key."""
    moto.days_ago(created_days_ago)
    key = moto.user_with_key(user)
    moto.days_ago(0)
    if tags:
        moto.iam.tag_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    if used_days_ago is not None:
        use_key(moto, key, used_days_ago)
    return key


def tags_of(moto, user):
    """Return the user's tags as the server holds them."""
    return {tag["Key"]: tag["Value"] for tag in moto.iam.list_user_tags(UserName=user)["Tags"]}


def policy(ansible, check=False, diff=False, endpoint=None, **options):
    """Run the policy as a task, with STS on moto too; return the Run."""
    args = dict(options, **ansible.connection())
    args.setdefault("concurrency", 1)  # the journal's order across users is then the users' order
    if endpoint:
        args["endpoint_url"] = endpoint
    env = {"AWS_ENDPOINT_URL_STS": ansible.moto.url}
    return ansible.run(args, module=POLICY, check=check, diff=diff, env=env)


def writes(run):
    """Return the write calls moto received during the run."""
    return Counter({action: n for action, n in run.calls.items() if action in WRITES})


def by_user(run):
    """Return {user name: (action, status)} from the run's access_keys."""
    return {item["user_name"]: (item["action"], item["status"]) for item in run.result["access_keys"]}


@pytest.fixture
def fleet(moto):
    """A stale key (created 100 days ago, used 60 days ago), and a busy one; unused_for_days 45 selects the first."""
    return {
        "stale": make_key(moto, "stale", 100, used_days_ago=60),
        "busy": make_key(moto, "busy", 120, used_days_ago=1),
    }


@pytest.mark.matrix
def test_warn_then_pending_then_deactivate_each_run_four_times(ansible, moto, fleet):
    stale_id = fleet["stale"]["AccessKeyId"]
    deadline = today(7)
    # check mode: the same reads, zero writes, the predicted journal
    check = policy(ansible, check=True, diff=True, unused_for_days=45, grace_days=7)
    assert check.result["changed"] is True, check.stdout
    assert writes(check) == Counter()
    assert [(e["type"], e["user_name"], e["tag_key"], e["before"], e["after"]) for e in check.result["journal"]] == [
        ("tag", "stale", MARK + stale_id, None, deadline)
    ]
    assert by_user(check) == {"busy": ("none", "Active"), "stale": ("warned", "Active")}
    assert tags_of(moto, "stale") == {}
    assert check.result["diff"]["after"]["tags"] == {"stale": {MARK + stale_id: deadline}}
    # the report's candidate is listed and its last use confirmed; the busy user costs no call
    assert check.calls == REPORT + Counter(ListAccessKeys=1, GetAccessKeyLastUsed=1)

    warn = policy(ansible, unused_for_days=45, grace_days=7)
    assert warn.result["changed"] is True
    assert writes(warn) == Counter(TagUser=1)
    assert tags_of(moto, "stale") == {MARK + stale_id: deadline}
    stale = next(item for item in warn.result["access_keys"] if item["user_name"] == "stale")
    assert (stale["access_key_id"], stale["action"], stale["deadline"], stale["days_since_last_use"]) == (
        stale_id,
        "warned",
        deadline,
        60,
    )
    assert warn.result["notices"] == [
        dict(
            user_name="stale",
            tags={MARK + stale_id: deadline},
            keys=[dict(access_key_id=stale_id, action="warned", deadline=deadline)],
        )
    ]
    assert warn.result["counts"] == dict(
        seen=2, stale=1, deactivated=0, warned=1, pending=0, exempt=0, cleared=0, none=1, failed=0
    )
    assert warn.result["account_id"] == "123456789012" and warn.result["caller_arn"].startswith("arn:aws:")

    for run in (
        policy(ansible, check=True, unused_for_days=45, grace_days=7),
        policy(ansible, unused_for_days=45, grace_days=7),
    ):
        assert run.result["changed"] is False, run.stdout
        assert run.result["journal"] == [] and run.result["notices"] == []
        assert by_user(run)["stale"] == ("pending", "Active")
        assert writes(run) == Counter()
    assert moto.status("stale", stale_id) == "Active"

    # the deadline passes: write yesterday's date into the mark, as an owner or time would
    moto.iam.tag_user(UserName="stale", Tags=[{"Key": MARK + stale_id, "Value": today(-1)}])
    act_check = policy(ansible, check=True, diff=True, unused_for_days=45, grace_days=7)
    assert by_user(act_check)["stale"] == ("deactivated", "Inactive") and writes(act_check) == Counter()
    assert act_check.result["diff"]["before"]["access_keys"] == {f"stale/{stale_id}": "Active"}
    assert moto.status("stale", stale_id) == "Active"
    act = policy(ansible, unused_for_days=45, grace_days=7)
    assert act.result["changed"] is True
    assert writes(act) == Counter(UpdateAccessKey=1, UntagUser=1)
    assert [(e["type"], e["before"], e["after"]) for e in act.result["journal"]] == [
        ("status", "Active", "Inactive"),
        ("tag", today(-1), None),
    ]
    assert moto.status("stale", stale_id) == "Inactive" and tags_of(moto, "stale") == {}
    assert moto.status("busy", fleet["busy"]["AccessKeyId"]) == "Active"
    for run in (
        policy(ansible, check=True, unused_for_days=45, grace_days=7),
        policy(ansible, unused_for_days=45, grace_days=7),
    ):
        assert run.result["changed"] is False and writes(run) == Counter()
        assert by_user(run)["stale"] == ("none", "Inactive")


def test_grace_zero_deactivates_at_once(ansible, moto, fleet):
    run = policy(ansible, unused_for_days=45)
    assert by_user(run) == {"busy": ("none", "Active"), "stale": ("deactivated", "Inactive")}
    assert writes(run) == Counter(UpdateAccessKey=1)
    assert moto.status("stale", fleet["stale"]["AccessKeyId"]) == "Inactive"


def test_a_key_used_after_the_warning_is_cleared(ansible, moto, fleet):
    assert policy(ansible, unused_for_days=45, grace_days=7).result["counts"]["warned"] == 1
    use_key(moto, fleet["stale"])  # the owner's job runs again
    run = policy(ansible, unused_for_days=45, grace_days=7)
    assert by_user(run)["stale"] == ("cleared", "Active")
    assert "its deactivation mark" in run.result["access_keys"][1]["reason"]
    assert writes(run) == Counter(UntagUser=1)
    assert tags_of(moto, "stale") == {}
    # the report no longer calls it stale: the mark alone (from the authorization details) brought it back; moto's
    # report was made by the first run, so one GenerateCredentialReport finds it COMPLETE
    assert run.calls == REPORT - Counter(GenerateCredentialReport=1) + Counter(
        ListAccessKeys=1, GetAccessKeyLastUsed=1, UntagUser=1
    )
    assert policy(ansible, unused_for_days=45, grace_days=7).result["changed"] is False


def test_a_marked_key_deactivated_by_hand_or_deleted_is_cleared(ansible, moto, fleet):
    policy(ansible, unused_for_days=45, grace_days=7)
    stale_id = fleet["stale"]["AccessKeyId"]
    moto.iam.update_access_key(UserName="stale", AccessKeyId=stale_id, Status="Inactive")
    other = make_key(moto, "gone", 100)
    moto.iam.tag_user(UserName="gone", Tags=[{"Key": MARK + other["AccessKeyId"], "Value": today(3)}])
    moto.iam.delete_access_key(UserName="gone", AccessKeyId=other["AccessKeyId"])
    run = policy(ansible, unused_for_days=45, grace_days=7)
    assert run.result["changed"] is True
    cleared = {
        (i["user_name"], i["access_key_id"], i["previous_status"])
        for i in run.result["access_keys"]
        if i["action"] == "cleared"
    }
    assert cleared == {("stale", stale_id, "Inactive"), ("gone", other["AccessKeyId"], None)}
    assert writes(run) == Counter(UntagUser=2)
    assert tags_of(moto, "stale") == {} and tags_of(moto, "gone") == {}


def test_exemptions_hold_and_a_lapsed_one_does_not(ansible, moto):
    keys = {
        "tagged": make_key(moto, "tagged", 100, tags={"keyguard:exempt": "true"}),
        "until": make_key(moto, "until", 100, tags={"keyguard:exempt": today(30)}),
        "lapsed": make_key(moto, "lapsed", 100, tags={"keyguard:exempt": today(-1)}),
        "listed": make_key(moto, "listed", 100),
        "grouped": make_key(moto, "grouped", 100),
        "bykey": make_key(moto, "bykey", 100),
    }
    moto.iam.create_group(GroupName="break-glass")
    moto.iam.add_user_to_group(GroupName="break-glass", UserName="grouped")
    options = dict(
        older_than_days=90,
        exempt_users=["LISTED"],
        exempt_groups=["break-glass"],
        exempt_access_keys=[keys["bykey"]["AccessKeyId"]],
    )
    run = policy(ansible, **options)
    assert by_user(run) == {
        "bykey": ("exempt", "Active"),
        "grouped": ("exempt", "Active"),
        "lapsed": ("deactivated", "Inactive"),
        "listed": ("exempt", "Active"),
        "tagged": ("exempt", "Active"),
        "until": ("exempt", "Active"),
    }
    lapsed = next(item for item in run.result["access_keys"] if item["user_name"] == "lapsed")
    assert f"the exemption keyguard:exempt={today(-1)} of user lapsed lapsed after {today(-1)}" in lapsed["reason"]
    assert writes(run) == Counter(UpdateAccessKey=1)
    assert [moto.status(user, key["AccessKeyId"]) for user, key in keys.items()] == ["Active"] * 2 + ["Inactive"] + [
        "Active"
    ] * 3
    assert run.result["counts"]["exempt"] == 5 and run.result["counts"]["stale"] == 6


def test_authorization_details_denied_falls_back_with_a_warning(ansible, moto, fault_proxy):
    make_key(moto, "old", 100, tags={"keyguard:exempt": "true"})
    make_key(moto, "older", 100)
    moto.iam.create_group(GroupName="admins")
    moto.iam.add_user_to_group(GroupName="admins", UserName="older")
    fault_proxy.fail("GetAccountAuthorizationDetails", 1, status=403, code="AccessDenied", message="not allowed")
    run = policy(ansible, endpoint=fault_proxy.url, older_than_days=90, exempt_groups=["admins"])
    assert run.result.get("failed") is not True, run.stdout
    assert "iam:GetAccountAuthorizationDetails was denied" in run.stdout
    assert by_user(run) == {"old": ("exempt", "Active"), "older": ("exempt", "Active")}
    # the proxy answered GetAccountAuthorizationDetails, so moto saw none; ListUserTags per candidate, one GetGroup
    assert run.calls == Counter(
        ListUsers=1,
        GetCallerIdentity=1,
        GenerateCredentialReport=2,
        GetCredentialReport=1,
        ListAccessKeys=2,
        ListUserTags=2,
        GetGroup=1,
        GetAccessKeyLastUsed=2,
    )


def test_a_user_at_the_tag_limit_fails_that_key_and_the_rest_go_on(ansible, moto):
    full = make_key(moto, "full", 100, tags={f"team{i}": "x" for i in range(50)})
    roomy = make_key(moto, "roomy", 100)
    run = policy(ansible, older_than_days=90, grace_days=7)
    assert_clean_failure(run, "1 of 2 access keys failed", "user full already holds 50 tags, and IAM allows 50")
    assert by_user(run) == {"full": ("failed", "Active"), "roomy": ("warned", "Active")}
    assert writes(run) == Counter(TagUser=1)  # moto would take a 51st tag; AWS would not, so none is sent
    assert [e["user_name"] for e in run.result["journal"]] == ["roomy"]
    assert MARK + roomy["AccessKeyId"] in tags_of(moto, "roomy")
    assert MARK + full["AccessKeyId"] not in tags_of(moto, "full")


def test_tag_limit_met_between_read_and_write_as_aws_answers_it(ansible, moto, fault_proxy):
    make_key(moto, "racer", 100)
    make_key(moto, "calm", 100)
    # another job filled racer's tags after our read: AWS refuses the 51st with LimitExceeded
    fault_proxy.fail(
        "TagUser",
        1,
        status=409,
        code="LimitExceeded",
        message="Cannot exceed quota for TagsPerUser: 50",
        match={"UserName": "racer"},
    )
    run = policy(ansible, endpoint=fault_proxy.url, older_than_days=90, grace_days=7)
    assert_clean_failure(run, "1 of 2 access keys failed", "racer holds 50 tags, IAM's limit")
    assert by_user(run) == {"calm": ("warned", "Active"), "racer": ("failed", "Active")}
    assert [e["user_name"] for e in run.result["journal"]] == ["calm"]


class StaleReportProxy:
    """A proxy in front of moto that answers GetCredentialReport with a report saved earlier, as AWS may (4 h)."""

    def __init__(self, target):
        self.target = urlsplit(target)
        self.saved = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = parse_qs(body.decode()).get("Action", [""])[0]
                upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                upstream.request("POST", self.path, body, dict(self.headers))
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
                if action == "GetCredentialReport":
                    if proxy.saved is None:
                        proxy.saved = payload
                    payload = proxy.saved
                self.send_response(response.status)
                self.send_header("Content-Type", response.getheader("Content-Type", "text/xml"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def test_a_stale_report_never_gets_an_in_use_key_deactivated(ansible, moto):
    key = make_key(moto, "quarterly", 300, used_days_ago=200)
    proxy = StaleReportProxy(moto.url)
    try:
        first = policy(ansible, check=True, endpoint=proxy.url, unused_for_days=90)  # saves the report of now
        assert by_user(first)["quarterly"] == ("deactivated", "Inactive")
        use_key(moto, key)  # the quarterly job runs; the report served stays the old one
        run = policy(ansible, endpoint=proxy.url, unused_for_days=90)
    finally:
        proxy.close()
    assert by_user(run)["quarterly"] == ("none", "Active")
    item = run.result["access_keys"][0]
    assert item["days_since_last_use"] == 0 and item["last_used_date"] is not None
    assert writes(run) == Counter()
    assert moto.status("quarterly", key["AccessKeyId"]) == "Active"


def test_bad_options_fail_before_any_call(ansible, moto):
    for options, fragment in (
        ({"grace_days": 7}, "Set older_than_days, unused_for_days or both"),
        ({"unused_for_days": 45, "grace_days": 99999}, "grace_days must be from 0 (deactivate at once) to 3650 days"),
        ({"unused_for_days": 45, "exempt_tag": "aws:reserved"}, "exempt_tag must be an IAM tag key"),
        ({"unused_for_days": 45, "exempt_access_keys": ["nope"]}, "exempt_access_keys[0] must be an access key ID"),
    ):
        run = policy(ansible, **options)
        assert_clean_failure(run, fragment)
        assert run.calls == Counter()


def test_documented_examples_run(ansible, moto, fleet, tmp_path):
    """The module's EXAMPLES run as written."""
    dormant = make_key(moto, "dormant", 200, used_days_ago=120, tags={"email": "dormant-team@example.com"})
    tasks = yaml.safe_load(iam_access_key_policy.EXAMPLES)
    tasks[2]["ansible.builtin.copy"]["dest"] = str(tmp_path / "journal-{{ policy.account_id }}.json")
    play = [{"name": "EXAMPLES", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    env = {
        "AWS_ACCESS_KEY_ID": ADMIN_KEY,
        "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "AWS_ENDPOINT_URL_IAM": moto.url,
        "AWS_ENDPOINT_URL_STS": moto.url,
    }
    run = ansible.run(None, playbook=yaml.safe_dump(play), env=env)
    assert run.rc == 0, run.stdout
    assert f"dormant-team@example.com: {dormant['AccessKeyId']} warned until {today(14)}" in run.stdout
    assert (tmp_path / "journal-123456789012.json").exists()


def test_path_prefix_keeps_the_policy_and_its_marks_inside_the_path(ansible, moto):
    moto.days_ago(100)
    moto.iam.create_user(UserName="svc", Path="/service/")
    inside = moto.iam.create_access_key(UserName="svc")["AccessKey"]
    moto.iam.create_user(UserName="human", Path="/people/")
    outside = moto.iam.create_access_key(UserName="human")["AccessKey"]
    moto.days_ago(0)
    # a mark made by some other run on a key outside the path: not this run's to clear
    moto.iam.tag_user(UserName="human", Tags=[{"Key": MARK + outside["AccessKeyId"], "Value": today(-1)}])
    run = policy(ansible, older_than_days=90, grace_days=7, path_prefix="/service/")
    assert run.result.get("failed") is not True, run.stdout
    assert by_user(run) == {"svc": ("warned", "Active")}
    assert writes(run) == Counter(TagUser=1)
    assert MARK + inside["AccessKeyId"] in tags_of(moto, "svc")
    assert tags_of(moto, "human") == {MARK + outside["AccessKeyId"]: today(-1)}
    assert moto.status("human", outside["AccessKeyId"]) == "Active"


def test_an_exemption_misspelt_or_in_lower_case_is_never_silent(ansible, moto):
    # A break-glass key listed in lower case is still that key; a misspelt group or user exempts nobody, and says so.
    glass = make_key(moto, "glass", 100)
    grouped = make_key(moto, "grouped", 100)
    moto.iam.create_group(GroupName="break-glass")
    moto.iam.add_user_to_group(GroupName="break-glass", UserName="grouped")
    options = dict(
        older_than_days=90,
        exempt_access_keys=[glass["AccessKeyId"].lower()],
        exempt_groups=["break-glas"],
        exempt_users=["gruoped"],
    )
    run = policy(ansible, **options)
    assert by_user(run) == {"glass": ("exempt", "Active"), "grouped": ("deactivated", "Inactive")}
    assert moto.status("glass", glass["AccessKeyId"]) == "Active"
    assert moto.status("grouped", grouped["AccessKeyId"]) == "Inactive"
    warnings = " ".join(run.result["warnings"])
    assert "exempt_groups names break-glas, but no IAM user of this account is a member of that group" in warnings
    assert "exempt_users names gruoped, but no IAM user of this account has that name" in warnings
    correct = policy(ansible, older_than_days=90, exempt_groups=["Break-Glass"], exempt_users=["GLASS"], check=True)
    assert "warnings" not in correct.result, correct.result["warnings"]


def test_a_mark_whose_key_id_was_typed_in_lower_case_still_names_that_key(ansible, moto):
    # An owner who extends the deadline by hand in the console may type the key ID in lower case: the mark is that
    # key's, so the key is pending until the new date; it is neither "no longer exists" nor marked again.
    key = make_key(moto, "owner", 100, used_days_ago=60)
    mark = MARK + key["AccessKeyId"].lower()
    moto.iam.tag_user(UserName="owner", Tags=[{"Key": mark, "Value": today(20)}])
    run = policy(ansible, unused_for_days=45, grace_days=7)
    assert run.result.get("failed") is not True, run.stdout
    (item,) = run.result["access_keys"]
    assert (item["access_key_id"], item["action"], item["deadline"]) == (key["AccessKeyId"], "pending", today(20))
    assert run.result["journal"] == [] and writes(run) == Counter()
    assert tags_of(moto, "owner") == {mark: today(20)}

    used = policy(ansible, unused_for_days=0, older_than_days=None, grace_days=7, exempt_users=["owner"])
    assert [(e["tag_key"], e["before"], e["after"]) for e in used.result["journal"]] == [(mark, today(20), None)]
    assert tags_of(moto, "owner") == {}
