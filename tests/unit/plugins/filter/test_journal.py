"""Unit tests of the undo filters: every journal shape, the latest-first plan, role choice, and the report."""

from __future__ import annotations

import json

import pytest

from ansible_collections.keyguard.aws.plugins.filter.journal import undo_plan, undo_report

HOME, OTHER = "111111111111", "222222222222"
K1, K2 = "AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"
TEMPLATE = "arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"


def status(key_id, account=HOME, before="Active", after="Inactive", user="bob"):
    """Return one status entry of the contract."""
    return dict(account_id=account, time="t", type="status", user_name=user, access_key_id=key_id, before=before,
                after=after)  # fmt: skip


def tag(key, before, after, account=HOME, user="bob"):
    """Return one tag entry of the contract."""
    return dict(account_id=account, time="t", type="tag", user_name=user, tag_key=key, before=before, after=after)


JOURNAL = [status(K1), tag("mark", None, "2026-12-31"), status(K2, before="Inactive", after="Active")]


@pytest.mark.parametrize(
    "document",
    [
        JOURNAL,
        {"changed": True, "account_id": HOME, "journal": JOURNAL},  # the registered result
        {"account_id": HOME, "check_mode": False, "journal": JOURNAL},  # a saved per-account file
        {"accounts": [{"account_id": HOME, "error": None, "result": {"journal": JOURNAL}}]},  # a sweep report
        [{"account_id": HOME, "result": {"journal": JOURNAL}}, {"account_id": OTHER, "result": None}],
        {HOME: {"check_mode": False, "journal": JOURNAL}},  # the AWX artifact keyguard_journals
        {"keyguard_journals": {HOME: {"check_mode": False, "journal": JOURNAL}}, "keyguard_org_sweep": {}},
    ],
    ids=["list", "result", "saved", "report", "report-list", "awx-artifact", "awx-artifacts"],
)
def test_every_shape_gives_the_same_plan_latest_first(document):
    plan = undo_plan(json.dumps(document), "j.json")
    assert plan["error"] is None and plan["entries"] == 3
    (account,) = plan["accounts"]
    assert account["account_id"] == HOME and account["role_arn"] == ""
    assert [item["entries"] for item in account["items"]] == [[2], [1], [0]]
    assert account["to_active"] == [dict(user_name="bob", access_key_id=K1, expected_status="Inactive")]
    assert account["to_inactive"] == [dict(user_name="bob", access_key_id=K2, expected_status="Active")]
    assert account["tags"] == [dict(user_name="bob", key="mark", value=None, expected_value="2026-12-31")]


def test_a_resource_written_twice_goes_back_to_its_first_before():
    journal = [tag("mark", None, "2026-12-31"), tag("mark", "2026-12-31", "2027-01-31", user="Bob")]
    (account,) = undo_plan(json.dumps(journal))["accounts"]
    assert account["tags"] == [dict(user_name="Bob", key="mark", value=None, expected_value="2027-01-31")]
    assert account["items"][0]["entries"] == [1, 0]


def test_writes_that_do_not_follow_on_are_refused():
    journal = [tag("mark", None, "2026-12-31"), tag("mark", "2026-11-30", "2027-01-31")]
    assert undo_plan(json.dumps(journal), "j.json")["error"] == (
        "journal_file j.json: entries 0 and 1 write the same tag but do not follow on ('2026-12-31' then "
        "'2026-11-30' before it)."
    )


def test_a_write_that_changed_nothing_is_not_planned():
    (account,) = undo_plan(json.dumps([tag("mark", None, "x"), tag("mark", "x", None)]))["accounts"]
    assert account["items"] == [] and account["tags"] == []


@pytest.mark.parametrize(
    "text, error",
    [
        ("{", "journal_file j.json is not JSON (Expecting property name"),
        ("42", "journal_file j.json holds no journal"),
        ('{"journal": 5}', "journal_file j.json holds no journal"),
        (json.dumps([5]), "journal_file j.json, entry 0 is not an object"),
        (json.dumps([dict(status(K1), type="delete")]), "journal_file j.json, entry 0 has type 'delete'"),
        (json.dumps([dict(status(K1), account_id="12345")]), "journal_file j.json, entry 0 has account_id '12345'"),
        (json.dumps([dict(status(K1), access_key_id=None)]), "journal_file j.json, entry 0 has no access_key_id."),
        (json.dumps([{k: v for k, v in tag("m", None, "x").items() if k != "before"}]), "entry 0 has no before."),
        (json.dumps([tag("m", None, 5)]), "entry 0 has after 5; a tag value is a string, or null for no tag."),
        (json.dumps({"check_mode": True, "journal": JOURNAL}), "journal_file j.json was saved by a check-mode run"),
    ],
)
def test_a_bad_file_is_one_line(text, error):
    plan = undo_plan(text, "j.json")
    assert error in plan["error"] and "\n" not in plan["error"]
    assert plan["accounts"] == []


def test_roles_per_account():
    journal = json.dumps([status(K1, account=HOME), status(K2, account=OTHER)])
    assert "set keyguard_role_arn_template" in undo_plan(journal)["error"]
    plan = undo_plan(journal, role_arn_template=TEMPLATE, home_account_id=HOME)
    assert [(a["account_id"], a["role_arn"]) for a in plan["accounts"]] == [
        (HOME, ""),
        (OTHER, f"arn:aws:iam::{OTHER}:role/OrganizationAccountAccessRole"),
    ]
    gov = undo_plan(journal, role_arn_template="arn:{partition}:iam::{account_id}:role/R", home_account_id=HOME,
                    partition="aws-us-gov")  # fmt: skip
    assert gov["accounts"][1]["role_arn"] == f"arn:aws-us-gov:iam::{OTHER}:role/R"


@pytest.mark.parametrize(
    "options, error",
    [
        (dict(role_arn_template="arn:aws:iam::123:role/R", home_account_id=HOME), "must be an IAM role ARN with"),
        (dict(role_arn_template=TEMPLATE), "keyguard_home_account_id is required"),
        (dict(account_role_arn=f"arn:aws:iam::{HOME}:role/R"), f"is in account {HOME}, but the journal names {OTHER}"),
        (dict(account_role_arn="arn:aws:iam::1:role/R"), "account_role_arn must be an IAM role ARN"),
        (dict(partition="mars"), "keyguard_partition must be an AWS partition"),
    ],
)
def test_bad_role_options(options, error):
    assert error in undo_plan(json.dumps([status(K1, account=OTHER)]), **options)["error"]


def test_one_other_account_through_account_role_arn():
    role = f"arn:aws:iam::{OTHER}:role/R"
    (account,) = undo_plan(json.dumps([status(K1, account=OTHER)]), account_role_arn=role)["accounts"]
    assert account["role_arn"] == role


def test_report_sorts_every_item_with_its_reason():
    journal = [
        status(K1),
        status(K2),
        tag("a", None, "1"),
        tag("b", "0", None),
        tag("c", None, "1"),
        tag("d", None, "1"),
    ]
    (account,) = undo_plan(json.dumps(journal))["accounts"]
    results = {
        "to_active": {
            "failed": True,
            "access_keys": [
                dict(access_key_id=K1, user_name="bob", status="Active", changed=True),
                dict(access_key_id=K2, user_name="bob", changed=False, failed=True, msg="denied"),
            ],
        },
        "tags": {
            "tags": [
                dict(user_name="bob", key="a", value="2", changed=False, conflict=True, expected_value="1"),
                dict(user_name="bob", key="b", value="0", changed=False, conflict=True, expected_value=None),
                dict(user_name="BOB", key="c", value=None, changed=True),
            ]
        },
        "to_inactive": {"skipped": True},
    }
    report = undo_report(account, results, check_mode=True)
    assert report == {
        "account_id": HOME,
        "restored": [
            "tag c of bob: would restore absent (was 1)",
            f"key {K1} of bob: would restore Active (was Inactive)",
        ],
        "left_alone": [
            "tag b of bob: already 0, as before the sweep; nothing to do",
            "tag a of bob: left alone, it is 2, not 1 as the journal set it (changed since)",
        ],
        "failed": ["tag d of bob: not restored: its task did not run", f"key {K2} of bob: not restored: denied"],
    }


def test_report_names_a_task_that_failed_before_any_item():
    (account,) = undo_plan(json.dumps([tag("a", None, "1")]))["accounts"]
    report = undo_report(account, {"tags": {"failed": True, "msg": "Could not assume role R"}})
    assert report["failed"] == ["tag a of bob: not restored: Could not assume role R"]


def test_the_awx_artifact_of_a_check_mode_job_is_refused():
    artifact = {"keyguard_journals": {HOME: {"check_mode": True, "journal": JOURNAL}}}
    assert undo_plan(json.dumps(artifact), "j.json")["error"] == (
        "journal_file j.json holds the journals of a check-mode job: they list writes that were never made, so there "
        "is nothing to undo."
    )
