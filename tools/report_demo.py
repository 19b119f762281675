"""The sweep report from a real moto organization sweep, and the helpers its tests, benchmark and docs share.

python tools/report_demo.py DIR [--screenshot PNG]
    starts moto, seeds the demo organization (the accounts of `make demo-org`, with more users and keys of every
    age), runs a real ansible-playbook sweep (keyguard.aws.iam_access_key_info in each account, one account
    failing, the report assembled once on localhost by keyguard.aws.sweep_report), then turns the info results
    into the policy module's result shape with plausible actions (simulate_policy) and writes that report into
    DIR with keyguard.aws.sweep_report too. --screenshot saves a PNG of it taken in headless Chromium.

simulate_policy() stands in for keyguard.aws.iam_access_key_policy until that module lands; the report reads only
the result shape fixed in the contract, so swapping in the real module changes the actions, not the report.
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
SWEEP = """\
- name: Sweep each account (report only), then write the report once
  hosts: all
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/keyguard.aws.aws:
      assume_role_arn: "{{ account_role_arn }}"
      assume_role_session_name: keyguard-org-sweep
      endpoint_url: "{{ keyguard_endpoint_url | default(omit) }}"
  tasks:
    - name: Until the sweep says otherwise, this account did not finish
      ansible.builtin.set_fact:
        keyguard_account:
          account_id: "{{ account_id }}"
          account_name: "{{ account_name | default(none) }}"
          error: the sweep did not finish in this account
          result: null

    - name: Sweep this account
      block:
        - name: Read every key with its age and last use
          keyguard.aws.iam_access_key_info:
            all_users: true
          register: keys
      rescue:
        - name: Record why this account failed
          ansible.builtin.set_fact:
            sweep_error: "{{ ansible_failed_result.msg | default('failed') }}"
      always:
        - name: Keep this account's outcome for the report
          ansible.builtin.set_fact:
            keyguard_account:
              account_id: "{{ account_id }}"
              account_name: "{{ account_name | default(none) }}"
              error: "{{ sweep_error | default(none) }}"
              result: "{{ keys if sweep_error is not defined else none }}"

    - name: Write the sweep report once, on the controller, after every account finished (failed ones too)
      keyguard.aws.sweep_report:
        dest: "{{ keyguard_report_dir }}"
        accounts: "{{ ansible_play_hosts_all | map('extract', hostvars, 'keyguard_account') | list }}"
        run:
          started: "{{ keyguard_started }}"
          finished: "{{ now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ') }}"
          scope: demo organization on moto
          policy: {unused_for_days: 45}
          check_mode: "{{ ansible_check_mode }}"
      register: report
      run_once: true
      delegate_to: localhost

    - name: Keep every account's outcome for the policy simulation
      ansible.builtin.copy:
        content: "{{ ansible_play_hosts_all | map('extract', hostvars, 'keyguard_account') | list | to_json }}"
        dest: "{{ keyguard_report_dir }}/accounts.json"
        mode: "0600"
      run_once: true
      delegate_to: localhost

    - name: Keep the report task's result
      ansible.builtin.copy:
        content: "{{ report | to_json }}"
        dest: "{{ keyguard_report_dir }}/report-result.json"
        mode: "0600"
      run_once: true
      delegate_to: localhost
"""
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
                iam.tag_user(UserName=user, Tags=[{"Key": "keyguard:exempt", "Value": "emergency access"}])
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


def inventory(org, accounts, failing=None, dead_url=None):
    """Return a YAML inventory with one host per account; `failing` names one whose IAM endpoint does not answer."""
    hosts = {}
    for name, account_id in accounts.items():
        hosts[name] = dict(account_id=account_id, account_name=name, account_role_arn=org.role_arn(account_id))
        if name == failing:
            hosts[name]["keyguard_endpoint_url"] = dead_url
    return json.dumps({"all": {"hosts": hosts, "vars": {"ansible_connection": "local"}}})


def playbook(text, workdir, env, *args, name="play.yml"):
    """Write and run a playbook with ansible-playbook; return the CompletedProcess."""
    path = Path(workdir) / name
    path.write_text(text)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(path), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def sweep(moto_url, org, accounts, workdir, report_dir, failing="closed-legacy", dead_url="http://127.0.0.1:9"):
    """Run the report-only sweep playbook over the accounts; return (CompletedProcess, accounts entries, result)."""
    source = Path(workdir) / "accounts.yml"
    source.write_text(inventory(org, accounts, failing, dead_url))
    env = environment(moto_url, str(workdir))
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = json.dumps({"keyguard_report_dir": str(report_dir), "keyguard_started": started})
    proc = playbook(SWEEP, workdir, env, "-i", str(source), "-e", extra, "--forks", "4", name="sweep.yml")
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep playbook failed:\n{proc.stdout}\n{proc.stderr}")
    entries = json.loads((Path(report_dir) / "accounts.json").read_text())
    result = json.loads((Path(report_dir) / "report-result.json").read_text())
    return proc, entries, result


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


def simulate_policy(entry, today, policy=POLICY):
    """Return the account entry with its info result turned into the policy module's result, with plausible actions.

    Active keys unused for more than unused_for_days are stale: the first week of grace they are warned, the second
    pending, after that deactivated; break-glass users are exempt. A stand-in for iam_access_key_policy.
    """
    if entry["result"] is None:
        return entry
    info = entry["result"]
    limit, grace = policy["unused_for_days"], policy["grace_days"]
    keys, counts = [], dict.fromkeys(("seen", "stale", "deactivated", "warned", "pending", "exempt", "cleared"), 0)
    counts.update(none=0, failed=0)
    for key in info["access_keys"]:
        unused = key["days_since_last_use"]
        stale = key["status"] == "Active" and unused is not None and unused > limit
        action, status, deadline = "none", key["status"], None
        if key["user_name"] in policy["exempt_users"]:
            action, reason = ("exempt", f"user {key['user_name']} is in exempt_users")
        elif not stale:
            reason = "inactive already" if key["status"] != "Active" else f"used {unused} days ago, within {limit} days"
        else:
            overdue = unused - limit
            due = today + timedelta(days=max(grace - overdue, 0))
            if overdue > grace:
                action, status = "deactivated", "Inactive"
                reason = f"unused for {unused} days, more than {limit} days and {grace} days of grace"
            elif overdue <= grace // 2:
                action, deadline = "warned", due.isoformat()
                reason = f"unused for {unused} days; the owner is warned and the key goes off on {due.isoformat()}"
            else:
                action, deadline = "pending", due.isoformat()
                reason = f"unused for {unused} days; in its grace period until {due.isoformat()}"
        counts["seen"] += 1
        counts["stale"] += stale
        counts[action] += 1
        keys.append(
            dict(
                key,
                slot=None,
                previous_status=key["status"],
                status=status,
                action=action,
                reason=reason,
                deadline=deadline,
            )
        )
    caller = f"arn:aws:sts::{entry['account_id']}:assumed-role/OrganizationAccountAccessRole/keyguard-org-sweep"
    result = dict(
        changed=counts["deactivated"] > 0,
        account_id=entry["account_id"],
        caller_arn=caller,
        policy=dict(policy),
        source=info.get("source"),
        credential_report_generated=info.get("credential_report_generated"),
        access_keys=keys,
        counts=counts,
        journal=[],
        notices=[],
        skipped_keys=list(info.get("skipped_keys") or info.get("skipped") or []),
    )
    return dict(entry, result=result)


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
    """Seed, sweep, simulate the policy, write the report into DIR, and optionally screenshot it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--height", type=int, default=1800)
    options = parser.parse_args()
    options.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir, MotoServer(workdir) as moto:
        org, accounts = seed(moto)
        accounts["closed-legacy"] = org.account("closed-legacy")
        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        _proc, entries, _result = sweep(moto.url, org, accounts, workdir, Path(workdir) / "report-only")
        run = dict(
            started=started,
            finished=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            caller_arn="arn:aws:iam::000000000000:user/keyguard-sweeper",
            scope="organization root, 4 member accounts (keyguard.aws.accounts inventory)",
            policy=POLICY,
        )
        entries = [simulate_policy(entry, date.today()) for entry in entries]
        _proc, result = write_report(entries, run, options.dir, workdir)
    # The report's input, to re-render it without a sweep: keyguard.aws.sweep_report's accounts and run.
    (options.dir / "report-input.json").write_text(json.dumps(dict(accounts=entries, run=run), indent=1))
    print(f"report: {result['html_path']}\ncsv:    {result['csv_path']}\nheadline: {json.dumps(result['headline'])}")
    if options.screenshot:
        screenshot(result["html_path"], options.screenshot, height=options.height)
        print(f"screenshot: {options.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
