"""Run the collection's playbooks against a local moto server standing in for AWS IAM: no credentials needed.

python tools/demo.py          the main job: preview, deactivate, re-run, shut off a leaked key (`make demo`)
python tools/demo.py cis      the CIS 45-days-unused sweep: check-mode report, apply, re-run (`make demo-cis`)
python tools/demo.py policy   the key policy: warn, pending, deadline passed, deactivate, then undo (`make demo-policy`)
python tools/demo.py org [DIR]  an AWS Organization: the accounts inventory, then the sweep of every account
                              (`make demo-org`); each run's sweep report goes to DIR/1-preview, 2-apply and 3-rerun
                              (DIR: the checkout's keyguard-reports/demo-org, gitignored), and the demo ends by
                              printing the path of the report of the run that deactivated the keys
python tools/demo.py serve    keep a seeded server running and print the variables to use it (`make demo-server`)
python tools/demo.py eda      AWS reports leaked keys through SQS; ansible-rulebook shuts them off (`make demo-eda`)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import eda_rulebook
from moto_org import MotoOrganization, OrganizationsToday
from moto_server import MotoServer

REPO = Path(__file__).resolve().parents[1]
# Made-up credentials: moto accepts any, and they keep the demo from ever reaching real AWS.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,. ]\d+ ")
DEMO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIADEMOADMIN0000000", "AWS_SECRET_ACCESS_KEY": "demo-secret"}


def demo_environment(moto, workdir):
    """Return the environment that points AWS clients and Ansible at the demo server and this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(DEMO_CREDENTIALS, AWS_ENDPOINT_URL_IAM=moto.url, AWS_ENDPOINT_URL_STS=moto.url)
    env.update(AWS_CONFIG_FILE=os.devnull)
    env.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    env.update(ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_LOCALHOST_WARNING="false")
    env.update(ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_HOME=os.path.join(workdir, "ansible"))
    return env


def iam_client(moto, key=DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret=DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]):
    """Return a boto3 IAM client for the demo server."""
    return boto3.client(
        "iam", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
    )


def seed_rotation(iam):
    """Create deploy-bot with an old and a new key, and intern with a leaked key; return their ids."""
    for user in ("deploy-bot", "intern"):
        iam.create_user(UserName=user)
    old = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
    new = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
    leaked = iam.create_access_key(UserName="intern")["AccessKey"]["AccessKeyId"]
    return old, new, leaked


def seed_fleet(moto, iam):
    """Create users whose keys were made, and last used, days ago; return {user: (age, days unused)}."""
    fleet = {"ci-runner": (200, 1), "backup": (120, 60), "reporting": (80, None), "old-intern": (400, 300)}
    for user, (age, unused) in fleet.items():
        moto.days_ago(age)
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        if unused is not None:
            moto.days_ago(unused)
            iam_client(moto, key["AccessKeyId"], key["SecretAccessKey"]).get_user()
    moto.days_ago(0)
    return fleet


def playbook(name, env, *args):
    """Run one of playbooks/ with ansible-playbook in the demo's directory (its journals go there); return its exit code."""
    print(f"\n$ ansible-playbook playbooks/{name} {' '.join(args)}".rstrip(), flush=True)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "playbooks" / name), *args]
    return subprocess.call(command, env=env, cwd=Path(env["ANSIBLE_HOME"]).parent)


def print_keys(iam):
    """Print every key as the server holds it."""
    print("\nKeys as the server now holds them:")
    for user in sorted(u["UserName"] for u in iam.list_users()["Users"]):
        for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            print(f"  {user:<11} {key['AccessKeyId']}  {key['Status']}")


def main_job(moto, env):
    """Preview, deactivate and re-run on deploy-bot's old key; shut off intern's leaked key."""
    iam = iam_client(moto)
    old, new, leaked = seed_rotation(iam)
    print(f"moto IAM at {moto.url}: deploy-bot has old key {old} and new key {new}; intern has {leaked}", flush=True)
    rc = playbook("demo.yml", env, "-e", f"old_key_id={old}", "-e", f"leaked_key_id={leaked}")
    print_keys(iam)
    return rc


TEMPORARY = (
    "\n(The journals and reports named above were in the demo's temporary directory, which goes when the demo ends;"
    "\n `make demo-org` keeps its reports under keyguard-reports/demo-org/, and playbooks you run yourself against"
    "\n `make demo-server` keep theirs in ./keyguard-journals/ and ./keyguard-reports/.)"
)


def cis_sweep(moto, env):
    """Run the CIS 45-days-unused sweep three times: check-mode report, apply, re-run."""
    iam = iam_client(moto)
    fleet = seed_fleet(moto, iam)
    print(f"moto IAM at {moto.url}, keys made and last used days ago:", flush=True)
    for user, (age, unused) in fleet.items():
        print(
            f"  {user:<11} created {age} days ago, {'never used' if unused is None else f'last used {unused} days ago'}"
        )
    rcs = [playbook("cis_unused_keys.yml", env, "--check", "--diff")]
    rcs += [playbook("cis_unused_keys.yml", env), playbook("cis_unused_keys.yml", env)]
    print(TEMPORARY)
    print_keys(iam)
    return max(rcs)


def print_marks(iam):
    """Print every keyguard tag as the server holds it."""
    print("\nkeyguard tags on the users:")
    for user in sorted(u["UserName"] for u in iam.list_users()["Users"]):
        for tag in iam.list_user_tags(UserName=user)["Tags"]:
            if tag["Key"].startswith("keyguard:"):
                print(f"  {user:<11} {tag['Key']} = {tag['Value']}")


def key_policy(moto, env):
    """Warn, re-run (pending), move the deadline into the past, act, then undo the last run from its saved journal."""
    iam = iam_client(moto)
    seed_fleet(moto, iam)
    journals = Path(env["ANSIBLE_HOME"]).parent / "keyguard-journals"
    print(f"moto IAM at {moto.url}: backup, reporting and old-intern have keys unused for 45 days or more.", flush=True)
    print("\n=== 1. First run with a 7-day grace period: the owners are warned, nothing is deactivated", flush=True)
    rcs = [playbook("cis_unused_keys.yml", env, "-e", "grace_days=7")]
    print_marks(iam)
    print("\n=== 2. The next day's run: the keys are pending until their deadline", flush=True)
    rcs.append(playbook("cis_unused_keys.yml", env, "-e", "grace_days=7"))
    print("\n=== 3. A week passes: the demo rewrites each deadline tag to yesterday", flush=True)
    yesterday = (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()
    for user in sorted(u["UserName"] for u in iam.list_users()["Users"]):
        marks = [t for t in iam.list_user_tags(UserName=user)["Tags"] if t["Key"].startswith("keyguard:deactivate")]
        if marks:
            iam.tag_user(UserName=user, Tags=[{"Key": t["Key"], "Value": yesterday} for t in marks])
    print_marks(iam)
    print("\n=== 4. The run after the deadline deactivates the keys and removes their marks", flush=True)
    before = set(journals.iterdir()) if journals.exists() else set()
    rcs.append(playbook("cis_unused_keys.yml", env, "-e", "grace_days=7"))
    print_keys(iam)
    (journal,) = set(journals.iterdir()) - before
    print("\n=== 5. That sweep broke something: put it back from its journal", flush=True)
    rcs.append(playbook("undo_sweep.yml", env, "-e", f"journal_file={journal}"))
    print(
        "\nThe undo put back exactly what the sweep changed: the keys below are Active and their marks carry the"
        "\ndeadline that had passed, so the next run deactivates them again if they are still unused. To keep a key,"
        "\nexempt its user (tag keyguard:exempt) or write a later date into its mark before that run."
    )
    print(TEMPORARY)
    print_keys(iam)
    print_marks(iam)
    return max(rcs)


def org_sweep(moto, env):
    """Make an organization of four member accounts (one closed), list it, then sweep it: preview, apply, re-run."""
    org = MotoOrganization(moto.url, DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"], DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    workloads = org.unit("Workloads")
    accounts = {
        "prod-payments": org.account("prod-payments", org.unit("Prod", workloads)),
        "staging": org.account("staging", workloads),
        "sandbox": org.account("sandbox"),
        "closed-legacy": org.account("closed-legacy"),
    }
    for index, account_id in enumerate(accounts.values()):
        iam = org.member(account_id)
        for user, days in (("ci-runner", 0), ("old-report-job", 90 + 30 * index)):
            moto.days_ago(days)  # keys made this many days ago and never used
            iam.create_user(UserName=user)
            iam.create_access_key(UserName=user)
    moto.days_ago(0)
    org.close(accounts["closed-legacy"])
    source = Path(env["ANSIBLE_HOME"]).parent / "org.accounts.yml"
    source.write_text(
        f"plugin: keyguard.aws.accounts\nexclude_accounts: ['{org.management_id}']\n"
        f"organizational_units: ['{org.root_id}']\nhostname: name\n"
    )
    print(f"moto at {moto.url}: an organization with {', '.join(accounts)} (closed); each has a fresh key and a")
    print("key unused for 90 days or more. The inventory source:\n" + source.read_text(), flush=True)
    # Organizations, STS and IAM all at moto; Organizations through a proxy that answers as AWS does today,
    # without the Account.Status that AWS retired on 2026-09-09 and moto still sends.
    today = OrganizationsToday(moto.url)
    env = dict(env, AWS_ENDPOINT_URL=moto.url, AWS_ENDPOINT_URL_ORGANIZATIONS=today.url)
    print("$ ansible-inventory -i org.accounts.yml --graph", flush=True)
    subprocess.call([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(source), "--graph"], env=env)
    sweep = ("-i", str(source), "--forks", "3")
    # The reports outlive the demo's temporary directory: they go where the person running it can open them.
    reports = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else REPO / "keyguard-reports" / "demo-org"
    runs = {"1-preview": ("--check",), "2-apply": (), "3-rerun": ()}
    rcs = [
        playbook("org_cis_sweep.yml", env, *sweep, *check, "-e", f"keyguard_report_dir={reports / run}")
        for run, check in runs.items()
    ]
    print("\nKeys as each account now holds them:")
    for name, account_id in accounts.items():
        if name != "closed-legacy":
            for key, (user, status) in sorted(org.keys(account_id).items(), key=lambda item: item[1]):
                print(f"  {name:<14} {user:<15} {key}  {status}")
    today.close()
    print("\nSweep reports (a page with charts, and keyguard-keys.csv beside it):")
    for run in runs:
        print(f"  {run:<10} {reports / run / 'keyguard-report.html'}")
    print(f"\nThe report of the sweep that deactivated the keys: {reports / '2-apply' / 'keyguard-report.html'}")
    return max(rcs)


def serve(moto, env):
    """Seed both scenarios and keep the server up until interrupted."""
    iam = iam_client(moto)
    old, new, leaked = seed_rotation(iam)
    seed_fleet(moto, iam)
    print("A seeded moto server is running. In another shell, from this checkout:\n")
    names = ("AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    for name in (*names, "ANSIBLE_COLLECTIONS_PATH"):
        print(f"  export {name}={env[name]}")
    print(f"  export PATH={Path(sys.executable).parent}:$PATH")
    print("\n  ansible-playbook playbooks/cis_unused_keys.yml --check --diff")
    print(f"  ansible-playbook playbooks/contain_leaked_key.yml -e leaked_key_id={leaked}")
    print(f"  ansible-playbook playbooks/finish_rotation.yml -e user=deploy-bot -e new_key_id={new}")
    print("    (it refuses: nothing has used the new key on this server yet; add -e force=true to go ahead)")
    print(f"\n(deploy-bot's old key is {old}.) Press Ctrl-C to stop the server.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_signal: sys.exit(0))  # a plain kill stops moto too, on the way out
    try:
        while moto.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    return 0


def readable(output):
    """Return ansible-rulebook's output without its log lines, except the source's own, shortened."""
    lines = []
    for line in output.strip().splitlines():
        if " - <run_path> - " in line:
            lines.append("source: " + line.split(" - ", 3)[-1])
        elif not LOG_LINE.match(line) and line.strip() and not line.startswith("*"):
            lines.append(line)
    return "\n".join(lines)


def eda_containment(moto, env):
    """Run the rulebook; send AWS Health and GuardDuty events to SQS and show each key shut off (or left to a person)."""
    iam = iam_client(moto)
    workdir = Path(env["ANSIBLE_HOME"]).parent
    credentials = {"aws_access_key_id": DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"]}
    credentials["aws_secret_access_key"] = DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    keys = {}
    for user in ("intern", "ci-runner"):
        iam.create_user(UserName=user)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    sqs, queue_url, _dlq = eda_rulebook.make_queue(moto.url, credentials)
    samples = REPO / "tests" / "unit" / "extensions" / "eda" / "samples"
    health = json.loads((samples / "health_credentials_exposed.json").read_text())
    health["detail"]["affectedEntities"] = [{"entityValue": keys["intern"]}]
    finding = json.loads((samples / "guardduty_malicious_ip_caller.json").read_text())
    finding["detail"]["resource"]["accessKeyDetails"].update(accessKeyId=keys["ci-runner"], userName="ci-runner")
    role = json.loads((samples / "guardduty_instance_credential_exfiltration.json").read_text())
    steps = [
        (f"AWS Health: intern's key {keys['intern']} is on GitHub", health, ("intern", keys["intern"])),
        ("The same event again (SQS delivers at least once): nothing to change", health, None),
        (f"GuardDuty: ci-runner's key {keys['ci-runner']} used from a malicious IP", finding, ("ci-runner", None)),
        ("GuardDuty: an instance role's session key used outside AWS: not for a playbook", role, None),
    ]
    print(f"moto SQS and IAM at {moto.url}; starting ansible-rulebook -r {eda_rulebook.RULEBOOK}", flush=True)
    run = eda_rulebook.RulebookRun(workdir, moto.url, credentials, {"queue_url": queue_url})
    shown = 0
    try:
        run.wait_for("Polling")
        shown = len(run.text())
        for number, (title, event, watch) in enumerate(steps, start=1):
            print(f"\n=== {number}. {title}", flush=True)
            sent = time.monotonic()
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))
            marker = "NOT CONTAINED" if event is role else "PLAY RECAP"
            expected = run.text().count(marker) + 1
            eda_rulebook.wait_until(lambda m=marker, n=expected: run.text().count(m) >= n, what=title)
            if watch:
                user, key_id = watch
                key_id = key_id or keys[user]
                status = iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"]
                elapsed = time.monotonic() - sent
                print(f"[{key_id} is {status} in IAM; the playbook ended {elapsed:.1f} s after the event was sent]")
            text = run.text()
            print(readable(text[shown:]), flush=True)
            shown = len(text)
    finally:
        run.stop()
    print_keys(iam)
    return (
        0
        if all(k["Status"] == "Inactive" for u in keys for k in iam.list_access_keys(UserName=u)["AccessKeyMetadata"])
        else 1
    )


def main():
    """Start moto, run the chosen scenario, stop moto."""
    scenarios = {"main": main_job, "cis": cis_sweep, "policy": key_policy, "org": org_sweep, "serve": serve}
    scenario = dict(scenarios, eda=eda_containment)[sys.argv[1] if len(sys.argv) > 1 else "main"]
    with tempfile.TemporaryDirectory() as workdir, MotoServer(workdir) as moto:
        return scenario(moto, demo_environment(moto, workdir))


if __name__ == "__main__":
    sys.exit(main())
