"""Unit tests of the pure access-key helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import find_key, normalise_key, plan_status

KEY = {
    "access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "user_name": "bob",
    "status": "Active",
    "create_date": "2026-08-01T09:30:00+00:00",
}


def test_plan_unchanged_returns_an_equal_key():
    assert plan_status(KEY, "Active") == (False, KEY)


def test_plan_change_predicts_the_new_status_and_leaves_the_input_alone():
    changed, after = plan_status(KEY, "Inactive")
    assert changed is True
    assert after == dict(KEY, status="Inactive")
    assert KEY["status"] == "Active"


def test_normalise_converts_create_date_to_utc():
    created = datetime(2026, 8, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    metadata = {"UserName": "bob", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Active", "CreateDate": created}
    assert normalise_key(metadata) == KEY


def test_normalise_root_key_without_user_name():
    metadata = {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}
    assert normalise_key(metadata) == {
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "user_name": None,
        "status": "Inactive",
        "create_date": None,
    }


def test_find_key():
    other = dict(KEY, access_key_id="AKIAOTHERKEY00000001")
    assert find_key([other, KEY], "AKIAIOSFODNN7EXAMPLE") is KEY
    assert find_key([other], "AKIAIOSFODNN7EXAMPLE") is None
