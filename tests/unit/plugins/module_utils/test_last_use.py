"""Unit tests of the age and last-use helpers behind iam_access_key_info, and its reads through the Stubber."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils import _sweep
from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import (
    key_age,
    list_users,
    select_keys,
    with_last_use,
)
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError
from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_info

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def key(key_id="AKIAIOSFODNN7EXAMPLE", user="bob", status="Active", created_days_ago=100.0):
    """Return a normalised key created so many days before NOW."""
    created = (NOW - timedelta(days=created_days_ago)).isoformat()
    return {"access_key_id": key_id, "user_name": user, "status": status, "create_date": created}


def last_used(days_ago=None, service="s3", region="eu-west-1"):
    """Return a GetAccessKeyLastUsed answer; days_ago None means never used."""
    if days_ago is None:
        return {"UserName": "bob", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
    used = NOW - timedelta(days=days_ago)
    return {"UserName": "bob", "AccessKeyLastUsed": {"LastUsedDate": used, "ServiceName": service, "Region": region}}


def test_key_age_counts_whole_days():
    aged = key_age(key(created_days_ago=90.9), NOW)
    assert aged["age_days"] == 90
    assert aged["last_used_date"] is None
    assert aged["days_since_last_use"] is None


def test_last_use_of_a_used_key():
    used = with_last_use(key_age(key(), NOW), last_used(12.5), NOW)
    assert used["last_used_date"] == (NOW - timedelta(days=12.5)).isoformat()
    assert (used["last_used_service"], used["last_used_region"], used["days_since_last_use"]) == ("s3", "eu-west-1", 12)


def test_never_used_key_counts_from_creation():
    never = with_last_use(key_age(key(created_days_ago=50), NOW), last_used(None), NOW)
    assert (never["last_used_date"], never["last_used_service"], never["last_used_region"]) == (None, None, None)
    assert never["days_since_last_use"] == 50


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({}, ["A", "B", "C"]),
        ({"status": "Inactive"}, ["C"]),
        ({"older_than_days": 90}, ["A", "C"]),  # more than 90 days: 90.5 yes, 89 no
        ({"older_than_days": 91}, ["C"]),
        ({"unused_for_days": 45}, ["B", "C"]),  # B never used, created 89 days ago; C last used 46 days ago
        ({"unused_for_days": 47}, ["B"]),
        ({"status": "Active", "unused_for_days": 45}, ["B"]),
    ],
)
def test_select_keys(filters, expected):
    keys = [
        with_last_use(key_age(key("A", created_days_ago=90.5), NOW), last_used(3), NOW),
        with_last_use(key_age(key("B", created_days_ago=89), NOW), last_used(None), NOW),
        with_last_use(key_age(key("C", status="Inactive", created_days_ago=200), NOW), last_used(46.2), NOW),
    ]
    assert [k["access_key_id"] for k in select_keys(keys, NOW, **filters)] == expected


@pytest.fixture
def iam():
    """Yield (client, stubber) for a real IAM client behind the Stubber."""
    client = botocore.session.Session().create_client(
        "iam", region_name="us-east-1", aws_access_key_id="AKIAI44QH8DHBEXAMPLE", aws_secret_access_key="s"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def user(name):
    """Return a ListUsers entry."""
    return {
        "UserName": name,
        "Path": "/",
        "UserId": "AIDA" + name.upper().ljust(17, "X"),
        "Arn": f"arn:aws:iam::1:user/{name}",
        "CreateDate": NOW,
    }


def test_list_users_follows_every_page(iam):
    client, stubber = iam
    stubber.add_response(
        "list_users", {"Users": [user("a"), user("b")], "IsTruncated": True, "Marker": "m1"}, {"MaxItems": 1000}
    )
    stubber.add_response("list_users", {"Users": [user("c")], "IsTruncated": False}, {"MaxItems": 1000, "Marker": "m1"})
    assert list_users(client) == ["a", "b", "c"]


def test_find_keys_asks_last_use_only_for_keys_the_cheap_filters_kept(iam):
    client, stubber = iam
    metadata = [
        {
            "UserName": "bob",
            "AccessKeyId": "AKIAOLDACTIVE0000001",
            "Status": "Active",
            "CreateDate": NOW - timedelta(days=100),
        },
        {
            "UserName": "bob",
            "AccessKeyId": "AKIAOLDINACTIVE00001",
            "Status": "Inactive",
            "CreateDate": NOW - timedelta(days=100),
        },
        {
            "UserName": "bob",
            "AccessKeyId": "AKIANEWACTIVE0000001",
            "Status": "Active",
            "CreateDate": NOW - timedelta(days=5),
        },
    ]
    stubber.add_response("list_access_keys", {"AccessKeyMetadata": metadata}, {"UserName": "bob"})
    stubber.add_response("get_access_key_last_used", last_used(60), {"AccessKeyId": "AKIAOLDACTIVE0000001"})
    params = dict(
        all_users=False,
        user_name="bob",
        status="Active",
        older_than_days=90,
        unused_for_days=45,
        include_last_used=False,
        source="auto",
        path_prefix=None,
        concurrency=1,
    )
    keys = _sweep.find_keys(_sweep.Sweep(client, params), params, NOW)
    assert [(k["access_key_id"], k["days_since_last_use"]) for k in keys] == [("AKIAOLDACTIVE0000001", 60)]


@pytest.mark.parametrize("name", ["older_than_days", "unused_for_days"])
@pytest.mark.parametrize("days", [-1, 36501, 1000000, 10000000000])
def test_day_counts_out_of_bounds_are_named(name, days):
    params = dict(dict(user_name=None, older_than_days=None, unused_for_days=None), **{name: days})
    with pytest.raises(KeyguardError, match=rf"^{name} must be from 0 to 36500 days \(100 years\), not {days}\.$"):
        iam_access_key_info.validate(params)


@pytest.mark.parametrize("days", [0, 36500])
def test_day_counts_at_the_bounds_select_without_overflow(days):
    keys = [key_age(key(created_days_ago=6000), NOW)]  # created in 2010, when IAM began
    iam_access_key_info.validate(
        dict(
            user_name=None,
            all_users=True,
            path_prefix=None,
            source="auto",
            concurrency=8,
            older_than_days=days,
            unused_for_days=days,
        )
    )
    assert select_keys(keys, NOW, older_than_days=days, unused_for_days=days) == ([] if days == 36500 else keys)
