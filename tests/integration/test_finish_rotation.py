"""finish_rotation.yml end to end: old keys are deactivated only once the new key is used and the old ones are quiet.

IAM's GetAccessKeyLastUsed gives the last use to the minute (AWS answers 2026-12-02T15:03:00Z for a use at
15:03:41); moto gives it to the microsecond. A proxy in front of moto cuts moto's answers down to the minute, as AWS
does, and tools/moto_clock.py turns IAM's clock back so a key can be used "minutes ago".
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone

import boto3
import pytest
from harness import ADMIN_KEY, ADMIN_SECRET, REPO

PLAYBOOK = REPO / "playbooks" / "finish_rotation.yml"
LAST_USED = re.compile(r"<LastUsedDate>(\d{4}-\d\d-\d\dT\d\d:\d\d):\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?</LastUsedDate>")


def to_the_minute(body):
    """Return a GetAccessKeyLastUsed answer with LastUsedDate cut down to the minute, as AWS gives it."""
    return LAST_USED.sub(r"<LastUsedDate>\1:00Z</LastUsedDate>", body)


@pytest.fixture
def iam(fault_proxy):
    """Return the proxy in front of moto, answering last use to the minute."""
    fault_proxy.rewrite("GetAccessKeyLastUsed", to_the_minute)
    return fault_proxy


def use_key(moto, key, minutes_ago):
    """Sign one request with the key while IAM's clock reads `minutes_ago` minutes back."""
    moto.days_ago(minutes_ago / 1440)
    moto.client(key["AccessKeyId"], key["SecretAccessKey"]).get_user()
    moto.days_ago(0)


def rotated(moto, old_used=None, new_used=None):
    """Create deploy-bot with an old and a new key, each used so many minutes ago (None: never); return both."""
    old = moto.user_with_key("deploy-bot")
    new = moto.add_key("deploy-bot")
    for key, minutes in ((old, old_used), (new, new_used)):
        if minutes is not None:
            use_key(moto, key, minutes)
    return old, new


def finish(ansible, iam, new, check=False, **extra_vars):
    """Run finish_rotation.yml for deploy-bot's new key through the proxy; return the Run."""
    env = {"AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET, "AWS_ENDPOINT_URL_IAM": iam.url}
    extra_vars = {"user": "deploy-bot", "new_key_id": new["AccessKeyId"], **extra_vars}
    return ansible.run_file(PLAYBOOK, check=check, env=env, extra_vars=extra_vars)


def test_the_proxy_gives_last_use_to_the_minute_as_aws_does(moto, iam):
    old, _new = rotated(moto, old_used=5)
    asked = {"AccessKeyId": old["AccessKeyId"]}
    direct = moto.iam.get_access_key_last_used(**asked)["AccessKeyLastUsed"]["LastUsedDate"]
    proxied = boto3.client(
        "iam",
        endpoint_url=iam.url,
        region_name="us-east-1",
        aws_access_key_id=ADMIN_KEY,
        aws_secret_access_key=ADMIN_SECRET,
    )
    through = proxied.get_access_key_last_used(**asked)["AccessKeyLastUsed"]["LastUsedDate"]
    assert through == direct.replace(second=0, microsecond=0)
    assert 4 <= (datetime.now(timezone.utc) - through).total_seconds() / 60 < 7


def test_stops_without_a_write_while_the_new_key_is_unused(ansible, moto, iam):
    old, new = rotated(moto, old_used=180)
    run = finish(ansible, iam, new)
    assert run.rc != 0, run.stdout
    assert run.calls["UpdateAccessKey"] == 0
    assert f"the new key {new['AccessKeyId']} has never been used" in run.stdout
    assert re.search(rf"{old['AccessKeyId']} \(Active\) last used \S+T\S+:00\+00:00, 18\d minutes ago", run.stdout)
    assert "pass -e force=true" in run.stdout
    assert moto.status("deploy-bot", old["AccessKeyId"]) == "Active"


def test_stops_naming_an_old_key_used_within_quiet_minutes(ansible, moto, iam):
    old, new = rotated(moto, old_used=10, new_used=2)
    run = finish(ansible, iam, new)
    assert run.rc != 0, run.stdout
    assert run.calls["UpdateAccessKey"] == 0
    assert re.search(
        rf"old key {old['AccessKeyId']} was used 1[01] minutes ago, within the last 60 minutes", run.stdout
    )
    assert re.search(rf"{old['AccessKeyId']} \(Active\) last used \S+, 1[01] minutes ago", run.stdout)
    assert "never been used" not in run.stdout
    assert moto.status("deploy-bot", old["AccessKeyId"]) == "Active"
    # quiet_minutes sets the window: ten minutes of quiet are enough when five are asked for.
    shorter = finish(ansible, iam, new, quiet_minutes=5)
    assert shorter.rc == 0, shorter.stdout
    assert shorter.calls["UpdateAccessKey"] == 1
    assert moto.status("deploy-bot", old["AccessKeyId"]) == "Inactive"


def test_check_mode_then_apply_then_again_once_all_is_quiet(ansible, moto, iam):
    old, new = rotated(moto, old_used=120, new_used=3)

    preview = finish(ansible, iam, new, check=True)
    assert preview.rc == 0, preview.stdout
    assert preview.calls["UpdateAccessKey"] == 0
    assert f"deploy-bot: would deactivate 1 old keys ({old['AccessKeyId']}), 0 already inactive" in preview.stdout
    assert "(check mode: nothing changed)" in preview.stdout
    assert moto.status("deploy-bot", old["AccessKeyId"]) == "Active"

    applied = finish(ansible, iam, new)
    assert applied.rc == 0, applied.stdout
    assert applied.calls["UpdateAccessKey"] == 1
    assert f"deploy-bot: deactivated 1 old keys ({old['AccessKeyId']}), 0 already inactive" in applied.stdout
    assert [moto.status("deploy-bot", k["AccessKeyId"]) for k in (old, new)] == ["Inactive", "Active"]

    again = finish(ansible, iam, new)
    assert again.rc == 0, again.stdout
    assert again.calls["UpdateAccessKey"] == 0
    assert "deploy-bot: deactivated 0 old keys (none), 1 already inactive" in again.stdout


def test_check_mode_stops_the_same_way(ansible, moto, iam):
    old, new = rotated(moto, old_used=1, new_used=1)
    run = finish(ansible, iam, new, check=True)
    assert run.rc != 0, run.stdout
    assert run.calls["UpdateAccessKey"] == 0
    assert f"old key {old['AccessKeyId']} was used" in run.stdout


@pytest.mark.parametrize("force", [True, "true", "yes"])
def test_force_deactivates_anyway_and_says_why(ansible, moto, iam, force):
    old, new = rotated(moto, old_used=1)
    run = finish(ansible, iam, new, force=force)
    assert run.rc == 0, run.stdout
    assert run.calls["UpdateAccessKey"] == 1
    assert "force=true: deactivating the old keys of deploy-bot although the new key" in run.stdout
    assert f"old key {old['AccessKeyId']} was used" in run.stdout
    assert moto.status("deploy-bot", old["AccessKeyId"]) == "Inactive"
    assert moto.status("deploy-bot", new["AccessKeyId"]) == "Active"


def test_force_still_needs_the_new_key_to_exist(ansible, moto, iam):
    old = moto.user_with_key("deploy-bot")
    run = finish(ansible, iam, {"AccessKeyId": "AKIATYPOINTHEKEYID00"}, force=True)
    assert run.rc != 0
    assert "AKIATYPOINTHEKEYID00 is not an active key of deploy-bot; nothing was deactivated" in run.stdout
    assert run.calls["UpdateAccessKey"] == 0
    assert moto.status("deploy-bot", old["AccessKeyId"]) == "Active"


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"quiet_minutes": -5}, "quiet_minutes must be a whole number of minutes, 0 or more (got -5)."),
        ({"quiet_minutes": "soon"}, "quiet_minutes must be a whole number of minutes, 0 or more (got soon)."),
        ({"quiet_minutes": 1.5}, "quiet_minutes must be a whole number of minutes, 0 or more (got 1.5)."),
        ({"quiet_minutes": True}, "quiet_minutes must be a whole number of minutes, 0 or more (got True)."),
        ({"force": "maybe"}, "force must be true or false (got maybe)."),
        ({"force": 2}, "force must be true or false (got 2)."),
        ({"new_key_id": "not a key"}, "new_key_id must be an access key ID"),
        ({"user": ""}, "user is required"),
    ],
)
def test_bad_input_is_named_before_any_call(ansible, moto, iam, extra_vars, message):
    new = moto.user_with_key("deploy-bot")
    run = finish(ansible, iam, new, **extra_vars)
    assert run.rc != 0
    assert message in run.stdout, run.stdout
    assert run.calls == Counter()
