"""Unit tests of iam_access_key_status: every path, with a real IAM client behind botocore's Stubber."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import botocore.session
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils._aws import Connection, KeyguardError
from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_status as module
from ansible_collections.keyguard.aws.tests.unit.plugins.modules.task_args import controller_args, patch_module_args

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SIGNER = "AKIAI44QH8DHBEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
CREATED = datetime(2026, 8, 1, 9, 30, tzinfo=timezone.utc)
NOT_A_USER = "Must specify userName when calling with non-User credentials"


def metadata(status="Active", user="bob", key_id=KEY_ID):
    """Return one ListAccessKeys metadata entry."""
    return {"UserName": user, "AccessKeyId": key_id, "Status": status, "CreateDate": CREATED}


def key(status="Active", user="bob", key_id=KEY_ID):
    """Return the key as the module reports it."""
    return {"access_key_id": key_id, "user_name": user, "status": status, "create_date": "2026-08-01T09:30:00+00:00"}


def params(**overrides):
    """Return module params as AnsibleModule would hand them over."""
    base = dict(access_key_id=KEY_ID, user_name="bob", status="Inactive", allow_self_deactivation=False, concurrency=1)
    base.update(overrides)
    return base


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


def expect_list(stubber, keys, user_name=None):
    """Stub one ListAccessKeys call, with UserName only when given."""
    expected = {"UserName": user_name} if user_name else {}
    stubber.add_response("list_access_keys", {"AccessKeyMetadata": keys}, expected)


def expect_update(stubber, status, user_name=None, key_id=KEY_ID):
    """Stub one UpdateAccessKey call with exactly these parameters."""
    expected = {"AccessKeyId": key_id, "Status": status}
    if user_name:
        expected["UserName"] = user_name
    stubber.add_response("update_access_key", {}, expected)


def expect_owner(stubber, owner, key_id=KEY_ID):
    """Stub one GetAccessKeyLastUsed call answering with the key's owner."""
    stubber.add_response(
        "get_access_key_last_used",
        {"UserName": owner, "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}},
        {"AccessKeyId": key_id},
    )


def expect_error(stubber, method, code, expected, status=400, message="refused"):
    """Stub one call that fails with an AWS error code."""
    stubber.add_client_error(method, code, message, status, expected_params=expected)


def ensure(client, check_mode=False, **overrides):
    """Run the module's read-compare-apply steps as the key SIGNER; return (result, diff)."""
    task = params(**overrides)
    return module.ensure_status(client, module.requested_keys(task), task, frozenset([SIGNER]), check_mode)


# --- with user_name -----------------------------------------------------------------------------


def test_unchanged_key_costs_one_list_call(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Inactive")], "bob")
    result, diff = ensure(client)
    assert result == {"changed": False, "access_key": key("Inactive"), "previous_status": "Inactive"}
    assert diff == {"before": key("Inactive"), "after": key("Inactive")}


def test_change_is_one_list_and_one_update_without_reread(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", key_id=SIGNER), metadata("Active")], "bob")
    expect_update(stubber, "Inactive", "bob")
    result, diff = ensure(client)
    assert result == {"changed": True, "access_key": key("Inactive"), "previous_status": "Active"}
    assert diff == {"before": key("Active"), "after": key("Inactive")}


def test_activation(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Inactive")], "bob")
    expect_update(stubber, "Active", "bob")
    result = ensure(client, status="Active")[0]
    assert result["changed"] is True
    assert result["access_key"]["status"] == "Active"
    assert result["previous_status"] == "Inactive"


def test_check_mode_predicts_and_never_writes(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active")], "bob")  # no UpdateAccessKey stubbed: a write would fail
    result, diff = ensure(client, check_mode=True)
    assert result == {"changed": True, "access_key": key("Inactive"), "previous_status": "Active"}
    assert diff["before"]["status"] == "Active"


def test_check_mode_unchanged(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Inactive")], "bob")
    result = ensure(client, check_mode=True)[0]
    assert result["changed"] is False


def test_missing_user(iam):
    client, stubber = iam
    expect_error(stubber, "list_access_keys", "NoSuchEntity", {"UserName": "ghost"}, 404)
    with pytest.raises(KeyguardError, match=r"^IAM user 'ghost' does not exist\.$"):
        ensure(client, user_name="ghost")


def test_key_of_another_user_names_the_owner(iam):
    client, stubber = iam
    expect_list(stubber, [metadata(key_id="AKIAOTHERKEY00000001")], "bob")
    expect_owner(stubber, "alice")
    with pytest.raises(KeyguardError, match=r"belongs to IAM user 'alice', not 'bob'\. Set user_name to alice"):
        ensure(client)


def test_key_that_does_not_exist(iam):
    client, stubber = iam
    expect_list(stubber, [], "bob")
    expect_error(stubber, "get_access_key_last_used", "NoSuchEntity", {"AccessKeyId": KEY_ID}, 404)
    with pytest.raises(
        KeyguardError, match=rf"^Access key {KEY_ID} does not exist \(IAM user 'bob' has no such key\)\.$"
    ):
        ensure(client)


def test_key_missing_and_owner_lookup_denied(iam):
    client, stubber = iam
    expect_list(stubber, [], "bob")
    expect_error(stubber, "get_access_key_last_used", "AccessDenied", {"AccessKeyId": KEY_ID}, 403)
    with pytest.raises(
        KeyguardError, match=r"is not one of IAM user 'bob''s keys \(Access denied.*iam:GetAccessKeyLastUsed"
    ):
        ensure(client)


def test_list_denied_names_the_action_and_stops(iam):
    client, stubber = iam
    expect_error(
        stubber,
        "list_access_keys",
        "AccessDenied",
        {"UserName": "bob"},
        403,
        "User: arn:aws:iam::1:user/x is not authorized",
    )
    with pytest.raises(KeyguardError) as caught:
        ensure(client)
    assert str(caught.value).startswith("Access denied: these credentials may not call iam:ListAccessKeys.")
    assert "User: arn:aws:iam::1:user/x is not authorized" in str(caught.value)


def test_update_denied_names_the_action(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active")], "bob")
    expect_error(
        stubber,
        "update_access_key",
        "AccessDenied",
        {"UserName": "bob", "AccessKeyId": KEY_ID, "Status": "Inactive"},
        403,
    )
    with pytest.raises(
        KeyguardError,
        match=r"^Access denied: these credentials may not call iam:UpdateAccessKey\. Grant iam:UpdateAccessKey",
    ):
        ensure(client)


def test_throttled_past_retries(iam):
    client, stubber = iam
    stubber.add_client_error(
        "list_access_keys",
        "Throttling",
        "Rate exceeded",
        400,
        expected_params={"UserName": "bob"},
        response_meta={"RetryAttempts": 4},
    )
    with pytest.raises(
        KeyguardError, match=r"^IAM throttled iam:ListAccessKeys and it still failed after 5 attempts \(Throttling\)"
    ) as caught:
        ensure(client)
    assert caught.value.code == "Throttling"


# --- without user_name -------------------------------------------------------------------------


def test_implicit_own_key_updates_without_user_name(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", user="carol")])
    expect_update(stubber, "Inactive")
    result = ensure(client, user_name=None)[0]
    assert result == {"changed": True, "access_key": key("Inactive", user="carol"), "previous_status": "Active"}


def test_implicit_own_key_unchanged_is_one_call(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Inactive", user="carol")])
    result = ensure(client, user_name=None)[0]
    assert result["changed"] is False


def test_implicit_root_key_has_no_user_name(iam):
    client, stubber = iam
    root_key = {"AccessKeyId": KEY_ID, "Status": "Active", "CreateDate": CREATED}
    expect_list(stubber, [root_key])
    expect_update(stubber, "Inactive")
    result = ensure(client, user_name=None)[0]
    assert result["access_key"] == key("Inactive", user=None)


def test_owner_lookup_when_key_is_not_the_callers(iam):
    client, stubber = iam
    expect_list(stubber, [metadata(user="carol", key_id=SIGNER)])
    expect_owner(stubber, "bob")
    expect_list(stubber, [metadata("Active")], "bob")
    expect_update(stubber, "Inactive", "bob")
    result = ensure(client, user_name=None)[0]
    assert result == {"changed": True, "access_key": key("Inactive"), "previous_status": "Active"}


@pytest.mark.parametrize("code", ["ValidationError", "NoSuchEntity"])
def test_owner_lookup_when_caller_is_not_an_iam_user(iam, code):
    client, stubber = iam
    expect_error(stubber, "list_access_keys", code, {}, message=NOT_A_USER)
    expect_owner(stubber, "bob")
    expect_list(stubber, [metadata("Inactive")], "bob")
    result = ensure(client, user_name=None)[0]
    assert result == {"changed": False, "access_key": key("Inactive"), "previous_status": "Inactive"}


def test_owner_lookup_when_caller_may_not_list_its_own_keys(iam):
    """A policy narrowed to user/service/* denies the caller's own listing; the owner lookup still finds the key."""
    client, stubber = iam
    expect_error(stubber, "list_access_keys", "AccessDenied", {}, 403)
    expect_owner(stubber, "bob")
    expect_list(stubber, [metadata("Active")], "bob")
    expect_update(stubber, "Inactive", "bob")
    result = ensure(client, user_name=None)[0]
    assert result == {"changed": True, "access_key": key("Inactive"), "previous_status": "Active"}


def test_bulk_lists_the_callers_own_keys_once_even_when_denied(iam):
    client, stubber = iam
    expect_error(stubber, "list_access_keys", "AccessDenied", {}, 403)
    for key_id, owner in ((K1, "bob"), (K2, "carol")):
        expect_owner(stubber, owner, key_id)
        expect_list(stubber, [metadata("Active", owner, key_id)], owner)
        expect_update(stubber, "Inactive", owner, key_id)
    result, _diff = bulk(client, [{"access_key_id": K1}, {"access_key_id": K2}])
    assert [(r["user_name"], r["status"], r["changed"]) for r in result["access_keys"]] == [
        ("bob", "Inactive", True),
        ("carol", "Inactive", True),
    ]


def test_owner_lookup_check_mode_never_writes(iam):
    client, stubber = iam
    expect_error(stubber, "list_access_keys", "ValidationError", {}, message=NOT_A_USER)
    expect_owner(stubber, "bob")
    expect_list(stubber, [metadata("Active")], "bob")
    result = ensure(client, check_mode=True, user_name=None)[0]
    assert result["changed"] is True
    assert result["access_key"] == key("Inactive")


def test_owner_lookup_refused_suggests_user_name(iam):
    client, stubber = iam
    expect_error(stubber, "list_access_keys", "ValidationError", {}, message=NOT_A_USER)
    expect_error(stubber, "get_access_key_last_used", "AccessDenied", {"AccessKeyId": KEY_ID}, 403)
    with pytest.raises(KeyguardError) as caught:
        ensure(client, user_name=None)
    message = str(caught.value)
    assert "its owner could not be found" in message
    assert "iam:GetAccessKeyLastUsed" in message
    assert message.endswith("Set user_name to the IAM user that owns it.")


def test_owner_lookup_of_unknown_key(iam):
    client, stubber = iam
    expect_list(stubber, [])
    expect_error(
        stubber,
        "get_access_key_last_used",
        "NoSuchEntity",
        {"AccessKeyId": KEY_ID},
        404,
        "The Access Key cannot be found",
    )
    with pytest.raises(KeyguardError) as caught:
        ensure(client, user_name=None)
    # A key IAM does not know is said to be missing, not an owner lookup that failed (issue 16, item 12).
    assert str(caught.value) == (
        f"Access key {KEY_ID} does not exist in this account (it is not among the caller's own keys, and IAM knows "
        "no owner for it: iam:GetAccessKeyLastUsed failed (NoSuchEntity): The Access Key cannot be found). "
        "Check the key ID."
    )
    assert caught.value.code == "NoSuchEntity"


def test_own_listing_and_owner_lookup_both_denied_suggests_user_name(iam):
    client, stubber = iam
    expect_error(stubber, "list_access_keys", "AccessDenied", {}, 403)
    expect_error(stubber, "get_access_key_last_used", "AccessDenied", {"AccessKeyId": KEY_ID}, 403)
    with pytest.raises(KeyguardError) as caught:
        ensure(client, user_name=None)
    assert str(caught.value) == (
        f"Access key {KEY_ID} was not found among the caller's own keys, and its owner could not be found: "
        "Access denied: these credentials may not call iam:GetAccessKeyLastUsed. Grant iam:GetAccessKeyLastUsed "
        "or use other credentials. AWS said: refused. Set user_name to the IAM user that owns it."
    )


def test_owner_reported_but_key_gone(iam):
    client, stubber = iam
    expect_list(stubber, [])
    expect_owner(stubber, "bob")
    expect_list(stubber, [], "bob")
    with pytest.raises(KeyguardError, match=r"not among the keys of its owner 'bob'"):
        ensure(client, user_name=None)


# --- self-lockout guard ------------------------------------------------------------------------


@pytest.mark.parametrize("check_mode", [False, True])
def test_refuses_to_deactivate_its_own_signing_key_before_any_call(iam, check_mode):
    client = iam[0]  # nothing stubbed: any API call fails the test
    with pytest.raises(KeyguardError, match=r"^Refusing to deactivate access key AKIAI44QH8DHBEXAMPLE: it signs"):
        ensure(client, check_mode=check_mode, access_key_id=SIGNER, user_name=None)


def test_self_deactivation_when_allowed(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", key_id=SIGNER)], "bob")
    expect_update(stubber, "Inactive", "bob", key_id=SIGNER)
    result = ensure(client, access_key_id=SIGNER, allow_self_deactivation=True)[0]
    assert result["changed"] is True


def test_activating_its_own_key_is_no_lockout(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", key_id=SIGNER)], "bob")
    result = ensure(client, access_key_id=SIGNER, status="Active")[0]
    assert result["changed"] is False


# --- the whole module through main() ----------------------------------------------------------


def run_main(args, capsys):
    """Run main() with these task args; return its JSON result."""
    with patch_module_args(controller_args(args)), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def no_connect(monkeypatch):
    """Fail the test if the module tries to create a client."""

    def refuse(params):
        raise AssertionError("the module created a client for invalid input")

    monkeypatch.setattr(module, "connect", refuse)


@pytest.fixture
def connected(monkeypatch, iam):
    """Make main() use the stubbed client, signing as SIGNER with a session token."""
    client, stubber = iam
    connection = Connection(client, SIGNER, frozenset([SIGNER]), (SECRET, "SESSIONTOKENVALUE"))
    monkeypatch.setattr(module, "connect", lambda params, max_pool_connections=None: connection)
    return stubber


@pytest.mark.parametrize(
    "args, option",
    [
        (dict(access_key_id=KEY_ID, status="active"), "status"),
        (dict(access_key_id=KEY_ID, status="Expired"), "status"),
        (dict(access_key_id="AKIA SHORT", status="Inactive"), "access_key_id"),
        (dict(access_key_id="A" * 129, status="Inactive"), "access_key_id"),
        (dict(access_key_id=KEY_ID, user_name="bob smith", status="Inactive"), "user_name"),
        (dict(access_key_id=KEY_ID, user_name="", status="Inactive"), "user_name"),
        (dict(access_key_id=KEY_ID, status="Inactive", region="US East"), "region"),
        (dict(access_key_id=KEY_ID, status="Inactive", endpoint_url="localhost:5000"), "endpoint_url"),
        (dict(access_key_id=KEY_ID, status="Inactive", aws_config={"retries": {"mode": "bogus"}}), "aws_config"),
        (dict(access_key_id=KEY_ID, status="Inactive", aws_config={"no_such_setting": 1}), "aws_config"),
        (dict(access_key_id=KEY_ID, status="Inactive", access_key=SIGNER), "secret_key"),
        (dict(access_key_id=KEY_ID, status="Inactive", access_key="", secret_key="x"), "access_key"),
        (dict(access_key_id=KEY_ID, status="Inactive", profile="p", access_key=SIGNER, secret_key="x"), "profile"),
        (dict(access_key_id=KEY_ID, status="Inactive", aws_ca_bundle="/nonexistent/ca.pem"), "aws_ca_bundle"),
    ],
)
def test_invalid_input_fails_naming_the_option_without_a_client(args, option, capsys, no_connect):
    result = run_main(args, capsys)
    assert result["failed"] is True
    assert option in result["msg"]
    assert "Traceback" not in result["msg"]


def test_main_reports_diff_and_predicted_state_in_check_mode(capsys, connected):
    expect_list(connected, [metadata("Active")], "bob")
    args = dict(access_key_id=KEY_ID, user_name="bob", status="Inactive", _ansible_check_mode=True, _ansible_diff=True)
    result = run_main(args, capsys)
    assert result["changed"] is True
    assert result["access_key"] == key("Inactive")
    assert result["previous_status"] == "Active"
    assert result["diff"] == {"before": key("Active"), "after": key("Inactive")}


def test_main_without_diff_mode_returns_no_diff(capsys, connected):
    expect_list(connected, [metadata("Inactive")], "bob")
    result = run_main(dict(access_key_id=KEY_ID, user_name="bob", status="Inactive"), capsys)
    assert result["changed"] is False
    assert "diff" not in result


def test_main_redacts_secrets_that_an_error_echoes(capsys, connected):
    echoed = f"request had token SESSIONTOKENVALUE and secret {SECRET}"
    expect_error(connected, "list_access_keys", "InvalidClientTokenId", {"UserName": "bob"}, 403, echoed)
    result = run_main(dict(access_key_id=KEY_ID, user_name="bob", status="Inactive"), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("AWS rejected the credentials calling iam:ListAccessKeys (InvalidClientTokenId)")
    assert "SESSIONTOKENVALUE" not in result["msg"]
    assert SECRET not in result["msg"]
    assert "********" in result["msg"]


# --- bulk: access_keys --------------------------------------------------------------------------

K1, K2, K3, K4 = (f"AKIABULKEXAMPLE0000{i}" for i in range(1, 5))


def bulk(client, items, check_mode=False, status="Inactive", **overrides):
    """Run the bulk path for these access_keys items; return (result, diff)."""
    task = dict(
        access_key_id=None,
        user_name=None,
        access_keys=items,
        status=status,
        allow_self_deactivation=False,
        concurrency=1,
    )
    task.update(overrides)
    return module.ensure_status(client, module.requested_keys(task), task, frozenset([SIGNER]), check_mode)


def test_bulk_lists_each_user_once_and_writes_only_what_changes(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", "bob", K1), metadata("Inactive", "bob", K2)], "bob")
    expect_update(stubber, "Inactive", "bob", K1)
    expect_list(stubber, [metadata("Active", "alice", K3)], "alice")
    expect_update(stubber, "Inactive", "alice", K3)
    items = [
        {"access_key_id": K1, "user_name": "bob", "status": "Active", "age_days": 99},  # info fields ignored
        {"access_key_id": K2, "user_name": "bob"},
        {"access_key_id": K3, "user_name": "alice"},
        {"access_key_id": K1, "user_name": "bob"},  # listed twice, handled once
    ]
    result, diff = bulk(client, items)
    assert result["changed"] is True
    assert [(r["access_key_id"], r["previous_status"], r["status"], r["changed"]) for r in result["access_keys"]] == [
        (K1, "Active", "Inactive", True),
        (K2, "Inactive", "Inactive", False),
        (K3, "Active", "Inactive", True),
    ]
    assert [k["status"] for k in diff["before"]["access_keys"]] == ["Active", "Inactive", "Active"]
    assert [k["status"] for k in diff["after"]["access_keys"]] == ["Inactive"] * 3


def test_bulk_owner_lookup_only_for_keys_without_a_user(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", "bob", K1), metadata("Active", "bob", K2)], "bob")
    expect_update(stubber, "Inactive", "bob", K1)
    expect_list(stubber, [metadata("Active", "carol", SIGNER)])  # the caller's own keys, listed once
    expect_owner(stubber, "bob", K2)  # bob's keys are not listed again
    expect_update(stubber, "Inactive", "bob", K2)
    expect_owner(stubber, "dave", K3)
    expect_list(stubber, [metadata("Active", "dave", K3)], "dave")
    expect_update(stubber, "Inactive", "dave", K3)
    result, _diff = bulk(
        client, [{"access_key_id": K1, "user_name": "bob"}, {"access_key_id": K2}, {"access_key_id": K3}]
    )
    assert [r["user_name"] for r in result["access_keys"]] == ["bob", "bob", "dave"]


def test_bulk_missing_key_in_the_middle_fails_naming_it_and_the_changed_ones(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", "bob", K1), metadata("Active", "bob", K3)], "bob")
    expect_update(stubber, "Inactive", "bob", K1)
    expect_error(stubber, "get_access_key_last_used", "NoSuchEntity", {"AccessKeyId": K2}, 404)
    expect_update(stubber, "Inactive", "bob", K3)
    expect_error(stubber, "list_access_keys", "NoSuchEntity", {"UserName": "ghost"}, 404)
    items = [{"access_key_id": k, "user_name": "bob"} for k in (K1, K2, K3)] + [
        {"access_key_id": K4, "user_name": "ghost"}
    ]
    with pytest.raises(KeyguardError) as caught:
        bulk(client, items)
    message = str(caught.value)
    assert message.startswith(f"2 of 4 access keys failed: {K2}: Access key {K2} does not exist")
    assert f"{K4}: IAM user 'ghost' does not exist." in message
    assert message.endswith(f"The task changed the others as asked: {K1}, {K3}.")
    result = caught.value.result
    assert result["changed"] is True
    assert [(r["access_key_id"], r["changed"], r.get("failed", False)) for r in result["access_keys"]] == [
        (K1, True, False),
        (K2, False, True),
        (K3, True, False),
        (K4, False, True),
    ]


def test_bulk_check_mode_never_writes(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", "bob", K1), metadata("Active", "bob", K2)], "bob")
    result, _diff = bulk(
        client, [{"access_key_id": K1, "user_name": "bob"}, {"access_key_id": K2, "user_name": "bob"}], check_mode=True
    )
    assert [r["status"] for r in result["access_keys"]] == ["Inactive", "Inactive"]
    assert result["changed"] is True


def test_bulk_empty_list_changes_nothing(iam):
    client = iam[0]
    assert bulk(client, []) == (
        {"changed": False, "access_keys": []},
        {"before": {"access_keys": []}, "after": {"access_keys": []}},
    )


def test_bulk_guard_covers_every_key_before_any_call(iam):
    client = iam[0]
    with pytest.raises(KeyguardError, match=r"^Refusing to deactivate access key AKIAI44QH8DHBEXAMPLE"):
        bulk(client, [{"access_key_id": K1, "user_name": "bob"}, {"access_key_id": SIGNER}])


@pytest.mark.parametrize(
    "items, message",
    [
        ([{"user_name": "bob"}], r"^access_keys\[0\]\.access_key_id must be 16 to 128"),
        ([{"access_key_id": K1}, {"access_key_id": "short"}], r"^access_keys\[1\]\.access_key_id must be"),
        ([{"access_key_id": K1, "user_name": "bob smith"}], r"^access_keys\[0\]\.user_name must be 1 to 128"),
        ([{"access_key_id": K1, "user_name": 7}], r"^access_keys\[0\]\.user_name must be"),
        (
            [{"access_key_id": K1, "user_name": "a"}, {"access_key_id": K1, "user_name": "b"}],
            r"^access_keys\[1\]\.access_key_id .* listed twice",
        ),
    ],
)
def test_bulk_bad_items_are_named(items, message):
    task = dict(access_key_id=None, user_name=None, access_keys=items)
    with pytest.raises(KeyguardError, match=message):
        module.requested_keys(task)


@pytest.mark.parametrize("named_first", [True, False], ids=["named-first", "unnamed-first"])
def test_bulk_unnamed_item_merges_into_the_named_one(named_first):
    items = [{"access_key_id": K1, "user_name": "bob"}, {"access_key_id": K1}, {"access_key_id": K2}]
    items = items if named_first else [items[1], items[0], items[2]]
    task = dict(access_key_id=None, user_name=None, access_keys=items)
    assert module.requested_keys(task) == [(K1, "bob"), (K2, None)]


def test_bulk_user_names_differing_only_in_case_are_one_user():
    """IAM user names are case-insensitive, so bob and Bob name the same user; the first spelling is kept."""
    items = [{"access_key_id": K1, "user_name": "bob"}, {"access_key_id": K1, "user_name": "Bob"}]
    task = dict(access_key_id=None, user_name=None, access_keys=items)
    assert module.requested_keys(task) == [(K1, "bob")]


def test_bulk_conflict_names_both_user_names():
    items = [{"access_key_id": K1, "user_name": "alice"}, {"access_key_id": K1, "user_name": "bob"}]
    with pytest.raises(KeyguardError) as caught:
        module.requested_keys(dict(access_key_id=None, user_name=None, access_keys=items))
    assert str(caught.value) == (
        f"access_keys[1].access_key_id {K1} is listed twice, with different user names 'alice' and 'bob'; "
        "a key belongs to one user."
    )


def test_bulk_unnamed_item_between_two_different_names_still_conflicts():
    items = [{"access_key_id": K1, "user_name": "a"}, {"access_key_id": K1}, {"access_key_id": K1, "user_name": "b"}]
    with pytest.raises(KeyguardError, match=r"^access_keys\[2\]\.access_key_id .* listed twice"):
        module.requested_keys(dict(access_key_id=None, user_name=None, access_keys=items))


def test_main_bulk_partial_failure_reports_every_key(capsys, connected):
    expect_list(connected, [metadata("Active", "bob", K1)], "bob")
    expect_update(connected, "Inactive", "bob", K1)
    expect_error(connected, "list_access_keys", "AccessDenied", {"UserName": "alice"}, 403)
    items = [{"access_key_id": K1, "user_name": "bob"}, {"access_key_id": K2, "user_name": "alice"}]
    # One worker: the Stubber answers in the order it was given; concurrency has its own tests against moto.
    result = run_main({"access_keys": items, "status": "Inactive", "concurrency": 1}, capsys)
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["msg"].startswith(f"1 of 2 access keys failed: {K2}: Access denied")
    assert [r["access_key_id"] for r in result["access_keys"]] == [K1, K2]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            {"access_keys": [], "access_key_id": KEY_ID, "status": "Inactive"},
            "mutually exclusive: access_key_id|access_keys",
        ),
        ({"access_keys": [], "user_name": "bob", "status": "Inactive"}, "mutually exclusive: user_name|access_keys"),
        ({"status": "Inactive"}, "one of the following is required: access_key_id, access_keys"),
    ],
)
def test_main_bulk_option_rules(args, fragment, capsys, no_connect):
    result = run_main(args, capsys)
    assert result["failed"] is True
    assert fragment in result["msg"]


def time_out_updates(client):
    """Make every UpdateAccessKey of this client end in a read timeout once the request went out (and was checked)."""

    def timed_out(**_kwargs):
        raise ReadTimeoutError(endpoint_url="https://iam.amazonaws.com/")

    client.meta.events.register("after-call.iam.UpdateAccessKey", timed_out)


def test_an_unanswered_update_leaves_the_key_state_unknown_not_unchanged(iam):
    client, stubber = iam
    time_out_updates(client)
    expect_list(stubber, [metadata("Active", "bob", K1)], "bob")
    expect_update(stubber, "Inactive", "bob", K1)
    with pytest.raises(KeyguardError, match=f"^Access key {K1} of IAM user 'bob': the update to Inactive was sent"):
        ensure(client, access_key_id=K1)

    expect_list(stubber, [metadata("Active", "bob", K1), metadata("Active", "bob", K2)], "bob")
    expect_update(stubber, "Inactive", "bob", K1)
    with pytest.raises(KeyguardError) as caught:
        bulk(client, [{"access_key_id": k, "user_name": "bob"} for k in (K1, K2)])
    message = str(caught.value)
    assert "its state is unknown (it may be Inactive or still Active)" in message
    assert f"1 access keys were not attempted ({K2}; each is in access_keys with attempted: false)" in message
    assert f"The state of {K1} is unknown: the update was sent but not answered." in message
    first, second = caught.value.result["access_keys"]
    assert "changed" not in first and first["state_unknown"] is True and first["failed"] is True
    assert (second["attempted"], second["changed"]) == (False, False)
    assert caught.value.result["changed"] is False


def test_a_stopped_bulk_names_five_not_attempted_keys_and_counts_the_rest(iam):
    client, stubber = iam
    keys = [f"AKIAEXAMPLE{i:09d}" for i in range(40)]
    expect_error(stubber, "list_access_keys", "ServiceUnavailable", {"UserName": "bob"}, 503)
    with pytest.raises(KeyguardError) as caught:
        bulk(client, [{"access_key_id": k, "user_name": "bob"} for k in keys])
    message = str(caught.value)
    assert f"39 access keys were not attempted ({', '.join(keys[1:6])} and 34 more;" in message
    assert keys[6] not in message and len(message) < 1000
    assert sum(r.get("attempted") is False for r in caught.value.result["access_keys"]) == 39


# --- bulk: expected_status (compare-and-set) ----------------------------------------------------


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
def test_bulk_expected_status_leaves_a_changed_key_alone_as_a_conflict(iam, check_mode):
    client, stubber = iam
    expect_list(stubber, [metadata("Inactive", "bob", K1), metadata("Active", "bob", K2)], "bob")
    if not check_mode:  # only K1 is still as the sweep left it; in check mode no write is stubbed, so none may run
        expect_update(stubber, "Active", "bob", K1)
    expect_list(stubber, [metadata("Inactive", "alice", K3)], "alice")
    items = [
        {"access_key_id": K1, "user_name": "bob", "expected_status": "Inactive"},
        {"access_key_id": K2, "user_name": "bob", "expected_status": "Inactive"},  # re-activated by hand since
        {"access_key_id": K3, "user_name": "alice", "expected_status": "Active"},  # deactivated by hand since
    ]
    result, diff = bulk(client, items, check_mode=check_mode, status="Active")
    assert result["changed"] is True
    first, second, third = result["access_keys"]
    assert (first["status"], first["previous_status"], first["changed"]) == ("Active", "Inactive", True)
    assert "conflict" not in first and "expected_status" not in first
    assert second == dict(key("Active", "bob", K2), previous_status="Active", changed=False, conflict=True,
                          expected_status="Inactive")  # fmt: skip
    assert third == dict(key("Inactive", "alice", K3), previous_status="Inactive", changed=False, conflict=True,
                         expected_status="Active")  # fmt: skip
    assert "failed" not in second and "failed" not in third
    assert [k["status"] for k in diff["before"]["access_keys"]] == ["Inactive", "Active", "Inactive"]
    assert [k["status"] for k in diff["after"]["access_keys"]] == ["Active", "Active", "Inactive"]


def test_bulk_only_conflicts_is_not_a_change(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", "bob", K1)], "bob")
    result, diff = bulk(client, [{"access_key_id": K1, "user_name": "bob", "expected_status": "Inactive"}])
    assert result["changed"] is False
    assert result["access_keys"][0]["conflict"] is True
    assert diff["before"] == diff["after"]


def test_bulk_conflict_is_not_counted_in_a_failure(iam):
    client, stubber = iam
    expect_list(stubber, [metadata("Active", "bob", K1)], "bob")
    expect_error(stubber, "list_access_keys", "NoSuchEntity", {"UserName": "ghost"}, 404)
    items = [
        {"access_key_id": K1, "user_name": "bob", "expected_status": "Inactive"},
        {"access_key_id": K2, "user_name": "ghost"},
    ]
    with pytest.raises(KeyguardError) as caught:
        bulk(client, items, status="Active")
    assert str(caught.value).startswith(f"1 of 2 access keys failed: {K2}: IAM user 'ghost' does not exist.")
    assert caught.value.result["access_keys"][0] == dict(
        key("Active", "bob", K1), previous_status="Active", changed=False, conflict=True, expected_status="Inactive"
    )  # found Active, not Inactive as expected: left alone, and not among the failures


def test_bulk_a_key_expected_in_a_status_that_no_longer_exists_is_a_conflict_not_a_failure(iam):
    client, stubber = iam
    expect_error(stubber, "list_access_keys", "NoSuchEntity", {"UserName": "ghost"}, 404)
    items = [{"access_key_id": K2, "user_name": "ghost", "expected_status": "Inactive"}]
    result, _diff = bulk(client, items, status="Active")  # an undo: no write, and no failure
    assert result["changed"] is False
    assert result["access_keys"][0] == dict(
        access_key_id=K2,
        user_name="ghost",
        status=None,
        changed=False,
        conflict=True,
        expected_status="Inactive",
        reason="IAM user 'ghost' does not exist.",
    )


@pytest.mark.parametrize(
    "items, message",
    [
        (
            [{"access_key_id": K1, "expected_status": "inactive"}],
            r"^access_keys\[0\]\.expected_status must be Active or Inactive \(or left out\), not 'inactive'\.$",
        ),
        (
            [{"access_key_id": K1, "expected_status": True}],
            r"^access_keys\[0\]\.expected_status must be Active or Inactive",
        ),
        (
            [{"access_key_id": K1, "expected_status": "Active"}, {"access_key_id": K1, "expected_status": "Inactive"}],
            rf"^access_keys\[1\]\.access_key_id {K1} is listed twice, with different expected_status 'Active' and "
            r"'Inactive'; drop one of them\.$",
        ),
    ],
)
def test_bulk_bad_expected_status_is_named_before_any_call(items, message):
    with pytest.raises(KeyguardError, match=message):
        module.requested_keys(dict(access_key_id=None, user_name=None, access_keys=items))
