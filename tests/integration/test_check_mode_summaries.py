"""Every shipped playbook's summary, run with --check, says what it *would* do and changes nothing."""

from __future__ import annotations

import re

import pytest
from harness import ADMIN_KEY, ADMIN_SECRET, REPO

PLAYBOOKS = REPO / "playbooks"
# Tested elsewhere, each in check mode too: finish_rotation.yml in test_finish_rotation.py, org_cis_sweep.yml (its
# summary's outcome) in test_organization.py. rotation_report.yml only reads, so it has nothing to predict.
# Covered in their own tests: test_finish_rotation.py, test_organization.py (and test_sweep_report.py),
# test_compliance.py, test_notify.py (nothing posted in check mode), test_undo.py ("would restore", no write).
ELSEWHERE = {"finish_rotation.yml", "org_cis_sweep.yml", "rotation_report.yml", "notify_owners.yml", "undo_sweep.yml"}


def run_playbook(ansible, name, check, **extra_vars):
    """Run playbooks/<name> against moto, connection from the environment; return the Run.

    Journals and sweep reports go to the test's own directory, never the working directory.
    """
    extra_vars.setdefault("keyguard_journal_dir", str(ansible.workdir / "journals"))
    extra_vars.setdefault("keyguard_report_dir", str(ansible.workdir / "reports"))
    env = {
        "AWS_ACCESS_KEY_ID": ADMIN_KEY,
        "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "AWS_ENDPOINT_URL_IAM": ansible.moto.url,
        "AWS_ENDPOINT_URL_STS": ansible.moto.url,  # the key policy asks sts:GetCallerIdentity
    }
    return ansible.run_file(PLAYBOOKS / name, check=check, env=env, extra_vars=extra_vars)


def stale_fleet(moto):
    """Three keys unused for 100 days; return {user: key}."""
    moto.days_ago(100)
    keys = {user: moto.user_with_key(user) for user in ("a", "b", "c")}
    moto.days_ago(0)
    return keys


def leaked(moto):
    """One key of intern; return the extra variables that name it."""
    return {"leaked_key_id": moto.user_with_key("intern")["AccessKeyId"]}


def exposed(moto):
    """One key of intern; return the extra variables that name it."""
    return {"access_key_id": moto.user_with_key("intern")["AccessKeyId"]}


def rotation(moto):
    """deploy-bot's old key and intern's leaked key; return the extra variables that name them."""
    old = moto.user_with_key("deploy-bot")
    return {"old_key_id": old["AccessKeyId"], "leaked_key_id": moto.user_with_key("intern")["AccessKeyId"]}


CASES = {
    "cis_unused_keys.yml": (
        lambda moto: stale_fleet(moto) and {},
        r"3 of 3 stale keys would be deactivated \(check mode: nothing changed\)",
        r"3 of 3 stale keys deactivated",
    ),
    "contain_leaked_key.yml": (
        leaked,
        r"AKIA\w+ of intern: Active -> Inactive \(check mode: would be deactivated, nothing changed\)",
        r"AKIA\w+ of intern: Active -> Inactive \(deactivated now\)",
    ),
    "contain_exposed_key.yml": (
        exposed,
        r"of IAM user intern: Active -> Inactive \(check mode: would be deactivated\)",
        r"of IAM user intern: Active -> Inactive \(deactivated now\)",
    ),
    "demo.yml": (
        rotation,
        r"AKIA\w+ of deploy-bot would be Inactive; leaked key AKIA\w+ of intern would be Inactive "
        r"\(check mode: nothing changed\)",
        r"AKIA\w+ of deploy-bot is Inactive; leaked key AKIA\w+ of intern is Inactive\"",
    ),
}


def test_every_shipped_playbook_is_covered():
    assert sorted(p.name for p in PLAYBOOKS.glob("*.yml")) == sorted(set(CASES) | ELSEWHERE)


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_mode_summary_says_would_and_changes_nothing(ansible, moto, name):
    setup, predicted, applied = CASES[name]
    extra_vars = setup(moto)
    before = {u["UserName"]: moto.iam.list_access_keys(UserName=u["UserName"]) for u in moto.iam.list_users()["Users"]}

    check = run_playbook(ansible, name, check=True, **extra_vars)
    assert check.rc == 0, check.stdout
    assert check.calls["UpdateAccessKey"] == 0
    assert re.search(predicted, check.stdout), check.stdout
    assert not re.search(applied, check.stdout)
    after = {u["UserName"]: moto.iam.list_access_keys(UserName=u["UserName"]) for u in moto.iam.list_users()["Users"]}
    assert [k["Status"] for v in after.values() for k in v["AccessKeyMetadata"]] == [
        k["Status"] for v in before.values() for k in v["AccessKeyMetadata"]
    ]

    real = run_playbook(ansible, name, check=False, **extra_vars)
    assert real.rc == 0, real.stdout
    assert real.calls["UpdateAccessKey"] > 0
    assert re.search(applied, real.stdout), real.stdout
    last = real.stdout.split("PLAY RECAP")[0].split("TASK [")[-1]
    if last.startswith("Say where the report is]"):  # the sweep's report path comes after its summary
        last = real.stdout.split("PLAY RECAP")[0].split("TASK [")[-2]
        assert "check mode" not in real.stdout.split("PLAY RECAP")[0].split("TASK [")[-1]
    assert "would" not in last  # the last task's summary


def test_contain_exposed_key_artifact_says_when_it_is_only_a_prediction(ansible, moto):
    # AWX and the EDA controller read keyguard_contained, not the log: in check mode it must not pass for a containment.
    extra_vars = exposed(moto)
    for check in (True, False):
        env = {
            "AWS_ACCESS_KEY_ID": ADMIN_KEY,
            "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
            "AWS_ENDPOINT_URL_IAM": ansible.moto.url,
            "ANSIBLE_SHOW_CUSTOM_STATS": "true",
        }
        run = ansible.run_file(PLAYBOOKS / "contain_exposed_key.yml", check=check, env=env, extra_vars=extra_vars)
        assert run.rc == 0, run.stdout
        stats = run.stdout.split("CUSTOM STATS:")[-1]
        assert re.search(r'"check_mode": %s' % ("true" if check else "false"), stats), stats
