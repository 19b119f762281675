"""The report path against a credential report as AWS serves it: up to 4 hours old (issue 16, items 2 and 3).

moto rebuilds its report on every call, so a proxy in front of it serves one captured earlier, and the tests change
the account after the capture: a key is used, users are moved, renamed and deleted.
"""

from __future__ import annotations

import base64
import csv
import io
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from latency_proxy import LatencyProxy

INFO = "keyguard.aws.iam_access_key_info"
REPORT_XML = (
    '<GetCredentialReportResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetCredentialReportResult>'
    "<Content>{content}</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>{generated}</GeneratedTime>"
    "</GetCredentialReportResult><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000001</RequestId>"
    "</ResponseMetadata></GetCredentialReportResponse>"
)


@pytest.fixture
def proxy(moto):
    """Yield a latency-free proxy in front of moto whose hook a test may set."""
    with LatencyProxy(moto.url, latency=0) as running:
        yield running


def capture_report(moto):
    """Return (CSV text, GetCredentialReport answer as IAM's XML) of the report moto would serve now."""
    moto.iam.generate_credential_report()
    while moto.iam.generate_credential_report()["State"] != "COMPLETE":
        pass
    content = moto.iam.get_credential_report()["Content"]
    generated = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    xml = REPORT_XML.format(content=base64.b64encode(content).decode(), generated=generated)
    return content.decode(), xml


def serve(proxy, xml):
    """Make the proxy answer every GetCredentialReport with the captured report, as IAM serves its last one."""

    def hook(service, action, params, number):
        return (200, xml) if action == "GetCredentialReport" else None

    proxy.hook = hook


def row(content, user):
    """Return the report's row of one user."""
    return next(entry for entry in csv.DictReader(io.StringIO(content)) if entry["user"] == user)


def old_keys(moto, path, *users, created_days_ago=300, used_days_ago=None):
    """Create users under path, each with one key made (and maybe used) so many days ago; return {user: key}."""
    made = {}
    for index, user in enumerate(users):
        # a quarter of an hour apart: a renamed user is told by its creation second, as IAM keeps it
        moto.days_ago(created_days_ago + index / 96)
        moto.iam.create_user(UserName=user, Path=path)
        made[user] = moto.add_key(user)
        if used_days_ago is not None:
            moto.days_ago(used_days_ago)
            moto.client(made[user]["AccessKeyId"], made[user]["SecretAccessKey"]).get_user()
    moto.days_ago(0)
    return made


def sweep(ansible, proxy, **args):
    """Run iam_access_key_info over every user through the proxy, from the served report; return the Run."""
    proxy.reset()
    options = dict(all_users=True, source="credential_report", concurrency=1, **args)
    run = ansible.run(dict(options, **dict(ansible.connection(), endpoint_url=proxy.url)), module=INFO)
    assert run.result.get("failed") is not True, run.stdout
    assert run.result["source"] == "credential_report"
    return run


def iam_calls(proxy):
    """Return the IAM calls the proxy received (moto never sees the GetCredentialReport the proxy answers)."""
    return Counter({action: count for (_service, action), count in proxy.counts().items()})


def test_a_key_used_after_the_report_is_not_called_unused(ansible, moto, proxy):
    made = old_keys(moto, "/", "dr-drill", used_days_ago=200)  # a quarterly job's key, idle for 200 days
    made.update(old_keys(moto, "/", "idle", created_days_ago=120))  # never used
    made.update(old_keys(moto, "/", "daily", used_days_ago=1))
    content, xml = capture_report(moto)
    used = datetime.fromisoformat(row(content, "dr-drill")["access_key_1_last_used_date"])
    assert datetime.now(timezone.utc) - used > timedelta(days=199)  # the served report: unused for 200 days
    # After the report was made, the DR drill signs with the key again: IAM records the use; the report does not.
    drill = made["dr-drill"]
    moto.client(drill["AccessKeyId"], drill["SecretAccessKey"]).get_user()
    serve(proxy, xml)

    run = sweep(ansible, proxy, status="Active", unused_for_days=90)
    assert [key["access_key_id"] for key in run.result["access_keys"]] == [made["idle"]["AccessKeyId"]]
    assert run.result["skipped_keys"] == []
    # One GetAccessKeyLastUsed per candidate (dr-drill, idle), none for daily, whom the report saw used yesterday.
    assert iam_calls(proxy) == Counter(
        GenerateCredentialReport=1, GetCredentialReport=1, ListUsers=1, ListAccessKeys=2, GetAccessKeyLastUsed=2
    )
    asked = sorted(params["AccessKeyId"] for action, params in run.requests if action == "GetAccessKeyLastUsed")
    assert asked == sorted([drill["AccessKeyId"], made["idle"]["AccessKeyId"]])


def test_path_prefix_is_decided_by_who_is_under_the_path_now(ansible, moto, proxy):
    made = old_keys(moto, "/service/", "svc-stays", "svc-leaves", "svc-renamed", "svc-deleted", created_days_ago=100)
    made.update(old_keys(moto, "/people/", "joins-service", created_days_ago=101))
    _content, xml = capture_report(moto)
    # After the report: one service user moves out, one person moves in, one is renamed, one is deleted.
    moto.iam.update_user(UserName="svc-leaves", NewPath="/people/")
    moto.iam.update_user(UserName="joins-service", NewPath="/service/")
    moto.iam.update_user(UserName="svc-renamed", NewUserName="svc-renamed-2")
    moto.iam.delete_access_key(UserName="svc-deleted", AccessKeyId=made["svc-deleted"]["AccessKeyId"])
    moto.iam.delete_user(UserName="svc-deleted")
    serve(proxy, xml)

    run = sweep(ansible, proxy, path_prefix="/service/", status="Active", unused_for_days=45)
    found = [(key["user_name"], key["access_key_id"]) for key in run.result["access_keys"]]
    assert found == [
        ("joins-service", made["joins-service"]["AccessKeyId"]),
        ("svc-renamed-2", made["svc-renamed"]["AccessKeyId"]),
        ("svc-stays", made["svc-stays"]["AccessKeyId"]),
    ]
    reasons = {entry["user_name"]: entry["reason"] for entry in run.result["skipped_keys"]}
    assert {entry["access_key_id"] for entry in run.result["skipped_keys"]} == {None}
    assert reasons == {
        "svc-deleted": "the user was deleted after the credential report was generated, or renamed and moved out "
        "of /service/",
        "svc-renamed": "the user was renamed or moved after the credential report was generated: its key is now "
        "user 'svc-renamed-2''s, and is swept under that name",
        "svc-leaves": "the user was moved out of path_prefix /service/ after the credential report was generated; "
        "it is out of scope now, so its keys were not swept",
    }
    assert [params for action, params in run.requests if action == "ListUsers"] == [
        {"Version": "2010-05-08", "MaxItems": "1000", "PathPrefix": "/service/"}
    ]
    listed = sorted(params["UserName"] for action, params in run.requests if action == "ListAccessKeys")
    # the report's candidates by their old names (to tell moved from renamed from deleted), and the ones it does
    # not know by name now
    assert listed == ["joins-service", "svc-deleted", "svc-leaves", "svc-renamed", "svc-renamed-2", "svc-stays"]
    assert iam_calls(proxy) == Counter(
        GenerateCredentialReport=1, GetCredentialReport=1, ListUsers=1, ListAccessKeys=6, GetAccessKeyLastUsed=3
    )


def test_without_path_prefix_a_renamed_user_with_an_old_key_is_found_by_its_new_name(ansible, moto, proxy):
    made = old_keys(moto, "/", "build", created_days_ago=400)
    _content, xml = capture_report(moto)
    moto.iam.update_user(UserName="build", NewUserName="build-2026")
    serve(proxy, xml)
    # older_than_days 90: no key made since the report can pass, so only ListUsers shows the new name.
    run = sweep(ansible, proxy, older_than_days=90, include_last_used=False)
    assert [(key["user_name"], key["access_key_id"]) for key in run.result["access_keys"]] == [
        ("build-2026", made["build"]["AccessKeyId"])
    ]
    (renamed,) = run.result["skipped_keys"]
    assert renamed["user_name"] == "build" and renamed["reason"].startswith("the user was renamed or moved")
    assert iam_calls(proxy) == Counter(GenerateCredentialReport=1, GetCredentialReport=1, ListUsers=1, ListAccessKeys=2)
