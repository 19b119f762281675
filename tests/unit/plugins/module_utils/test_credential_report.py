"""The credential report: parsing AWS's layout, mapping slots to keys, polling, and the info module's report path."""

from __future__ import annotations

from datetime import datetime, timezone

import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils import _sweep
from ansible_collections.keyguard.aws.plugins.module_utils._access_keys import list_users, read_credential_report
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError
from ansible_collections.keyguard.aws.plugins.module_utils._credential_report import (
    ROOT_USER,
    gone_since_report,
    in_path,
    match_slots,
    parse_report,
    root_key,
    slot_as_key,
)
from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_info

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def at(text):
    """Return an ISO 8601 moment as an aware datetime."""
    return datetime.fromisoformat(text)


GENERATED = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)  # IAM serves a report up to 4 hours old
HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,"
    "mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,"
    "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
# The layout of AWS's documentation: the root row first, N/A for empty slots and never-used keys, no_information
# where IAM has no record, a user with two keys, one with none, one under a path.
ROWS = [
    "<root_account>,arn:aws:iam::123456789012:root,2019-01-01T00:00:00+00:00,not_supported,2026-11-01T10:00:00+00:00,"
    "not_supported,not_supported,true,true,2020-05-05T12:00:00+00:00,2026-11-20T08:00:00+00:00,us-east-1,s3,"
    "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    "alice,arn:aws:iam::123456789012:user/alice,2025-12-01T00:00:00+00:00,true,2026-11-27T17:00:00+00:00,"
    "2025-12-01T00:00:00+00:00,N/A,true,true,2026-01-10T08:00:00+00:00,2026-11-27T16:00:00+00:00,eu-west-1,ec2,"
    "true,2026-06-01T09:15:30+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
    "bob,arn:aws:iam::123456789012:user/bob,2024-12-31T00:00:00+00:00,false,N/A,N/A,N/A,false,"
    "true,2025-01-01T00:00:00+00:00,no_information,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    "carol,arn:aws:iam::123456789012:user/carol,2026-01-01T00:00:00+00:00,true,no_information,"
    "2026-01-01T00:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    "dave,arn:aws:iam::123456789012:user/service/dave,2024-03-01T00:00:00+00:00,false,N/A,N/A,N/A,false,"
    "false,2024-03-03T03:03:03+00:00,2024-04-01T00:00:00+00:00,us-west-2,sts,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
]
REPORT = ("\n".join([HEADER, *ROWS]) + "\n").encode()


def metadata(key_id, user, created, status="Active"):
    """Return one ListAccessKeys entry."""
    return {"UserName": user, "AccessKeyId": key_id, "Status": status, "CreateDate": created}


def normalised(key_id, user, created):
    """Return a key as list_access_keys returns it."""
    return {"access_key_id": key_id, "user_name": user, "status": "Active", "create_date": created}


def test_parse_keeps_every_filled_slot_and_reads_aws_placeholders_as_none():
    slots = parse_report(REPORT)
    assert [(slot.user_name, slot.number) for slot in slots] == [
        (ROOT_USER, 1),
        ("alice", 1),
        ("alice", 2),
        ("bob", 1),
        ("dave", 1),
    ]
    root, alice1, alice2, bob, dave = slots
    assert (alice1.active, alice1.created, alice1.last_used_date) == (
        True,
        at("2026-01-10T08:00:00+00:00"),
        at("2026-11-27T16:00:00+00:00"),
    )
    assert (alice1.last_used_region, alice1.last_used_service) == ("eu-west-1", "ec2")
    assert (alice2.last_used_date, alice2.last_used_region, alice2.last_used_service) == (None, None, None)
    assert bob.last_used_date is None  # no_information
    assert (dave.active, dave.arn) == (False, "arn:aws:iam::123456789012:user/service/dave")
    assert root_key(root) == {
        "slot": 1,
        "status": "Active",
        "create_date": "2020-05-05T12:00:00+00:00",
        "last_used_date": "2026-11-20T08:00:00+00:00",
        "last_used_service": "s3",
        "last_used_region": "us-east-1",
    }


def test_parse_reads_motos_not_supported_columns_and_text_content():
    row = (
        "eve,arn:aws:iam::123456789012:user/eve,2026-11-28T16:15:46+00:00,false,not_supported,"
        "2026-11-28T16:15:46+00:00,not_supported,false,true,2026-11-28T16:15:46+00:00,N/A,not_supported,"
        "not_supported,false,N/A,N/A,not_supported,not_supported,false,N/A,false,N/A"
    )
    (slot,) = parse_report(f"{HEADER}\n{row}\n")
    assert (slot.user_name, slot.last_used_region, slot.last_used_service, slot.last_used_date) == (
        "eve",
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("prefix", "users"),
    [
        (None, ["alice", "alice", "bob", "dave"]),
        ("/", ["alice", "alice", "bob", "dave"]),
        ("/service/", ["dave"]),
        ("/serv/", []),
    ],
)
def test_in_path_filters_on_the_arn_and_never_takes_the_root_user(prefix, users):
    assert [slot.user_name for slot in parse_report(REPORT) if in_path(slot, prefix)] == users


def test_match_slots_by_creation_second_leaving_out_what_cannot_be_told_apart():
    slots = [slot for slot in parse_report(REPORT) if slot.user_name == "alice"]
    keys = [
        normalised("AKIAALICE00000000001", "alice", "2026-01-10T08:00:00.613000+00:00"),  # moto keeps the fraction
        normalised("AKIAALICE00000000002", "alice", "2026-06-01T09:15:30+00:00"),
    ]
    assert {key_id: slot.number for key_id, slot in match_slots(keys, slots).items()} == {
        "AKIAALICE00000000001": 1,
        "AKIAALICE00000000002": 2,
    }
    created_later = [keys[0], normalised("AKIAALICE00000000003", "alice", "2026-11-28T11:00:00+00:00")]
    assert list(match_slots(created_later, slots)) == ["AKIAALICE00000000001"]
    # Two keys of the same second, and two slots of that second: the mapping would be a guess, so there is none.
    twin_slots = [slots[0], slots[0]._replace(number=2)]
    twins = [keys[0], normalised("AKIAALICE00000000004", "alice", "2026-01-10T08:00:00.900000+00:00")]
    assert match_slots(twins, twin_slots) == {}


@pytest.fixture
def iam():
    """Yield (client, stubber) for a real IAM client behind the Stubber."""
    client = botocore.session.Session().create_client(
        "iam", region_name="us-east-1", aws_access_key_id="AKIAI44QH8DHBEXAMPLE", aws_secret_access_key="s"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        """Record the sleep and move the clock."""
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self):
        """Return the current fake time."""
        return self.now


def expect_generate(stubber, state):
    """Stub one GenerateCredentialReport answering `state`."""
    stubber.add_response("generate_credential_report", {"State": state, "Description": state}, {})


def expect_get(stubber):
    """Stub one GetCredentialReport answering the realistic report."""
    stubber.add_response(
        "get_credential_report", {"Content": REPORT, "ReportFormat": "text/csv", "GeneratedTime": GENERATED}, {}
    )


def test_polls_while_started_or_in_progress_with_doubling_delays(iam):
    client, stubber = iam
    for state in ("STARTED", "INPROGRESS", "INPROGRESS", "COMPLETE"):
        expect_generate(stubber, state)
    expect_get(stubber)
    fake = FakeTime()
    content, generated = read_credential_report(client, sleep=fake.sleep, clock=fake.clock)
    assert (content, generated) == (REPORT, GENERATED)
    assert fake.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("code", ["ReportInProgress", "ReportNotPresent", "ReportExpired"])
def test_a_report_not_ready_after_complete_is_asked_for_again(iam, code):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    stubber.add_client_error("get_credential_report", code, f"{code} said IAM", 410, expected_params={})
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    fake = FakeTime()
    assert read_credential_report(client, sleep=fake.sleep, clock=fake.clock)[0] == REPORT
    assert fake.sleeps == [0.5]


def test_the_wait_is_bounded(iam):
    client, stubber = iam
    for _attempt in range(5):  # 0.5 + 1 + 2 + 4 = 7.5 s waited; the next 8 s would pass the 10 s bound
        expect_generate(stubber, "INPROGRESS")
    fake = FakeTime()
    with pytest.raises(KeyguardError, match="not ready after 10 seconds") as raised:
        read_credential_report(client, wait=10, sleep=fake.sleep, clock=fake.clock)
    assert raised.value.code == "ReportTimeout"
    assert fake.sleeps == [0.5, 1.0, 2.0, 4.0]


@pytest.mark.parametrize("code", ["LimitExceeded", "AccessDenied"])
def test_generation_errors_keep_their_code(iam, code):
    client, stubber = iam
    stubber.add_client_error("generate_credential_report", code, "no", 409, expected_params={})
    with pytest.raises(KeyguardError) as raised:
        read_credential_report(client, sleep=FakeTime().sleep)
    assert raised.value.code == code


def test_list_users_pages_1000_at_a_time_under_a_path(iam):
    client, stubber = iam
    user = {"Path": "/service/", "UserId": "AIDAEXAMPLE000000001", "CreateDate": NOW}
    first = [dict(user, UserName=f"u{i}", Arn=f"arn:aws:iam::1:user/service/u{i}") for i in range(1000)]
    stubber.add_response(
        "list_users",
        {"Users": first, "IsTruncated": True, "Marker": "page2"},
        {"MaxItems": 1000, "PathPrefix": "/service/"},
    )
    stubber.add_response(
        "list_users",
        {"Users": [dict(user, UserName="last", Arn="arn:aws:iam::1:user/service/last")], "IsTruncated": False},
        {"MaxItems": 1000, "PathPrefix": "/service/", "Marker": "page2"},
    )
    names = list_users(client, "/service/")
    assert (len(names), names[0], names[-1]) == (1001, "u0", "last")


def test_a_truncated_user_listing_without_a_marker_fails_in_one_line_instead_of_a_traceback(iam):
    client, stubber = iam
    stubber.add_response("list_users", {"Users": [], "IsTruncated": True}, {"MaxItems": 1000})
    with pytest.raises(KeyguardError) as err:
        list_users(client)
    assert (err.value.code, str(err.value)) == (
        "NotIAM",
        "iam:ListUsers answered that more users follow (IsTruncated) without a Marker to list them; check "
        "endpoint_url and any proxy in between.",
    )


def params(**overrides):
    """Return iam_access_key_info params for a sweep of every user."""
    base = dict(
        all_users=True,
        user_name=None,
        path_prefix=None,
        status=None,
        older_than_days=None,
        unused_for_days=None,
        include_last_used=True,
        source="auto",
        concurrency=1,
    )
    return dict(base, **overrides)


# Users' creation times as the report has them: a renamed user keeps its own.
CREATED = {
    "alice": at("2025-12-01T00:00:00+00:00"),
    "bob": at("2024-12-31T00:00:00+00:00"),
    "carol": at("2026-01-01T00:00:00+00:00"),
    "dave": at("2024-03-01T00:00:00+00:00"),
}


def user_entry(name, path="/", created=None):
    """Return one ListUsers entry."""
    return {
        "UserName": name,
        "Path": path,
        "UserId": "AIDA" + name.upper().ljust(17, "X")[:17],
        "Arn": f"arn:aws:iam::123456789012:user{path}{name}",
        "CreateDate": created or CREATED.get(name, NOW),
    }


def expect_users(stubber, names, path_prefix=None, path="/", created=None):
    """Stub one ListUsers page answering these users (created: {name: CreateDate} where it is not CREATED's)."""
    expected = {"MaxItems": 1000, **({"PathPrefix": path_prefix} if path_prefix else {})}
    users = [user_entry(name, path, (created or {}).get(name)) for name in names]
    stubber.add_response("list_users", {"Users": users, "IsTruncated": False}, expected)


def expect_last_used(stubber, key_id, user_name, used=None):
    """Stub one GetAccessKeyLastUsed answer: used at `used`, or never."""
    last = {"LastUsedDate": used, "ServiceName": "s3", "Region": "us-east-1"} if used else {"ServiceName": "N/A"}
    last.setdefault("Region", "N/A")
    stubber.add_response(
        "get_access_key_last_used", {"UserName": user_name, "AccessKeyLastUsed": last}, {"AccessKeyId": key_id}
    )


def test_report_sweep_lists_only_candidates_and_lets_the_fresh_listing_win(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    expect_users(stubber, ["alice", "bob", "carol", "dave"])  # the scope comes from ListUsers, now
    # alice's never-used key 2 and bob's key are candidates; alice's key 1 was used yesterday, dave's is inactive.
    # Since the report: alice's key 2 was deactivated, and bob made a second key, used today.
    stubber.add_response(
        "list_access_keys",
        {
            "AccessKeyMetadata": [
                metadata("AKIAALICE00000000001", "alice", at("2026-01-10T08:00:00+00:00")),
                metadata("AKIAALICE00000000002", "alice", at("2026-06-01T09:15:30+00:00"), status="Inactive"),
            ]
        },
        {"UserName": "alice"},
    )
    stubber.add_response(
        "list_access_keys",
        {
            "AccessKeyMetadata": [
                metadata("AKIABOB0000000000001", "bob", at("2025-01-01T00:00:00+00:00")),
                metadata("AKIABOB0000000000002", "bob", at("2026-11-28T10:00:00+00:00")),
            ]
        },
        {"UserName": "bob"},
    )
    # dave's key, inactive in the report, was reactivated since: it is a candidate all the same.
    stubber.add_response(
        "list_access_keys",
        {"AccessKeyMetadata": [metadata("AKIADAVE000000000001", "dave", at("2024-03-03T03:03:03+00:00"))]},
        {"UserName": "dave"},
    )
    # Every candidate's last use is confirmed with IAM (bob's and dave's old keys); bob's new key is one the report
    # cannot place. alice's key 1, used yesterday in the report, needs no call: last use only moves forward.
    expect_last_used(stubber, "AKIABOB0000000000001", "bob")
    expect_last_used(stubber, "AKIABOB0000000000002", "bob", NOW)
    expect_last_used(stubber, "AKIADAVE000000000001", "dave", at("2024-04-01T00:00:00+00:00"))
    task = params(status="Active", unused_for_days=45)
    sweep = _sweep.Sweep(client, task)
    keys = _sweep.find_keys(sweep, task, NOW)
    assert [(key["access_key_id"], key["days_since_last_use"], key["last_used_date"]) for key in keys] == [
        ("AKIABOB0000000000001", 696, None),
        ("AKIADAVE000000000001", 971, "2024-04-01T00:00:00+00:00"),
    ]
    stubber.assert_no_pending_responses()
    result = iam_access_key_info.report(sweep, keys)
    assert result["source"] == "credential_report"
    assert result["credential_report_generated"] == "2026-11-28T09:00:00+00:00"
    assert result["root_access_keys"] == [root_key(parse_report(REPORT)[0])]
    assert result["skipped_keys"] == []


def test_auto_falls_back_when_the_report_is_denied_and_credential_report_does_not(iam):
    client, stubber = iam
    stubber.add_client_error("generate_credential_report", "AccessDenied", "not allowed", 403, expected_params={})
    stubber.add_response("list_users", {"Users": [], "IsTruncated": False}, {"MaxItems": 1000})
    task = params()
    sweep = _sweep.Sweep(client, task)
    assert _sweep.find_keys(sweep, task, NOW) == []
    (warning,) = sweep.warnings
    assert "iam:GenerateCredentialReport" in warning
    assert iam_access_key_info.report(sweep, [])["source"] == "api"

    stubber.add_client_error("generate_credential_report", "AccessDenied", "not allowed", 403, expected_params={})
    task = params(source="credential_report")
    with pytest.raises(KeyguardError, match="iam:GenerateCredentialReport"):
        _sweep.find_keys(_sweep.Sweep(client, task), task, NOW)


def test_gone_since_report_names_slots_no_listed_key_matches():
    candidates = [slot_as_key(slot) for slot in parse_report(REPORT) if slot.user_name in ("alice", "bob")]
    listed = [normalised("AKIAALICE00000000001", "alice", "2026-01-10T08:00:00.250000+00:00")]
    gone = gone_since_report(candidates, listed, users_gone={"bob"})
    assert [(slot["user_name"], slot["slot"], slot["create_date"]) for slot in gone] == [
        ("alice", 2, "2026-06-01T09:15:30+00:00")
    ]


GARBLED = [
    REPORT.replace(b"2026-01-10T08:00:00+00:00", b"last tuesday"),  # a date that is no date
    REPORT.replace(b"user,arn,", b"name,arn,", 1),  # no user column
    b"\xff\xfe" + REPORT,  # not UTF-8
]


@pytest.mark.parametrize("content", GARBLED, ids=["bad-date", "no-user-column", "not-utf8"])
def test_a_malformed_report_is_one_line_and_auto_falls_back_to_the_api(iam, content):
    with pytest.raises(KeyguardError, match=r"^The IAM credential report is unreadable \(") as raised:
        parse_report(content)
    assert raised.value.code == "ReportUnreadable" and "\n" not in str(raised.value)

    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    stubber.add_response("get_credential_report", {"Content": content, "GeneratedTime": GENERATED}, {})
    stubber.add_response("list_users", {"Users": [], "IsTruncated": False}, {"MaxItems": 1000})
    task = params()
    sweep = _sweep.Sweep(client, task)
    assert _sweep.find_keys(sweep, task, NOW) == []
    (warning,) = sweep.warnings
    assert "instead of the credential report: The IAM credential report is unreadable" in warning
    assert iam_access_key_info.report(sweep, [])["source"] == "api"

    expect_generate(stubber, "COMPLETE")
    stubber.add_response("get_credential_report", {"Content": content, "GeneratedTime": GENERATED}, {})
    task = params(source="credential_report")
    with pytest.raises(KeyguardError, match="unreadable"):
        _sweep.find_keys(_sweep.Sweep(client, task), task, NOW)
    stubber.assert_no_pending_responses()


def test_keys_the_report_cannot_show_are_found_when_the_filters_could_select_them(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    # status: Active with no age filter: a key made after the report could pass, so every user is listed. Since
    # the report: erin was created with a key, carol (no key then) made one, dave's inactive key was reactivated.
    user = {"Path": "/", "UserId": "AIDAEXAMPLE000000001", "CreateDate": NOW}
    names = ["alice", "bob", "carol", "dave", "erin"]
    users = [dict(user, UserName=name, Arn=f"arn:aws:iam::123456789012:user/{name}") for name in names]
    stubber.add_response("list_users", {"Users": users, "IsTruncated": False}, {"MaxItems": 1000})
    fresh = {
        "alice": [metadata("AKIAALICE00000000001", "alice", at("2026-01-10T08:00:00+00:00"))],
        "bob": [metadata("AKIABOB0000000000001", "bob", at("2025-01-01T00:00:00+00:00"))],
        "carol": [metadata("AKIACAROL00000000001", "carol", at("2026-11-28T10:30:00+00:00"))],
        "dave": [metadata("AKIADAVE000000000001", "dave", at("2024-03-03T03:03:03+00:00"))],
        "erin": [metadata("AKIAERIN000000000001", "erin", at("2026-11-28T11:00:00+00:00"))],
    }
    for name in names:
        stubber.add_response("list_access_keys", {"AccessKeyMetadata": fresh[name]}, {"UserName": name})
    for key_id, user_name in (("AKIACAROL00000000001", "carol"), ("AKIAERIN000000000001", "erin")):
        stubber.add_response(
            "get_access_key_last_used",
            {"UserName": user_name, "AccessKeyLastUsed": {"Region": "N/A", "ServiceName": "N/A"}},
            {"AccessKeyId": key_id},
        )
    task = params(status="Active")
    keys = _sweep.find_keys(_sweep.Sweep(client, task), task, NOW)
    assert sorted(key["access_key_id"] for key in keys) == sorted(key[0]["AccessKeyId"] for key in fresh.values())
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("filters", "lists_users"),
    [
        (dict(), True),
        (dict(older_than_days=0), True),
        (dict(unused_for_days=45), False),  # the report is 3 hours old: a key made since is 3 hours old at most
        (dict(older_than_days=90, status="Active"), False),
    ],
)
def test_every_user_is_listed_only_when_a_key_made_after_the_report_could_pass(filters, lists_users):
    task = params(**filters)
    assert _sweep.new_keys_may_pass(task, GENERATED, NOW) is lists_users
    assert _sweep.new_keys_may_pass(task, None, NOW) is True


def test_a_report_older_than_its_own_dates_is_bounded_by_its_latest_date(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    moto_time = datetime(2015, 2, 2, 20, 2, 2, tzinfo=timezone.utc)  # what moto always says
    stubber.add_response("get_credential_report", {"Content": REPORT, "GeneratedTime": moto_time}, {})
    sweep = _sweep.Sweep(client, params(unused_for_days=45))
    sweep.read_report()
    assert sweep.report_generated == "2015-02-02T20:02:02+00:00"  # reported as IAM said
    assert sweep.generated == at("2026-11-27T16:00:00+00:00")  # alice's last use: the report is no older
    assert _sweep.new_keys_may_pass(params(unused_for_days=45), sweep.generated, NOW) is False


# --- issue 16: the report picks candidates, fresh reads decide ------------------------------------------------


def test_a_key_the_stale_report_calls_unused_but_used_since_is_not_selected(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)  # bob's key: never used, says the report of 09:00
    expect_users(stubber, ["alice", "bob", "carol", "dave"])
    stubber.add_response(
        "list_access_keys",
        {
            "AccessKeyMetadata": [
                metadata("AKIAALICE00000000001", "alice", at("2026-01-10T08:00:00+00:00")),
                metadata("AKIAALICE00000000002", "alice", at("2026-06-01T09:15:30+00:00"), status="Inactive"),
            ]
        },
        {"UserName": "alice"},
    )
    stubber.add_response(
        "list_access_keys",
        {"AccessKeyMetadata": [metadata("AKIABOB0000000000001", "bob", at("2025-01-01T00:00:00+00:00"))]},
        {"UserName": "bob"},
    )
    stubber.add_response(
        "list_access_keys",
        {"AccessKeyMetadata": [metadata("AKIADAVE000000000001", "dave", at("2024-03-03T03:03:03+00:00"))]},
        {"UserName": "dave"},
    )
    # ... but a quarterly job signed with it at 11:00, after the report: IAM's fresh answer decides.
    expect_last_used(stubber, "AKIABOB0000000000001", "bob", at("2026-11-28T11:00:00+00:00"))
    expect_last_used(stubber, "AKIADAVE000000000001", "dave", at("2024-04-01T00:00:00+00:00"))
    task = params(status="Active", unused_for_days=45)
    keys = _sweep.find_keys(_sweep.Sweep(client, task), task, NOW)
    assert [key["access_key_id"] for key in keys] == ["AKIADAVE000000000001"]


def test_without_unused_for_days_the_report_gives_last_use_with_no_call(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    expect_users(stubber, ["alice", "bob", "carol", "dave"])
    stubber.add_response(
        "list_access_keys",
        {"AccessKeyMetadata": [metadata("AKIADAVE000000000001", "dave", at("2024-03-03T03:03:03+00:00"))]},
        {"UserName": "dave"},
    )
    task = params(older_than_days=900)
    keys = _sweep.find_keys(_sweep.Sweep(client, task), task, NOW)
    assert [(key["access_key_id"], key["last_used_date"]) for key in keys] == [
        ("AKIADAVE000000000001", "2024-04-01T00:00:00+00:00")
    ]


def test_path_prefix_scope_is_the_current_listusers_not_the_reports_paths(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    # In the report, dave is under /service/; since: dave moved out, bob moved in. The report's ARN no longer counts.
    expect_users(stubber, ["bob"], path_prefix="/service/", path="/service/")
    stubber.add_response(
        "list_access_keys",
        {"AccessKeyMetadata": [metadata("AKIABOB0000000000001", "bob", at("2025-01-01T00:00:00+00:00"))]},
        {"UserName": "bob"},
    )
    stubber.add_response(
        "list_access_keys",
        {"AccessKeyMetadata": [metadata("AKIADAVE000000000001", "dave", at("2024-03-03T03:03:03+00:00"))]},
        {"UserName": "dave"},
    )
    expect_last_used(stubber, "AKIABOB0000000000001", "bob")
    task = params(path_prefix="/service/", unused_for_days=45)
    sweep = _sweep.Sweep(client, task)
    keys = _sweep.find_keys(sweep, task, NOW)
    assert [key["access_key_id"] for key in keys] == ["AKIABOB0000000000001"]
    (moved,) = sweep.skipped_keys
    assert (moved["user_name"], moved["access_key_id"]) == ("dave", None)
    assert moved["reason"].startswith("the user was moved out of path_prefix /service/ after the credential report")


def test_a_renamed_user_is_renamed_and_a_deleted_one_deleted(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    # Since the report: bob was renamed robert, dave was deleted.
    expect_users(stubber, ["alice", "carol", "robert"], created={"robert": CREATED["bob"]})
    stubber.add_response(
        "list_access_keys",
        {
            "AccessKeyMetadata": [
                metadata("AKIAALICE00000000001", "alice", at("2026-01-10T08:00:00+00:00")),
                metadata("AKIAALICE00000000002", "alice", at("2026-06-01T09:15:30+00:00"), status="Inactive"),
            ]
        },
        {"UserName": "alice"},
    )
    stubber.add_client_error(
        "list_access_keys", "NoSuchEntity", "The user with name bob cannot be found.", 404, {"UserName": "bob"}
    )
    stubber.add_client_error(
        "list_access_keys", "NoSuchEntity", "The user with name dave cannot be found.", 404, {"UserName": "dave"}
    )
    stubber.add_response(
        "list_access_keys",
        {"AccessKeyMetadata": [metadata("AKIABOB0000000000001", "robert", at("2025-01-01T00:00:00+00:00"))]},
        {"UserName": "robert"},
    )
    expect_last_used(stubber, "AKIABOB0000000000001", "robert")  # the report knows no robert: asked, fresh
    task = params(status="Active", unused_for_days=45)
    sweep = _sweep.Sweep(client, task)
    keys = _sweep.find_keys(sweep, task, NOW)
    assert [(key["user_name"], key["access_key_id"]) for key in keys] == [("robert", "AKIABOB0000000000001")]
    assert [(entry["user_name"], entry["access_key_id"]) for entry in sweep.skipped_keys] == [
        ("bob", None),
        ("dave", None),
    ]
    assert sweep.skipped_keys[0]["reason"] == (
        "the user was renamed or moved after the credential report was generated: its key is now user 'robert''s, "
        "and is swept under that name"
    )
    assert sweep.skipped_keys[1]["reason"] == "the user was deleted after the credential report was generated"


def test_a_report_answer_without_content_is_one_line_and_auto_falls_back(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    stubber.add_response("get_credential_report", {"ReportFormat": "text/csv", "GeneratedTime": GENERATED}, {})
    stubber.add_response("list_users", {"Users": [], "IsTruncated": False}, {"MaxItems": 1000})
    task = params()
    sweep = _sweep.Sweep(client, task)
    assert _sweep.find_keys(sweep, task, NOW) == []
    (warning,) = sweep.warnings
    assert warning == (
        "Listed the keys through the IAM API instead of the credential report: iam:GetCredentialReport answered "
        "without Content, the report's CSV (fields: GeneratedTime, ReportFormat); check endpoint_url and any proxy "
        "in between."
    )
    assert sweep.source == "api"

    expect_generate(stubber, "COMPLETE")
    stubber.add_response("get_credential_report", {}, {})
    task = params(source="credential_report")
    with pytest.raises(KeyguardError, match=r"^iam:GetCredentialReport answered without Content.*\(fields: none\)"):
        _sweep.find_keys(_sweep.Sweep(client, task), task, NOW)


def test_info_says_a_missing_user_does_not_exist_as_the_status_module_does(iam):
    client, stubber = iam
    stubber.add_client_error(
        "list_access_keys", "NoSuchEntity", "The user with name nobody cannot be found.", 404, {"UserName": "nobody"}
    )
    task = params(all_users=False, user_name="nobody")
    with pytest.raises(KeyguardError) as caught:
        _sweep.find_keys(_sweep.Sweep(client, task), task, NOW)
    assert (str(caught.value), caught.value.code) == ("IAM user 'nobody' does not exist.", "NoSuchEntity")


@pytest.mark.parametrize("source", ["api", "credential_report"])
def test_a_chosen_source_without_all_users_is_refused_before_any_call(source):
    task = dict(params(all_users=False, user_name="bob", source=source), older_than_days=None)
    with pytest.raises(KeyguardError) as caught:
        iam_access_key_info.validate(task)
    assert str(caught.value) == f"source: {source} works with all_users: true only; set all_users, or drop source."


def test_a_rename_that_two_new_names_could_explain_is_not_guessed(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    # bob is gone; robert and roberta were both created in bob's second, each with a key of his key's second.
    expect_users(stubber, ["carol", "robert", "roberta"], created={"robert": CREATED["bob"], "roberta": CREATED["bob"]})
    for gone in ("alice", "bob", "dave"):  # alice and dave were deleted
        stubber.add_client_error(
            "list_access_keys", "NoSuchEntity", f"The user with name {gone} cannot be found.", 404, {"UserName": gone}
        )
    for name, key_id in (("robert", "AKIAROBERT0000000001"), ("roberta", "AKIAROBERTA000000001")):
        stubber.add_response(
            "list_access_keys",
            {"AccessKeyMetadata": [metadata(key_id, name, at("2025-01-01T00:00:00+00:00"))]},
            {"UserName": name},
        )
    task = params(older_than_days=90, include_last_used=False)
    sweep = _sweep.Sweep(client, task)
    keys = _sweep.find_keys(sweep, task, NOW)
    assert [key["user_name"] for key in keys] == ["robert", "roberta"]
    reasons = {entry["user_name"]: entry["reason"] for entry in sweep.skipped_keys}
    assert reasons["alice"] == reasons["dave"] == "the user was deleted after the credential report was generated"
    assert reasons["bob"] == (
        "the user was renamed or deleted after the credential report was generated; which cannot be told (users "
        "'robert', 'roberta' were created in the same second, with keys of the same second)"
    )


def test_a_user_moved_out_whose_keys_are_gone_is_still_accounted_for(iam):
    client, stubber = iam
    expect_generate(stubber, "COMPLETE")
    expect_get(stubber)
    expect_users(stubber, [], path_prefix="/service/", path="/service/")  # dave moved out, and deleted his key
    stubber.add_response("list_access_keys", {"AccessKeyMetadata": []}, {"UserName": "dave"})
    task = params(path_prefix="/service/", unused_for_days=45)
    sweep = _sweep.Sweep(client, task)
    assert _sweep.find_keys(sweep, task, NOW) == []
    (moved,) = sweep.skipped_keys
    assert moved["user_name"] == "dave" and moved["reason"].startswith("the user was moved out of path_prefix")


@pytest.mark.parametrize(("rows", "expected"), [(ROWS[3:4], None), (ROWS[0:1] + ROWS[3:4], "root's key")])
def test_root_access_keys_are_unknown_without_the_root_row_never_an_empty_list(iam, rows, expected):
    # An empty list says the root user has no keys (what CIS asks); a report without the <root_account> row (moto's,
    # or one cut short on the way) cannot say that.
    client, stubber = iam
    content = ("\n".join([HEADER, *rows]) + "\n").encode()
    expect_generate(stubber, "COMPLETE")
    stubber.add_response(
        "get_credential_report", {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": GENERATED}, {}
    )
    expect_users(stubber, ["carol"])
    task = params(status="Active", older_than_days=36500)
    sweep = _sweep.Sweep(client, task)
    assert _sweep.find_keys(sweep, task, NOW) == []
    stubber.assert_no_pending_responses()
    result = iam_access_key_info.report(sweep, [])
    assert result["source"] == "credential_report"
    if expected is None:
        assert result["root_access_keys"] is None
    else:
        assert result["root_access_keys"] == [root_key(parse_report(REPORT)[0])]
