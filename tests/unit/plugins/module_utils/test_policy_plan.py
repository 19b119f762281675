"""Unit tests of the key policy's pure plan: grace marks, exemptions, the tag limit."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.keyguard.aws.plugins.module_utils._policy import (
    DEFAULT_EXEMPT_TAG,
    MAX_USER_TAGS,
    Policy,
    User,
    find_tag,
    mark_key,
    marks_of,
    parse_date,
    plan_key,
    plan_user,
    valid_tag_key,
)

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
OTHER_ID = "AKIAI44QH8DHBEXAMPLE"


def key(days_old=200, days_unused=120, status="Active", key_id=KEY_ID):
    """Return a key as the module hands it to the plan."""
    created = NOW - timedelta(days=days_old)
    used = None if days_unused is None else NOW - timedelta(days=days_unused)
    return {
        "access_key_id": key_id,
        "user_name": "bob",
        "status": status,
        "create_date": created.isoformat(),
        "last_used_date": used.isoformat() if used else None,
        "age_days": days_old,
        "days_since_last_use": days_old if used is None else days_unused,
    }


def user(tags=None, groups=(), name="bob"):
    """Return the owner as the plan sees it."""
    return User(name, dict(tags or {}), tuple(groups))


UNUSED_90 = Policy(unused_for_days=90)
GRACE_14 = Policy(unused_for_days=90, grace_days=14)


def test_grace_zero_deactivates_now():
    plan = plan_key(key(), user(), NOW, UNUSED_90)
    assert (plan.action, plan.status, plan.deadline, plan.mark_after) == ("deactivated", "Inactive", None, None)
    assert plan.reason == "The key is Active, unused for 120 days (more than 90); deactivated (grace_days is 0)."


def test_first_run_with_grace_warns_and_marks_today_plus_grace():
    plan = plan_key(key(), user(), NOW, GRACE_14)
    assert (plan.action, plan.status, plan.deadline) == ("warned", "Active", "2026-12-16")
    assert (plan.mark_before, plan.mark_after) == (None, "2026-12-16")
    assert plan.marks and not plan.deactivates
    assert "deactivated on or after 2026-12-16 unless it is used by then" in plan.reason


def test_marked_key_is_pending_until_its_date_then_deactivated_on_it():
    pending = plan_key(key(), user(), NOW, GRACE_14, mark="2026-12-03")
    assert (pending.action, pending.deadline, pending.status, pending.marks) == (
        "pending",
        "2026-12-03",
        "Active",
        False,
    )
    on_the_day = plan_key(key(), user(), NOW, GRACE_14, mark="2026-12-02")
    assert (on_the_day.action, on_the_day.status) == ("deactivated", "Inactive")
    # the mark goes with the deactivation, so the next run has nothing to clear
    assert (on_the_day.mark_before, on_the_day.mark_after) == ("2026-12-02", None)
    long_past = plan_key(key(), user(), NOW, GRACE_14, mark="2020-01-01")
    assert long_past.action == "deactivated"


def test_the_marks_date_decides_not_todays_grace_days():
    assert plan_key(key(), user(), NOW, Policy(unused_for_days=90, grace_days=1), mark="2027-06-01").action == "pending"


def test_an_unreadable_mark_is_set_again_never_acted_on():
    plan = plan_key(key(), user(), NOW, GRACE_14, mark="soon")
    assert (plan.action, plan.mark_before, plan.mark_after) == ("warned", "soon", "2026-12-16")
    assert "its mark held 'soon', not a date, so it was marked again" in plan.reason


@pytest.mark.parametrize(
    "stale_key, why",
    [
        (key(days_unused=3), "The key was last used 3 days ago, not more than 90"),
        (key(status="Inactive"), "The key is Inactive, and only Active keys are candidates;"),
    ],
)
def test_a_marked_key_that_no_longer_qualifies_is_cleared(stale_key, why):
    plan = plan_key(stale_key, user(), NOW, GRACE_14, mark="2026-12-10")
    assert (plan.action, plan.mark_before, plan.mark_after) == ("cleared", "2026-12-10", None)
    assert why in plan.reason and plan.reason.endswith("its deactivation mark (2026-12-10) was removed.")
    assert plan.status == stale_key["status"]


def test_unmarked_key_that_does_not_qualify_is_none():
    plan = plan_key(key(days_unused=3), user(), NOW, GRACE_14)
    assert (plan.action, plan.marks, plan.deactivates) == ("none", False, False)


def test_older_than_days_and_both_filters():
    both = Policy(older_than_days=90, unused_for_days=45)
    assert plan_key(key(days_old=100, days_unused=50), user(), NOW, both).action == "deactivated"
    in_use = plan_key(key(days_old=100, days_unused=40), user(), NOW, both)
    assert (in_use.action, in_use.reason) == ("none", "The key was last used 40 days ago, not more than 45.")
    young = plan_key(key(days_old=80, days_unused=50), user(), NOW, both)
    assert (young.action, young.reason) == ("none", "The key was created 80 days ago, not more than 90.")
    never = plan_key(key(days_old=30, days_unused=None), user(), NOW, UNUSED_90)
    assert never.reason == "The key was created 30 days ago and never used, not more than 90 days."
    old = plan_key(key(days_old=100, days_unused=1), user(), NOW, Policy(older_than_days=90))
    assert old.reason.startswith("The key is Active, created 100 days ago (more than 90)")


def test_never_used_counts_from_creation():
    plan = plan_key(key(days_old=100, days_unused=None), user(), NOW, UNUSED_90)
    assert plan.action == "deactivated"
    assert plan.reason.startswith("The key is Active, never used for 100 days")


@pytest.mark.parametrize(
    "owner, policy, why",
    [
        (user(tags={"keyguard:exempt": "true"}), GRACE_14, "tagged keyguard:exempt=true"),
        (user(tags={"Keyguard:Exempt": "True"}), GRACE_14, "tagged Keyguard:Exempt=True"),
        (user(tags={"keyguard:exempt": "2026-12-02"}), GRACE_14, "an exemption that holds until 2026-12-02"),
        (user(), GRACE_14._replace(exempt_users=("BOB",)), "is listed in exempt_users"),
        (user(groups=["Admins"]), GRACE_14._replace(exempt_groups=("admins",)), "member of the exempt group Admins"),
        (user(), GRACE_14._replace(exempt_access_keys=(KEY_ID,)), "listed in exempt_access_keys"),
        (user(tags={"break-glass": "yes"}), GRACE_14._replace(exempt_tag="break-glass"), None),
    ],
)
def test_exemptions_hold_and_write_nothing(owner, policy, why):
    plan = plan_key(key(), owner, NOW, policy)
    if why is None:  # a custom exempt_tag with a value that is neither true nor a date
        assert plan.action == "failed"
        assert "tag break-glass='yes' is neither true nor a date" in plan.reason
    else:
        assert plan.action == "exempt"
        assert why in plan.reason
    assert (plan.status, plan.marks, plan.deadline) == ("Active", False, None)


def test_a_lapsed_exemption_is_none_and_says_so():
    plan = plan_key(key(), user(tags={"keyguard:exempt": "2026-12-01"}), NOW, UNUSED_90)
    assert plan.action == "deactivated"
    assert "the exemption keyguard:exempt=2026-12-01 of user bob lapsed after 2026-12-01" in plan.reason


def test_an_exemption_clears_an_earlier_mark():
    plan = plan_key(key(), user(tags={"keyguard:exempt": "true"}), NOW, GRACE_14, mark="2026-12-10")
    assert (plan.action, plan.mark_after, plan.status) == ("cleared", None, "Active")
    assert "but exempt" in plan.reason


def test_exempt_tag_of_another_name_is_not_the_default():
    plan = plan_key(key(), user(tags={"keyguard:exempt": "true"}), NOW, UNUSED_90._replace(exempt_tag="owner:keep"))
    assert plan.action == "deactivated"


def test_plan_user_clears_marks_of_deleted_keys():
    owner = user(tags={mark_key(KEY_ID): "2026-12-10", mark_key(OTHER_ID): "2026-12-10", "team": "data"})
    plans = plan_user(owner, [key()], NOW, GRACE_14)
    assert [(k["access_key_id"], k["status"], p.action) for k, p in plans] == [
        (KEY_ID, "Active", "pending"),
        (OTHER_ID, None, "cleared"),
    ]
    assert plans[1][1].reason == f"The key {OTHER_ID} no longer exists; its deactivation mark (2026-12-10) was removed."
    assert plans[1][1].status is None


def test_plan_user_fails_a_new_mark_past_the_tag_limit_and_the_rest_go_on():
    tags = {f"tag{i}": "x" for i in range(MAX_USER_TAGS - 1)}
    keys = [key(), key(key_id=OTHER_ID)]
    plans = plan_user(user(tags=tags), keys, NOW, GRACE_14)
    assert [p.action for _k, p in plans] == ["warned", "failed"]
    assert "already holds 49 tags, and IAM allows 50" in plans[1][1].reason
    assert plans[1][1].marks is False


def test_plan_user_counts_a_removed_mark_as_room_for_a_new_one():
    tags = {f"tag{i}": "x" for i in range(MAX_USER_TAGS - 1)}
    tags[mark_key(OTHER_ID)] = "2026-12-10"  # 50 tags; OTHER_ID was used since, so its mark goes
    keys = [key(), key(key_id=OTHER_ID, days_unused=1)]
    plans = plan_user(user(tags=tags), keys, NOW, GRACE_14)
    assert [p.action for _k, p in plans] == ["warned", "cleared"]


def test_plan_user_at_the_limit_can_still_deactivate_and_keep_pending():
    tags = {f"tag{i}": "x" for i in range(MAX_USER_TAGS - 1)}
    tags[mark_key(KEY_ID)] = "2026-12-01"
    plans = plan_user(user(tags=tags), [key()], NOW, GRACE_14)
    assert plans[0][1].action == "deactivated"
    assert plan_user(user(tags=tags), [key()], NOW, UNUSED_90)[0][1].action == "deactivated"


def test_plan_user_never_deactivates_the_signing_key():
    ((_key, plan),) = plan_user(user(), [key()], NOW, UNUSED_90, protected=frozenset({KEY_ID}))
    assert plan.action == "failed"
    assert "it signs this task's own requests" in plan.reason
    assert (plan.status, plan.marks) == ("Active", False)


def test_tag_helpers():
    assert parse_date("2026-12-02") == date(2026, 12, 2)
    for bad in ("2026-02-30", "20261202", "tomorrow", "", None, "2026-12-02T00:00"):
        assert parse_date(bad) is None
    assert find_tag({"Keyguard:EXEMPT": "true"}, "keyguard:exempt") == ("Keyguard:EXEMPT", "true")
    assert find_tag({}, "keyguard:exempt") == (None, None)
    assert marks_of({mark_key(KEY_ID): "2026-12-01", "other": "x"}) == {KEY_ID: (mark_key(KEY_ID), "2026-12-01")}
    assert valid_tag_key("keyguard:exempt") and valid_tag_key("Owner Team_1.a/b=c+d-e@f")
    for bad in ("", "x" * 129, "aws:foo", "AWS:foo", "bad!", "tab\there", None, 3):
        assert not valid_tag_key(bad)


# --- properties -----------------------------------------------------------------------------------

keys = st.builds(
    key,
    days_old=st.integers(0, 3000),
    days_unused=st.one_of(st.none(), st.integers(0, 3000)),
    status=st.sampled_from(["Active", "Inactive"]),
)
policies = st.builds(
    Policy,
    older_than_days=st.one_of(st.none(), st.integers(0, 400)),
    unused_for_days=st.one_of(st.none(), st.integers(0, 400)),
    grace_days=st.integers(0, 60),
    exempt_tag=st.just(DEFAULT_EXEMPT_TAG),
).filter(lambda policy: policy.older_than_days is not None or policy.unused_for_days is not None)
marks = st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(str), st.just("garbage"))


@given(keys, policies, marks)
def test_property_only_active_qualifying_keys_are_ever_switched_off(the_key, policy, mark):
    plan = plan_key(the_key, user(), NOW, policy, mark)
    if the_key["status"] != "Active":
        assert plan.action in ("none", "cleared")
        assert plan.status == "Inactive"
    if plan.deactivates:
        assert plan.status == "Inactive" and plan.mark_after is None
        # only without grace, or on or after a readable mark's date
        assert policy.grace_days == 0 or (parse_date(mark) is not None and parse_date(mark) <= TODAY)
    else:
        assert plan.status == the_key["status"]


@given(keys, policies, marks)
def test_property_running_the_plan_again_on_its_outcome_writes_nothing(the_key, policy, mark):
    first = plan_key(the_key, user(), NOW, policy, mark)
    again = plan_key(dict(the_key, status=first.status), user(), NOW, policy, first.mark_after)
    assert not again.marks and not again.deactivates
    assert again.action in ("pending", "none", "exempt", "failed")


@given(keys, policies, marks, st.sampled_from(["true", "2027-01-01"]))
def test_property_an_exempt_key_is_never_deactivated_nor_newly_marked(the_key, policy, mark, value):
    plan = plan_key(the_key, user(tags={"keyguard:exempt": value}), NOW, policy, mark)
    assert not plan.deactivates
    assert plan.mark_after is None or plan.mark_after == mark
    assert plan.action in ("exempt", "none", "cleared")


@given(st.integers(0, MAX_USER_TAGS), st.integers(1, 2))
def test_property_marks_never_take_a_user_past_50_tags(existing, n_keys):
    tags = {f"tag{i}": "x" for i in range(existing)}
    the_keys = [key(key_id=f"AKIA{i:016d}") for i in range(n_keys)]
    plans = plan_user(user(tags=tags), the_keys, NOW, GRACE_14)
    added = sum(1 for _k, p in plans if p.mark_before is None and p.mark_after is not None)
    assert existing + added <= MAX_USER_TAGS
    assert all(p.action in ("warned", "failed") for _k, p in plans)
