"""Account-scale sweeps end to end: credential report or API, concurrency, churn, throttling, endpoint failures."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from fault_proxy import ERROR_BODY
from harness import ADMIN_KEY, assert_clean_failure
from latency_proxy import LatencyProxy

INFO = "keyguard.aws.iam_access_key_info"
STATUS = "keyguard.aws.iam_access_key_status"
REPORT_CALLS = Counter(GenerateCredentialReport=2, GetCredentialReport=1)  # moto: STARTED, then COMPLETE


def error(code, status=400):
    """Return (status, body) of an IAM error, as the proxy hook answers it."""
    kind = "Receiver" if status >= 500 else "Sender"
    return status, ERROR_BODY.format(kind=kind, code=code, message=f"{code} injected by the test")


@pytest.fixture
def proxy(moto):
    """Yield a latency-free proxy in front of moto whose hook a test may set."""
    with LatencyProxy(moto.url, latency=0) as running:
        yield running


def through(ansible, proxy):
    """Return connection options that reach moto through the proxy."""
    return dict(ansible.connection(), endpoint_url=proxy.url)


def stale_users(moto, count, keys_per_user=1, prefix="u", path="/"):
    """Create users whose keys were made 100 days ago and never used; return {user: [key ids]}."""
    made = {}
    moto.days_ago(100)
    for index in range(count):
        user = f"{prefix}{index:02d}"
        moto.iam.create_user(UserName=user, Path=path)
        made[user] = [moto.add_key(user)["AccessKeyId"] for _key in range(keys_per_user)]
    moto.days_ago(0)
    return made


def delete_user(moto, user):
    """Delete a user and its keys, straight on the server."""
    for key in moto.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        moto.iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    moto.iam.delete_user(UserName=user)


@pytest.mark.parametrize("source", ["api", "credential_report"])
def test_path_prefix_limits_the_sweep_in_both_sources(ansible, moto, source):
    service = stale_users(moto, 2, prefix="svc", path="/service/")
    team = stale_users(moto, 1, prefix="team", path="/service/team/")
    stale_users(moto, 2, prefix="human")
    args = dict(all_users=True, path_prefix="/service/", status="Active", source=source, concurrency=1)
    run = ansible.run(dict(args, **ansible.connection()), module=INFO)
    assert run.result.get("failed") is not True, run.stdout
    expected = service["svc00"] + service["svc01"] + team["team00"]
    assert [key["access_key_id"] for key in run.result["access_keys"]] == expected
    listed = sorted(params["UserName"] for action, params in run.requests if action == "ListAccessKeys")
    assert listed == ["svc00", "svc01", "team00"]  # the people outside the path are never listed
    # With no age filter a key made after the report could pass, so the report path pages ListUsers too.
    assert [params for action, params in run.requests if action == "ListUsers"] == [
        {"Version": "2010-05-08", "MaxItems": "1000", "PathPrefix": "/service/"}
    ]
    if source == "api":
        assert run.calls == Counter(ListUsers=1, ListAccessKeys=3, GetAccessKeyLastUsed=3)
    else:
        assert run.calls == REPORT_CALLS + Counter(ListUsers=1, ListAccessKeys=3)
        assert run.result["root_access_keys"] is None  # the root user lies under no path


def test_auto_falls_back_to_the_api_with_one_warning_when_the_report_is_denied(ansible, moto):
    auditor = moto.user_with_key(
        "auditor", policy=allow_only("iam:ListUsers", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed")
    )
    stale_users(moto, 2)
    moto.enforce_auth()
    connection = ansible.connection(auditor["AccessKeyId"], auditor["SecretAccessKey"])
    run = ansible.run(dict(all_users=True, status="Active", unused_for_days=45, **connection), module=INFO)
    assert run.result.get("failed") is not True, run.stdout
    assert run.result["source"] == "api"
    assert len(run.result["access_keys"]) == 2
    (warning,) = run.result["warnings"]
    assert "iam:GenerateCredentialReport" in warning and "instead of the credential report" in warning
    assert run.calls == Counter(GenerateCredentialReport=1, ListUsers=1, ListAccessKeys=3, GetAccessKeyLastUsed=3)

    run = ansible.run(dict(all_users=True, source="credential_report", **connection), module=INFO)
    assert_clean_failure(run, "iam:GenerateCredentialReport", "Access denied")
    assert run.calls == Counter(GenerateCredentialReport=1)


def allow_only(*actions):
    """Return an IAM policy allowing exactly these actions."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}


@pytest.mark.parametrize(
    ("module", "args", "fragments"),
    [
        (INFO, dict(all_users=True, concurrency=0), ["concurrency must be between 1 and 32", "got 0"]),
        (INFO, dict(all_users=True, concurrency=33), ["concurrency must be between 1 and 32"]),
        (INFO, dict(source="credential_report"), ["source: credential_report works with all_users: true only"]),
        (INFO, dict(all_users=True, source="csv"), ["source must be one of"]),
        (INFO, dict(all_users=True, path_prefix="service"), ["path_prefix must be a path that starts and ends"]),
        (INFO, dict(all_users=True, path_prefix="/a b/"), ["path_prefix must be"]),
        (INFO, dict(user_name="bob", path_prefix="/service/"), ["path_prefix works with all_users: true only"]),
        (INFO, dict(user_name="bob", source="api"), ["source: api works with all_users: true only", "drop source"]),
        (INFO, dict(source="api"), ["source: api works with all_users: true only; set all_users, or drop source."]),
        (STATUS, dict(access_keys=[], status="Inactive", concurrency=-1), ["concurrency must be between 1 and 32"]),
        (STATUS, dict(access_keys=[], status="Inactive", concurrency="many"), ["concurrency", "int"]),
    ],
)
def test_bad_new_options_fail_before_any_call(ansible, moto, module, args, fragments):
    run = ansible.run(dict(args, **ansible.connection()), module=module)
    assert_clean_failure(run, *fragments)
    assert run.calls == Counter()


@pytest.mark.parametrize("source", ["api", "credential_report"])
def test_churn_mid_sweep_is_skipped_with_the_reason(ansible, moto, proxy, source):
    made = stale_users(moto, 6)
    vanishing_key = made["u04"][0]

    def hook(service, action, params, number):
        # Delete u02 just before its keys are listed, and u04's key just before anything reads its last use
        # (the API path) or after its listing (the report path: the key is gone by the time it is reported).
        if action == "ListAccessKeys" and params.get("UserName") == "u02":
            delete_user(moto, "u02")
        if action == "ListAccessKeys" and params.get("UserName") == "u03":
            moto.iam.delete_access_key(UserName="u03", AccessKeyId=made["u03"][0])
        if action == "GetAccessKeyLastUsed" and params.get("AccessKeyId") == vanishing_key:
            moto.iam.delete_access_key(UserName="u04", AccessKeyId=vanishing_key)

    proxy.hook = hook
    args = dict(all_users=True, status="Active", unused_for_days=45, source=source, concurrency=8)
    run = ansible.run(dict(args, **through(ansible, proxy)), module=INFO)
    assert run.result.get("failed") is not True, run.stdout
    skipped = run.result["skipped_keys"]
    assert [(entry["user_name"], entry["access_key_id"]) for entry in skipped][0] == ("u02", None)
    assert "the user was deleted while the sweep ran" in skipped[0]["reason"]
    assert "NoSuchEntity" in skipped[0]["reason"] or "does not exist" in skipped[0]["reason"]
    found = [key["user_name"] for key in run.result["access_keys"]]
    assert found == ["u00", "u01", "u05"]
    if source == "api":
        # u03's key went before its listing: the API path never knew of it, so there is nothing to account for.
        assert [(entry["user_name"], entry["access_key_id"]) for entry in skipped] == [
            ("u02", None),
            ("u04", vanishing_key),
        ]
        assert "the key was deleted while the sweep ran" in skipped[1]["reason"]
    else:
        # The report knew u03's key; the listing no longer has it. u04's key is a candidate whose last use is
        # confirmed with IAM, which no longer knows it.
        assert [(entry["user_name"], entry["access_key_id"]) for entry in skipped] == [
            ("u02", None),
            ("u03", None),
            ("u04", vanishing_key),
        ]
        assert "(slot 1 of the credential report) was deleted after the report was generated" in skipped[1]["reason"]
        assert "the key was deleted while the sweep ran" in skipped[2]["reason"]


def test_report_sweep_finds_keys_made_or_reactivated_after_the_report(ansible, moto, proxy):
    made = stale_users(moto, 3)
    moto.iam.update_access_key(UserName="u01", AccessKeyId=made["u01"][0], Status="Inactive")
    since = {}

    def hook(service, action, params, number):
        # Once the report is read (moto builds it on GetCredentialReport): a new user with a key, a second key for
        # u00, u01's key active again.
        if action in ("ListUsers", "ListAccessKeys") and not since:
            moto.iam.create_user(UserName="newbie")
            since["newbie"] = moto.add_key("newbie")["AccessKeyId"]
            since["u00"] = moto.add_key("u00")["AccessKeyId"]
            moto.iam.update_access_key(UserName="u01", AccessKeyId=made["u01"][0], Status="Active")

    proxy.hook = hook
    args = dict(all_users=True, status="Active", include_last_used=False, source="credential_report", concurrency=2)
    run = ansible.run(dict(args, **through(ansible, proxy)), module=INFO)
    assert run.result.get("failed") is not True, run.stdout
    found = {key["access_key_id"] for key in run.result["access_keys"]}
    assert found == {*made["u00"], since["u00"], *made["u01"], *made["u02"], since["newbie"]}
    by_the_hook = Counter(CreateUser=1, CreateAccessKey=2, UpdateAccessKey=1)
    assert run.calls == REPORT_CALLS + Counter(ListUsers=1, ListAccessKeys=4) + by_the_hook


def test_bulk_key_deleted_between_read_and_write_is_a_failure_that_says_so(ansible, moto, proxy):
    made = stale_users(moto, 3)
    doomed = made["u01"][0]

    def hook(service, action, params, number):
        if action == "UpdateAccessKey" and params.get("AccessKeyId") == doomed:
            moto.iam.delete_access_key(UserName="u01", AccessKeyId=doomed)

    proxy.hook = hook
    items = [{"access_key_id": keys[0], "user_name": user} for user, keys in made.items()]
    args = dict(access_keys=items, status="Inactive", concurrency=4)
    run = ansible.run(dict(args, **through(ansible, proxy)))
    assert run.result["failed"] is True
    results = run.result["access_keys"]
    assert [key["access_key_id"] for key in results] == [item["access_key_id"] for item in items]
    assert [key["changed"] for key in results] == [True, False, True]
    assert results[1]["failed"] is True
    assert "was deleted after it was read and before it could be set Inactive; nothing was changed" in results[1]["msg"]
    assert "1 of 3 access keys failed" in run.result["msg"]
    assert moto.status("u00", made["u00"][0]) == moto.status("u02", made["u02"][0]) == "Inactive"


def test_throttled_bulk_and_sweep_with_8_workers_account_for_every_key_once(ansible, moto, proxy):
    made = stale_users(moto, 20, keys_per_user=2)
    lock = threading.Lock()
    seen = set()
    applied = Counter()  # UpdateAccessKey requests that reached moto, by key

    def hook(service, action, params, number):
        # Throttle every other distinct request the first time it comes; botocore's retry then gets it through.
        signature = json.dumps([action, sorted(params.items())])
        with lock:
            first = signature not in seen
            seen.add(signature)
        if first and number % 2 == 0:
            return error("Throttling")
        if action == "UpdateAccessKey":
            with lock:
                applied[params["AccessKeyId"]] += 1
        return None

    proxy.hook = hook
    items = [{"access_key_id": key, "user_name": user} for user, keys in made.items() for key in keys]
    run = ansible.run(dict(access_keys=items, status="Inactive", concurrency=8, **through(ansible, proxy)))
    assert run.result.get("failed") is not True, run.stdout
    results = run.result["access_keys"]
    assert [key["access_key_id"] for key in results] == [item["access_key_id"] for item in items]
    assert {(key["changed"], key["status"], key["previous_status"]) for key in results} == {
        (True, "Inactive", "Active")
    }
    assert applied == Counter({item["access_key_id"]: 1 for item in items})
    assert run.calls == Counter(
        ListAccessKeys=20, UpdateAccessKey=40
    )  # moto saw each once: the throttles never reached it
    assert proxy.counts()[("iam", "UpdateAccessKey")] > 40  # and some writes really were throttled
    assert {moto.status(item["user_name"], item["access_key_id"]) for item in items} == {"Inactive"}

    for source in ("api", "credential_report"):
        seen.clear()
        run = ansible.run(
            dict(all_users=True, status="Inactive", source=source, concurrency=8, **through(ansible, proxy)),
            module=INFO,
        )
        assert run.result.get("failed") is not True, run.stdout
        assert sorted(key["access_key_id"] for key in run.result["access_keys"]) == sorted(
            item["access_key_id"] for item in items
        )


def test_bulk_stops_after_an_endpoint_failure_and_goes_on_after_a_per_user_one(ansible, moto, proxy):
    made = stale_users(moto, 4, keys_per_user=2)

    def hook(service, action, params, number):
        if action == "ListAccessKeys" and params.get("UserName") == "u01":
            return error("AccessDenied", 403)  # one user's keys: the others go on
        if action == "ListAccessKeys" and params.get("UserName") == "u02":
            return error("InvalidClientTokenId", 403)  # the credentials: every later call would fail too
        return None

    proxy.hook = hook
    items = [{"access_key_id": key, "user_name": user} for user, keys in made.items() for key in keys]
    run = ansible.run(dict(access_keys=items, status="Inactive", concurrency=1, **through(ansible, proxy)))
    assert run.result["failed"] is True
    results = run.result["access_keys"]
    assert [key["access_key_id"] for key in results] == [item["access_key_id"] for item in items]
    assert [key["changed"] for key in results] == [True, True] + [False] * 6
    assert [key.get("attempted", True) for key in results] == [True] * 5 + [False] * 3
    assert "Access denied" in results[2]["msg"] and "Access denied" in results[3]["msg"]
    assert "rejected the credentials" in results[4]["msg"]
    assert results[5]["msg"].startswith("Not attempted: an earlier call failed in a way every call would")
    assert "3 access keys were not attempted" in run.result["msg"]
    assert run.calls == Counter(ListAccessKeys=1, UpdateAccessKey=2)  # moto never saw u03's listing
    assert {moto.status(user, key) for user in ("u02", "u03") for key in made[user]} == {"Active"}


def test_bulk_self_deactivation_goes_last_and_results_keep_the_input_order(ansible, moto):
    own = moto.user_with_key("operator")
    made = stale_users(moto, 2)
    items = [{"access_key_id": own["AccessKeyId"]}] + [
        {"access_key_id": keys[0], "user_name": user} for user, keys in made.items()
    ]
    connection = ansible.connection(own["AccessKeyId"], own["SecretAccessKey"])
    args = dict(access_keys=items, status="Inactive", allow_self_deactivation=True, concurrency=8, **connection)
    run = ansible.run(args)
    assert run.result.get("failed") is not True, run.stdout
    assert [key["access_key_id"] for key in run.result["access_keys"]] == [item["access_key_id"] for item in items]
    writes = [params["AccessKeyId"] for action, params in run.requests if action == "UpdateAccessKey"]
    assert sorted(writes[:2]) == sorted([made["u00"][0], made["u01"][0]])
    assert writes[2] == own["AccessKeyId"]
    assert moto.status("operator", own["AccessKeyId"]) == "Inactive"
    assert ADMIN_KEY not in writes
