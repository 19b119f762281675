"""Unit tests of the IAM helpers the key policy adds: authorization details, tags, groups, caller identity."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils import _access_keys as iam
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError


@pytest.fixture(scope="module")
def session():
    """Return one botocore session for every client of this module."""
    return botocore.session.Session()


def stubbed(session, service):
    """Return (client, stubber) for a real client of `service`."""
    client = session.create_client(
        service, region_name="us-east-1", aws_access_key_id="AKIAI44QH8DHBEXAMPLE", aws_secret_access_key="s"
    )
    return client, Stubber(client)


@pytest.fixture
def client(session):
    """Yield (client, stubber) for IAM; every stubbed call must be made."""
    client, stubber = stubbed(session, "iam")
    with stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def detail(name, tags=(), groups=(), path="/"):
    """Return one UserDetailList entry."""
    return {
        "UserName": name,
        "Path": path,
        "Arn": f"arn:aws:iam::123456789012:user{path}{name}",
        "UserId": "AIDA" + name.upper().ljust(17, "X"),
        "CreateDate": "2020-01-01T00:00:00Z",
        "Tags": [{"Key": k, "Value": v} for k, v in tags],
        "GroupList": list(groups),
    }


def test_authorization_details_pages_1000_users_at_a_time(client):
    iam_client, stubber = client
    stubber.add_response(
        "get_account_authorization_details",
        {
            "UserDetailList": [detail("alice", tags=[("team", "data")], groups=["admins"])],
            "IsTruncated": True,
            "Marker": "m1",
        },
        {"Filter": ["User"], "MaxItems": 1000},
    )
    stubber.add_response(
        "get_account_authorization_details",
        {"UserDetailList": [detail("bob", path="/service/")], "IsTruncated": False},
        {"Filter": ["User"], "MaxItems": 1000, "Marker": "m1"},
    )
    users = iam.get_account_authorization_details(iam_client)
    assert users == [
        {
            "user_name": "alice",
            "path": "/",
            "arn": "arn:aws:iam::123456789012:user/alice",
            "tags": {"team": "data"},
            "groups": ["admins"],
        },
        {
            "user_name": "bob",
            "path": "/service/",
            "arn": "arn:aws:iam::123456789012:user/service/bob",
            "tags": {},
            "groups": [],
        },
    ]


def test_authorization_details_denied_keeps_the_code(client):
    iam_client, stubber = client
    stubber.add_client_error(
        "get_account_authorization_details",
        "AccessDenied",
        "not authorized",
        403,
        {"Filter": ["User"], "MaxItems": 1000},
    )
    with pytest.raises(KeyguardError) as caught:
        iam.get_account_authorization_details(iam_client)
    assert caught.value.code == "AccessDenied"
    assert "iam:GetAccountAuthorizationDetails" in str(caught.value)


def test_list_user_tags_pages(client):
    iam_client, stubber = client
    stubber.add_response(
        "list_user_tags",
        {"Tags": [{"Key": "a", "Value": "1"}], "IsTruncated": True, "Marker": "m"},
        {"UserName": "bob"},
    )
    stubber.add_response(
        "list_user_tags",
        {"Tags": [{"Key": "b", "Value": "2"}], "IsTruncated": False},
        {"UserName": "bob", "Marker": "m"},
    )
    assert iam.list_user_tags(iam_client, "bob") == {"a": "1", "b": "2"}


def test_group_members_page(client):
    iam_client, stubber = client
    group = {
        "Path": "/",
        "GroupName": "admins",
        "GroupId": "AGPA" + "X" * 17,
        "Arn": "arn:aws:iam::1:group/admins",
        "CreateDate": "2020-01-01T00:00:00Z",
    }
    user = {
        "Path": "/",
        "UserName": "alice",
        "UserId": "AIDA" + "X" * 17,
        "Arn": "arn:aws:iam::1:user/alice",
        "CreateDate": "2020-01-01T00:00:00Z",
    }
    stubber.add_response(
        "get_group", {"Group": group, "Users": [user], "IsTruncated": False}, {"GroupName": "admins", "MaxItems": 1000}
    )
    assert iam.get_group_members(iam_client, "admins") == ["alice"]


def test_tag_and_untag_one_tag_each(client):
    iam_client, stubber = client
    stubber.add_response(
        "tag_user", {}, {"UserName": "bob", "Tags": [{"Key": "keyguard:deactivate-after:AKIA1", "Value": "2026-12-16"}]}
    )
    stubber.add_response("untag_user", {}, {"UserName": "bob", "TagKeys": ["keyguard:deactivate-after:AKIA1"]})
    iam.tag_user(iam_client, "bob", "keyguard:deactivate-after:AKIA1", "2026-12-16")
    iam.untag_user(iam_client, "bob", "keyguard:deactivate-after:AKIA1")


def test_tag_limit_keeps_the_code(client):
    iam_client, stubber = client
    stubber.add_client_error("tag_user", "LimitExceeded", "too many tags", 409)
    with pytest.raises(KeyguardError) as caught:
        iam.tag_user(iam_client, "bob", "k", "v")
    assert caught.value.code == "LimitExceeded"


def test_caller_identity(session):
    sts, stubber = stubbed(session, "sts")
    arn = "arn:aws:iam::123456789012:user/auditor"
    with stubber:
        stubber.add_response("get_caller_identity", {"Account": "123456789012", "Arn": arn, "UserId": "AIDAX"}, {})
        assert iam.get_caller_identity(sts) == ("123456789012", arn)
        stubber.add_client_error("get_caller_identity", "ExpiredToken", "expired", 403)
        with pytest.raises(KeyguardError) as caught:
            iam.get_caller_identity(sts)
        stubber.assert_no_pending_responses()
    assert str(caught.value).startswith("AWS rejected the credentials calling sts:GetCallerIdentity (ExpiredToken)")
