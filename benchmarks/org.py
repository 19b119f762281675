"""Benchmark the organization sweep: 20 accounts x 50 users (1% of keys stale) behind 50 ms of latency, forks 1 vs 10.

Run with `make bench-org` (`make bench` runs it too). Every request of the run (Organizations, STS, IAM) goes
through tools/latency_proxy.py, which adds 50 ms per request as a controller far from us-east-1 would see, and
counts the requests. Each measured run starts from the same state (the 10 stale keys Active again) and must end
with exactly those keys Inactive, read back from each account. Prints a table and saves
benchmarks/results/org.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tools"))
from latency_proxy import LatencyProxy  # noqa: E402
from moto_org import MotoOrganization  # noqa: E402
from moto_server import MotoServer  # noqa: E402

BIN = Path(sys.executable).parent
ADMIN = {"AWS_ACCESS_KEY_ID": "AKIABENCHORGADMIN000", "AWS_SECRET_ACCESS_KEY": "bench-secret"}


def seed(moto, accounts, users, stale_every):
    """Make the organization and its keys directly at moto; return (org, {account_id: [(user, stale key)]})."""
    org = MotoOrganization(moto.url, ADMIN["AWS_ACCESS_KEY_ID"], ADMIN["AWS_SECRET_ACCESS_KEY"])
    stale, number = {}, 0
    for index in range(accounts):
        account_id = org.account(f"member-{index:02d}")
        iam = org.member(account_id)
        stale[account_id] = []
        for user_index in range(users):
            user = f"user-{user_index:03d}"
            old = number % stale_every == 0
            number += 1
            moto.days_ago(100 if old else 0)  # an old key nobody ever used, or a fresh one
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
            if old:
                stale[account_id].append((user, key))
        moto.days_ago(0)
    return org, stale


def reactivate(org, stale):
    """Set every stale key Active again, so each measured run has the same work to do."""
    for account_id, keys in stale.items():
        if keys:
            iam = org.member(account_id)
            for user, key in keys:
                iam.update_access_key(UserName=user, AccessKeyId=key, Status="Active")


def inactive_keys(org, stale):
    """Return {account_id: set of Inactive key IDs}, read back from each account's IAM."""
    return {
        account_id: {key for key, (_user, status) in org.keys(account_id).items() if status == "Inactive"}
        for account_id in stale
    }


def sweep(env, source, forks):
    """Run the organization sweep once; return its wall time in seconds."""
    command = [str(BIN / "ansible-playbook"), "-i", str(source), str(REPO / "playbooks" / "org_cis_sweep.yml")]
    command += ["--forks", str(forks)]
    # each run's journals (one file per account) go to the benchmark's own directory, not the working directory
    command += ["-e", f"keyguard_journal_dir={Path(env['ANSIBLE_HOME']).parent / 'journals'}"]
    # and so does the sweep report, written once per run (its cost is part of the sweep's wall time)
    command += ["-e", f"keyguard_report_dir={Path(env['ANSIBLE_HOME']).parent / 'reports'}"]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the sweep failed with forks {forks}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return seconds


def environment(workdir, url):
    """Return the environment of the sweep: every AWS service through the proxy, the admin keys as the base."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(ADMIN, AWS_ENDPOINT_URL=url, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(AWS_EC2_METADATA_DISABLED="true", ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"))
    env.update(ANSIBLE_HOME=str(workdir / "ansible"), ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    return env


def run(accounts, users, stale_every, latency, forks_list):
    """Seed, then sweep once per forks value; return the results."""
    with tempfile.TemporaryDirectory() as tmp, MotoServer(Path(tmp)) as moto:
        workdir = Path(tmp)
        org, stale = seed(moto, accounts, users, stale_every)
        source = workdir / "org.accounts.yml"
        source.write_text(f"plugin: keyguard.aws.accounts\nexclude_accounts: ['{org.management_id}']\n")
        expected = {account_id: {key for _user, key in keys} for account_id, keys in stale.items()}
        results = []
        with LatencyProxy(moto.url, latency=latency) as proxy:
            env = environment(workdir, proxy.url)
            for forks in forks_list:
                reactivate(org, stale)
                proxy.reset()
                seconds = sweep(env, source, forks)
                counts = proxy.counts()
                assert inactive_keys(org, stale) == expected, f"forks {forks}: not exactly the stale keys changed"
                calls = {f"{service}:{action or 'json'}": n for (service, action), n in sorted(counts.items())}
                results.append({"forks": forks, "seconds": seconds, "calls": calls, "requests": sum(counts.values())})
        return {
            "accounts": accounts,
            "users_per_account": users,
            "stale_keys": sum(len(keys) for keys in stale.values()),
            "latency_seconds": latency,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "runs": results,
        }


def report(results):
    """Print the table."""
    print(
        f"\n{results['accounts']} accounts x {results['users_per_account']} users, {results['stale_keys']} stale keys, "
        f"{results['latency_seconds'] * 1000:.0f} ms per request\n"
    )
    base = results["runs"][0]["seconds"]
    print("| forks | seconds | speed-up | requests | sts:AssumeRole | organizations | iam |")
    print("|---|---|---|---|---|---|---|")
    for entry in results["runs"]:
        calls = entry["calls"]
        iam = sum(n for name, n in calls.items() if name.startswith("iam:"))
        org = sum(n for name, n in calls.items() if name.startswith("organizations:"))
        print(
            f"| {entry['forks']} | {entry['seconds']:.1f} | {base / entry['seconds']:.1f}x | {entry['requests']} "
            f"| {calls.get('sts:AssumeRole', 0)} | {org} | {iam} |"
        )
    print("\nRequests by service and action, each run:", json.dumps(results["runs"][0]["calls"]))


def main():
    """Run the benchmark, print the table, save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--stale-every", type=int, default=100, help="one key in this many is stale (100: 1%%)")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--forks", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--output", type=Path, default=HERE / "results" / "org.json")
    args = parser.parse_args()
    results = run(args.accounts, args.users, args.stale_every, args.latency, args.forks)
    report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
