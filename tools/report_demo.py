"""The sweep report from a real moto organization sweep, and the helpers its tests, benchmark and docs share.

python tools/report_demo.py DIR [--screenshot PNG]
    starts moto, seeds the demo organization (the accounts of `make demo-org`, with more users and keys of every
    age, some owners already warned with a deadline past or to come, and one account whose role is denied), and
    runs the shipped playbooks/org_cis_sweep.yml on it (keyguard.aws.iam_access_key_policy in each account, grace
    period of 14 days, the report assembled once on the controller by keyguard.aws.sweep_report) with the report
    written into DIR. --screenshot saves a PNG of it taken in headless Chromium (docs/images/sweep_report.png).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from moto_org import MotoOrganization  # noqa: E402
from moto_server import MotoServer  # noqa: E402

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIADEMOADMIN0000000", "AWS_SECRET_ACCESS_KEY": "demo-secret"}
POLICY = {
    "older_than_days": None,
    "unused_for_days": 45,
    "grace_days": 14,
    "exempt_tag": "keyguard:exempt",
    "exempt_users": ["break-glass"],
    "exempt_groups": [],
    "exempt_access_keys": [],
    "path_prefix": None,
    "source": "auto",
}
# (user, [(days since created, days since last used or None for never), ...]) in every swept account.
FLEET = [
    ("ci-runner", [(12, 0)]),
    ("deploy-bot", [(400, 2), (20, 1)]),
    ("old-report-job", [(130, None)]),
    ("backup", [(220, 50)]),
    ("metrics-export", [(95, 55)]),
    ("break-glass", [(700, None)]),
    ("data-lake-sync", [(60, 3)]),
]
EXTRA = {  # per account, on top of FLEET
    "prod-payments": [("legacy-ftp", [(1400, 900)]), ("payments-batch", [(300, 70), (40, 40)])],
    "staging": [("qa-runner", [(33, 1)]), ("=1+2", [(80, 80)])],  # a legal IAM name a spreadsheet would compute
    "sandbox": [("intern-2024", [(500, None)])],
}
# Owners an earlier run with grace_days warned: days from today to the deadline on their key (past: deactivate now).
DEADLINES = {"backup": -1, "old-report-job": -3, "metrics-export": 5}
SWEEP_VARS = dict(grace_days=14, keyguard_report_scope="the demo organization on moto: every member account")
DENIED = "User: arn:aws:iam::123456789012:user/keyguard-sweeper is not authorized to perform: sts:AssumeRole on resource: {role}"
WRITE = """\
- name: Write the policy-shaped report
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the sweep report
      keyguard.aws.sweep_report:
        dest: "{{ keyguard_report_dir }}"
        accounts: "{{ keyguard_accounts }}"
        run: "{{ keyguard_run }}"
      register: report

    - name: Keep the report task's result
      ansible.builtin.copy:
        content: "{{ report | to_json }}"
        dest: "{{ keyguard_result_file }}"
        mode: "0600"
      check_mode: false
"""


def environment(moto_url, workdir):
    """Return the environment for ansible-playbook against moto, with this checkout as keyguard.aws."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(CREDENTIALS, AWS_ENDPOINT_URL=moto_url, AWS_CONFIG_FILE=os.devnull, AWS_DEFAULT_REGION="us-east-1")
    env.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    env.update(ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_LOCALHOST_WARNING="false")
    env.update(ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_HOME=os.path.join(workdir, "ansible"))
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    return env


def seed(moto, account_names=("prod-payments", "staging", "sandbox")):
    """Make the demo organization on moto with FLEET (and EXTRA) in each account; return (org, {name: id})."""
    org = MotoOrganization(moto.url, CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    workloads = org.unit("Workloads")
    parents = {"prod-payments": org.unit("Prod", workloads), "staging": workloads}
    accounts = {name: org.account(name, parents.get(name)) for name in account_names}
    for name, account_id in accounts.items():
        iam = org.member(account_id)
        for user, keys in FLEET + EXTRA.get(name, []):
            iam.create_user(UserName=user)
            if user == "break-glass":
                iam.tag_user(UserName=user, Tags=[{"Key": "keyguard:exempt", "Value": "true"}])
            for age, unused in keys:
                moto.days_ago(age)
                key = iam.create_access_key(UserName=user)["AccessKey"]
                if unused is not None:
                    moto.days_ago(unused)
                    boto3.client(
                        "sts",
                        endpoint_url=moto.url,
                        region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"],
                    ).get_caller_identity()
        moto.days_ago(0)
    return org, accounts


def playbook(text, workdir, env, *args, name="play.yml"):
    """Write and run a playbook with ansible-playbook; return the CompletedProcess."""
    path = Path(workdir) / name
    path.write_text(text)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(path), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def mark_deadlines(org, accounts, deadlines):
    """Tag each named user's one key with a grace deadline so many days from today, in every account, as an earlier
    run of the policy with grace_days would have (negative: the deadline has passed)."""
    today = date.today()
    for account_id in accounts.values():
        iam = org.member(account_id)
        for user, days in deadlines.items():
            (key,) = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
            value = (today + timedelta(days=days)).isoformat()
            iam.tag_user(
                UserName=user, Tags=[{"Key": f"keyguard:deactivate-after:{key['AccessKeyId']}", "Value": value}]
            )


def sweep(moto_url, org, workdir, report_dir, sts_url=None, **extra_vars):
    """Run playbooks/org_cis_sweep.yml on the organization's member accounts (keyguard.aws.accounts inventory, one
    host per account named after it), the report written into report_dir; return the CompletedProcess.

    sts_url: where STS is reached instead of moto (a proxy that denies a role, say); Organizations goes there too.
    """
    source = Path(workdir) / "org.accounts.yml"
    source.write_text(f"plugin: keyguard.aws.accounts\nexclude_accounts: ['{org.management_id}']\nhostname: name\n")
    env = environment(moto_url, str(workdir))
    if sts_url:
        env.update(AWS_ENDPOINT_URL_STS=sts_url, AWS_ENDPOINT_URL_ORGANIZATIONS=sts_url)
    env.update(ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    variables = dict(
        keyguard_report_dir=str(report_dir), keyguard_journal_dir=str(Path(workdir) / "journals"), **extra_vars
    )
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(source)]
    command += [str(REPO / "playbooks" / "org_cis_sweep.yml"), "--forks", "4", "-e", json.dumps(variables)]
    return subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=600, check=False)


def write_report(entries, run, report_dir, workdir, env=None, check=False):
    """Write a report from contract-shaped entries with keyguard.aws.sweep_report; return (CompletedProcess, result)."""
    env = env or environment("http://127.0.0.1:9", str(workdir))
    out = Path(workdir) / "write-result.json"
    variables = Path(workdir) / "write-vars.json"
    data = dict(keyguard_accounts=entries, keyguard_run=run, keyguard_report_dir=str(report_dir))
    variables.write_text(json.dumps(dict(data, keyguard_result_file=str(out))))
    args = ["-i", "localhost,", "-c", "local", "-e", f"@{variables}"] + (["--check"] if check else [])
    proc = playbook(WRITE, workdir, env, *args, name="write.yml")
    if proc.returncode != 0:
        raise RuntimeError(f"the report playbook failed:\n{proc.stdout}\n{proc.stderr}")
    return proc, json.loads(out.read_text())


def synthetic_accounts(accounts=100, keys=5000, actions_share=1.0, seed=19):
    """Return contract-shaped entries of `keys` keys over `accounts` accounts, all acted on by default (benchmarks).

    Numbers, names and reasons are as long as real ones; `actions_share` of the keys get an action other than none.
    """
    rng = random.Random(seed)
    today = date(2026, 12, 2)
    entries = []
    per_account = [keys // accounts + (1 if i < keys % accounts else 0) for i in range(accounts)]
    for index, count in enumerate(per_account):
        account_id = f"{100000000000 + index * 7919:012d}"
        rows = []
        for number in range(count):
            age = rng.randint(0, 1500)
            unused = min(age, rng.randint(0, 900))
            acted = rng.random() < actions_share
            action = rng.choice(("deactivated", "deactivated", "warned", "pending", "exempt")) if acted else "none"
            status = "Inactive" if action == "deactivated" else "Active"
            created = datetime(2026, 12, 2, tzinfo=timezone.utc) - timedelta(days=age)
            rows.append(
                dict(
                    user_name=f"service-user-{index:03d}-{number // 2:04d}",
                    access_key_id=f"AKIA{rng.getrandbits(64):016X}",
                    slot=None,
                    previous_status="Active",
                    status=status,
                    create_date=created.isoformat(),
                    age_days=age,
                    last_used_date=None,
                    days_since_last_use=unused,
                    action=action,
                    reason=f"unused for {unused} days, more than 45 days and 14 days of grace",
                    deadline=(today + timedelta(days=7)).isoformat() if action in ("warned", "pending") else None,
                )
            )
        counts = {a: sum(1 for r in rows if r["action"] == a) for a in ("deactivated", "warned", "pending", "exempt")}
        counts.update(seen=len(rows), stale=len(rows), cleared=0, none=0, failed=0)
        result = dict(account_id=account_id, caller_arn=None, policy=dict(POLICY), source="credential_report")
        result.update(access_keys=rows, counts=counts, skipped_keys=[])
        entries.append(dict(account_id=account_id, account_name=f"workload-{index:03d}", error=None, result=result))
    return entries


def chromium_binary():
    """Return the path of Debian's chromium, or raise naming the script that installs it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("chromium is not installed: run tools/ensure_chromium.sh (it installs Debian's package)")
    return found


def chromium(page, *args, timeout=120):
    """Run headless chromium on a local page with a throwaway profile; return the CompletedProcess."""
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        command += [f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions", *args]
        command.append(Path(page).resolve().as_uri())
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def dump_dom(page):
    """Return the DOM chromium builds from the page, serialised."""
    return chromium(page, "--dump-dom").stdout


def screenshot(page, png, width=1200, height=1800):
    """Save a PNG of the page as chromium renders it at this window size."""
    chromium(page, f"--screenshot={png}", f"--window-size={width},{height}")
    if not Path(png).is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")


def main():
    """Seed, sweep with the shipped playbook (one account denied), write the report into DIR, and screenshot it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--height", type=int, default=1800)
    options = parser.parse_args()
    options.dir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from fault_proxy import FaultProxy  # the tests' proxy: it denies one account's role, as a missing trust would

    with tempfile.TemporaryDirectory() as workdir, MotoServer(workdir) as moto:
        org, accounts = seed(moto)
        mark_deadlines(org, accounts, DEADLINES)
        denied = org.account("closed-legacy")
        proxy = FaultProxy(moto.url)
        proxy.fail(
            "AssumeRole",
            100,
            403,
            "AccessDenied",
            DENIED.format(role=org.role_arn(denied)),
            match={"RoleArn": org.role_arn(denied)},
        )
        try:
            proc = sweep(moto.url, org, workdir, options.dir.resolve(), sts_url=proxy.url, **SWEEP_VARS)
        finally:
            proxy.close()
    if proc.returncode not in (0, 2):  # 2: the denied account failed, as it should
        raise RuntimeError(f"the sweep playbook failed:\n{proc.stdout}\n{proc.stderr}")
    html = options.dir.resolve() / "keyguard-report.html"
    print(f"report: {html}\ncsv:    {html.with_name('keyguard-keys.csv')}")
    if options.screenshot:
        screenshot(html, options.screenshot, height=options.height)
        print(f"screenshot: {options.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
