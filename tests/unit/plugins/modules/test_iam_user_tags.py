"""Unit tests of iam_user_tags: compare-and-set on IAM user tags, with a real IAM client behind botocore's Stubber."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils._aws import Connection, KeyguardError
from ansible_collections.keyguard.aws.plugins.modules import iam_user_tags as module
from ansible_collections.keyguard.aws.tests.unit.plugins.modules.task_args import controller_args, patch_module_args

SIGNER = "AKIAI44QH8DHBEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
MARK = "keyguard:deactivate-after:AKIAIOSFODNN7EXAMPLE"
MARK2 = "keyguard:deactivate-after:AKIAI44QH8DHBEXAMPLE"


@pytest.fixture(scope="module")
def session():
    """Return one botocore session, so each test's client reuses its loaded service model."""
    return botocore.session.Session()


@pytest.fixture
def iam(session):
    """Yield (client, stubber): a real IAM client whose every request the Stubber checks against the model."""
    client = session.create_client(
        "iam", region_name="us-east-1", aws_access_key_id=SIGNER, aws_secret_access_key=SECRET
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_tags(stubber, user_name, tags):
    """Stub one ListUserTags call answering with these tags ({key: value})."""
    answer = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()], "IsTruncated": False}
    stubber.add_response("list_user_tags", answer, {"UserName": user_name})


def expect_tag(stubber, user_name, tags):
    """Stub one TagUser call with exactly these tags, in this order."""
    expected = {"UserName": user_name, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    stubber.add_response("tag_user", {}, expected)


def expect_untag(stubber, user_name, keys):
    """Stub one UntagUser call with exactly these keys."""
    stubber.add_response("untag_user", {}, {"UserName": user_name, "TagKeys": keys})


def run(client, items, check_mode=False):
    """Run the module's read-compare-apply-report steps; return (result, diff)."""
    users = module.requested_tags({"tags": items})
    return module.report(users, module.apply_tags(client, users, 1, check_mode))


def undo(user, key, value, expected):
    """Return an item that puts `value` back where the tag is still `expected`."""
    return {"user_name": user, "key": key, "value": value, "expected_value": expected}


# --- compare-and-set ---------------------------------------------------------------------------


def test_one_list_per_user_and_one_write_of_each_kind(iam):
    client, stubber = iam
    expect_tags(stubber, "bob", {MARK: "2026-12-31", MARK2: "2026-12-31", "owner": "team-a"})
    expect_untag(stubber, "bob", [MARK, MARK2])
    expect_tag(stubber, "bob", {"note": "restored"})
    expect_tags(stubber, "alice", {})
    expect_tag(stubber, "alice", {MARK: "2026-12-01"})
    items = [
        undo("bob", MARK, None, "2026-12-31"),
        undo("alice", MARK, "2026-12-01", None),  # the sweep removed it: put it back where still absent
        undo("bob", MARK2, None, "2026-12-31"),
        {"user_name": "bob", "key": "note", "value": "restored"},  # no expectation: set whatever it is
    ]
    result, diff = run(client, items)
    assert result == {
        "changed": True,
        "tags": [
            {"user_name": "bob", "key": MARK, "value": None, "previous_value": "2026-12-31", "changed": True},
            {"user_name": "bob", "key": MARK2, "value": None, "previous_value": "2026-12-31", "changed": True},
            {"user_name": "bob", "key": "note", "value": "restored", "previous_value": None, "changed": True},
            {"user_name": "alice", "key": MARK, "value": "2026-12-01", "previous_value": None, "changed": True},
        ],
    }
    assert diff == {
        "before": {"users": {"bob": {MARK: "2026-12-31", MARK2: "2026-12-31", "owner": "team-a"}, "alice": {}}},
        "after": {"users": {"bob": {"owner": "team-a", "note": "restored"}, "alice": {MARK: "2026-12-01"}}},
    }


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
def test_a_tag_changed_since_is_a_conflict_left_alone(iam, check_mode):
    client, stubber = iam
    expect_tags(stubber, "bob", {MARK: "2027-01-15", MARK2: "2026-12-31"})  # MARK moved by hand since
    if not check_mode:  # check mode: no write is stubbed, so any write fails the test
        expect_untag(stubber, "bob", [MARK2])
    expect_tags(stubber, "carol", {MARK: "2026-12-01"})  # the sweep removed it; someone set it again
    result, diff = run(
        client,
        [
            undo("bob", MARK, None, "2026-12-31"),
            undo("bob", MARK2, None, "2026-12-31"),
            undo("carol", MARK, "2026-11-30", None),
        ],
        check_mode,
    )
    assert result["changed"] is True
    first, second, third = result["tags"]
    assert first == {
        "user_name": "bob",
        "key": MARK,
        "value": "2027-01-15",
        "previous_value": "2027-01-15",
        "changed": False,
        "conflict": True,
        "expected_value": "2026-12-31",
    }
    assert (second["value"], second["changed"], "conflict" in second) == (None, True, False)
    assert (third["value"], third["conflict"], third["expected_value"]) == ("2026-12-01", True, None)
    assert diff["after"]["users"] == {"bob": {MARK: "2027-01-15"}, "carol": {MARK: "2026-12-01"}}


def test_second_run_changes_nothing(iam):
    client, stubber = iam
    expect_tags(stubber, "bob", {})
    result, diff = run(client, [undo("bob", MARK, None, "2026-12-31"), {"user_name": "bob", "key": "x", "value": None}])
    assert result["changed"] is False
    assert [(t["changed"], t.get("conflict", False)) for t in result["tags"]] == [(False, True), (False, False)]
    assert diff["before"] == diff["after"]


def test_an_empty_value_is_a_value_not_an_absent_tag(iam):
    client, stubber = iam
    expect_tags(stubber, "bob", {"k": ""})
    result = run(client, [undo("bob", "k", "v", None)])[0]
    assert result["tags"][0]["conflict"] is True and result["tags"][0]["previous_value"] == ""


def test_the_tag_limit_fails_that_user_only_before_any_write_to_it(iam):
    client, stubber = iam
    full = {f"tag{i}": "x" for i in range(50)}
    expect_tags(stubber, "full", full)
    expect_tags(stubber, "bob", {MARK: "2026-12-31"})
    expect_untag(stubber, "bob", [MARK])
    items = [undo("full", MARK, "2026-12-31", None), undo("bob", MARK, None, "2026-12-31")]
    with pytest.raises(KeyguardError) as caught:
        run(client, items)
    assert str(caught.value) == (
        "1 of 2 IAM users failed: full: IAM user 'full' holds 50 tags and would need 51; IAM allows 50 per user, so "
        "none of its tags was changed. Remove tags it no longer needs.. Changed as asked: bob " + MARK + "."
    )
    assert caught.value.result["changed"] is True
    assert [t.get("failed", False) for t in caught.value.result["tags"]] == [True, False]


def test_a_removal_makes_room_under_the_limit(iam):
    client, stubber = iam
    full = {f"tag{i}": "x" for i in range(49)} | {MARK: "2026-12-31"}
    expect_tags(stubber, "bob", full)
    expect_untag(stubber, "bob", [MARK])
    expect_tag(stubber, "bob", {MARK2: "2027-01-01"})
    result = run(client, [undo("bob", MARK, None, "2026-12-31"), undo("bob", MARK2, "2027-01-01", None)])[0]
    assert [t["changed"] for t in result["tags"]] == [True, True]


def test_a_missing_user_fails_alone_and_an_endpoint_failure_stops_the_rest(iam):
    client, stubber = iam
    stubber.add_client_error("list_user_tags", "NoSuchEntity", "no user", 404, expected_params={"UserName": "ghost"})
    expect_tags(stubber, "bob", {})
    expect_tag(stubber, "bob", {MARK: "2026-12-31"})
    stubber.add_client_error("list_user_tags", "ServiceUnavailable", "down", 503, expected_params={"UserName": "carol"})
    # ghost's tag is set whatever it holds (no expected_value): a user that does not exist fails it
    items = [{"user_name": "ghost", "key": MARK, "value": "2026-12-31"}]
    items += [undo(u, MARK, "2026-12-31", None) for u in ("bob", "carol", "dave")]
    with pytest.raises(KeyguardError) as caught:
        run(client, items)
    message = str(caught.value)
    assert message.startswith("3 of 4 IAM users failed: ghost: ")
    assert message.endswith(f"Changed as asked: bob {MARK}.")
    ghost, bob, carol, dave = caught.value.result["tags"]
    assert (ghost["failed"], bob["changed"], carol["failed"]) == (True, True, True)
    assert "attempted" not in carol
    assert (dave["attempted"], dave["changed"]) == (False, False)
    assert dave["msg"].startswith("Not attempted: an earlier call failed in a way every call would")


def test_a_user_that_no_longer_exists_is_a_conflict_for_compare_and_set_items_not_a_failure(iam):
    client, stubber = iam
    stubber.add_client_error("list_user_tags", "NoSuchEntity", "no user", 404, expected_params={"UserName": "ghost"})
    result, _diff = run(client, [undo("ghost", MARK, "2026-12-31", None)])
    assert result == {
        "changed": False,
        "tags": [
            {
                "user_name": "ghost",
                "key": MARK,
                "value": None,
                "previous_value": None,
                "changed": False,
                "conflict": True,
                "expected_value": None,
                "reason": "IAM user 'ghost' does not exist.",
            }
        ],
    }


def test_tag_user_failing_after_untag_reports_the_removal_done(iam):
    client, stubber = iam
    expect_tags(stubber, "bob", {MARK: "2026-12-31"})
    expect_untag(stubber, "bob", [MARK])
    stubber.add_client_error(
        "tag_user",
        "AccessDenied",
        "denied",
        403,
        expected_params={"UserName": "bob", "Tags": [{"Key": MARK2, "Value": "2027-01-01"}]},
    )
    with pytest.raises(KeyguardError) as caught:
        run(client, [undo("bob", MARK, None, "2026-12-31"), undo("bob", MARK2, "2027-01-01", None)])
    removed, failed = caught.value.result["tags"]
    assert removed == {"user_name": "bob", "key": MARK, "value": None, "previous_value": "2026-12-31", "changed": True}
    assert (failed["failed"], failed["changed"]) == (True, False)
    assert caught.value.result["changed"] is True


# --- input, before any call ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "item, message",
    [
        ({"key": "k", "value": "v"}, r"^tags\[0\]\.user_name must be 1 to 128"),
        ({"user_name": "bob smith", "key": "k", "value": "v"}, r"^tags\[0\]\.user_name must be"),
        ({"user_name": "bob", "value": "v"}, r"^tags\[0\]\.key must be a string, not NoneType\.$"),
        ({"user_name": "bob", "key": "", "value": "v"}, r"^tags\[0\]\.key must be 1 to 128 characters long, not 0\.$"),
        ({"user_name": "bob", "key": "k" * 129, "value": "v"}, r"^tags\[0\]\.key must be 1 to 128 characters"),
        (
            {"user_name": "bob", "key": "a;b", "value": "v"},
            r"^tags\[0\]\.key may hold only letters, digits, spaces and _ \. : / = \+ - @, not ';'\.$",
        ),
        ({"user_name": "bob", "key": "AWS:x", "value": "v"}, r"^tags\[0\]\.key may not start with aws:"),
        ({"user_name": "bob", "key": "k"}, r"^tags\[0\]\.value is required: the value the tag must have, or null"),
        ({"user_name": "bob", "key": "k", "value": "v" * 257}, r"^tags\[0\]\.value must be 0 to 256 characters"),
        ({"user_name": "bob", "key": "k", "value": 5}, r"^tags\[0\]\.value must be a string, not int, or null"),
        (
            {"user_name": "bob", "key": "k", "value": "v", "expected_value": "a\tb"},
            r"^tags\[0\]\.expected_value may hold only .*, not '\\t', or null for no tag\.$",
        ),
        ({"user_name": "bob", "key": "k", "value": "v", "expected": "x"}, r"^tags\[0\] has unknown fields expected;"),
    ],
)
def test_bad_items_are_named(item, message):
    with pytest.raises(KeyguardError, match=message):
        module.requested_tags({"tags": [item]})


def test_unicode_letters_and_the_allowed_punctuation_pass():
    item = {"user_name": "bob", "key": "Kostenstelle äöü 1", "value": "a_b.c:d/e=f+g-h@i j"}
    assert module.requested_tags({"tags": [item]}) == {"bob": [item]}


def test_a_tag_listed_twice_is_handled_once_or_refused():
    same = {"user_name": "bob", "key": "k", "value": "v"}
    assert module.requested_tags({"tags": [same, dict(same, user_name="Bob")]}) == {"bob": [same]}
    with pytest.raises(KeyguardError, match=r"^tags\[1\]: tag 'k' of IAM user 'bob' is listed twice"):
        module.requested_tags({"tags": [same, dict(same, value="w")]})


# --- main() -------------------------------------------------------------------------------------


def run_main(args, capsys):
    """Run main() with these task args; return its JSON result."""
    with patch_module_args(controller_args(args)), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def no_connect(monkeypatch):
    """Fail the test if the module tries to create a client."""

    def refuse(params, max_pool_connections=None):
        raise AssertionError("the module created a client")

    monkeypatch.setattr(module, "connect", refuse)


def test_main_bad_input_fails_before_any_client(capsys, no_connect):
    result = run_main({"tags": [{"user_name": "bob", "key": "aws:x", "value": None}]}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "tags[0].key may not start with aws: (AWS keeps that prefix for itself)."


def test_main_empty_list_makes_no_client(capsys, no_connect):
    assert run_main({"tags": []}, capsys)["changed"] is False


def test_main_check_and_diff_mode(capsys, monkeypatch, iam):
    client, stubber = iam
    monkeypatch.setattr(
        module, "connect", lambda params, max_pool_connections=None: Connection(client, SIGNER, frozenset(), (SECRET,))
    )
    expect_tags(stubber, "bob", {MARK: "2026-12-31"})
    args = {"tags": [undo("bob", MARK, None, "2026-12-31")], "_ansible_check_mode": True, "_ansible_diff": True}
    result = run_main(args, capsys)
    assert result["changed"] is True
    assert result["tags"][0]["value"] is None
    assert result["diff"] == {"before": {"users": {"bob": {MARK: "2026-12-31"}}}, "after": {"users": {"bob": {}}}}
