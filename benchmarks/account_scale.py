"""Account-scale benchmark: sweeps of 1,000 and 5,000 users at real IAM latency, in three modes.

moto runs on 127.0.0.1 behind tools/latency_proxy.py, which adds a fixed latency (default 50 ms) to every request,
as IAM's one endpoint in us-east-1 does for a controller elsewhere, and counts the requests. For each account size:

- CIS sweep: iam_access_key_info (all_users, status Active, unused_for_days 45), then iam_access_key_status
  deactivating what it found;
- full inventory: iam_access_key_info (all_users) with last use;
- bulk deactivation of 1,000 keys (one per user) with iam_access_key_status;

each in three modes: the API path with concurrency 1 (the behaviour before the account-scale work), the API path
with the default concurrency, and the credential report (bulk deactivation has no report mode). Each row gives the
IAM calls the proxy counted, the wall time of the tasks, the sequential floor (calls x latency), and the peak RSS
of the module process. Then the single-key task at the same latency, keyguard against amazon.aws.iam_access_key.

Then, at the sizes of --policy-users (default 5,000), iam_access_key_policy (unused_for_days 45, credential report,
concurrency 8) three times in a row: the first run with grace_days 14 (it warns the 1% stale: one TagUser each),
the second (every stale key pending: no write), and one with grace_days 0 (it deactivates them and removes the
marks). `--only-policy` runs just that part.

Run with `make bench-scale` (or as part of `make bench`). `--quick` leaves out the API path with concurrency 1 above
1,000 users (about 25 minutes at 5,000 users); those rows then say "not run".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(HERE))
from latency_proxy import LatencyProxy  # noqa: E402
from run import BIN, Bench  # noqa: E402

ERROR_BODY = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    "<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)

STALE_SHARE = 0.01
DEFAULT_CONCURRENCY = 8
MODES = (
    ("API, concurrency 1", dict(source="api", concurrency=1)),
    (f"API, concurrency {DEFAULT_CONCURRENCY}", dict(source="api", concurrency=DEFAULT_CONCURRENCY)),
    ("credential report", dict(source="credential_report", concurrency=DEFAULT_CONCURRENCY)),
)
TASKS = ("CIS sweep", "full inventory", "bulk deactivation of 1,000 keys")

# Runs the module under a child interpreter and records the child's peak RSS: ansible-core runs the module
# in the process it starts, so the child's peak is the module's.
RSS_WRAPPER = r"""
import json, os, resource, subprocess, sys
status = subprocess.call([sys.executable, *sys.argv[1:]])
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
module = next((a.rsplit("AnsiballZ_", 1)[-1][:-3] for a in sys.argv[1:] if "AnsiballZ_" in a), sys.argv[1:])
with open(os.environ["RSS_FILE"], "a", encoding="utf-8") as out:
    out.write(json.dumps({"module": module, "peak_mib": peak_kib / 1024}) + "\n")
sys.exit(status)
"""


class ScaleBench:
    """One moto server with a latency proxy before it, and playbook runs through the proxy."""

    def __init__(self, workdir, latency):
        self.bench = Bench(workdir)
        self.workdir = workdir
        self.latency = latency
        self.proxy = LatencyProxy(self.bench.moto.url, latency=latency)
        wrapper = workdir / "rss_python.py"
        wrapper.write_text(RSS_WRAPPER)
        interpreter = workdir / "python-rss"
        interpreter.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{wrapper}" "$@"\n')
        interpreter.chmod(0o755)
        self.rss_file = workdir / "rss.jsonl"
        self.interpreter = interpreter
        self.env = dict(
            self.bench.env,
            AWS_ENDPOINT_URL_IAM=self.proxy.url,
            AWS_ENDPOINT_URL_STS=self.proxy.url,  # the policy's one GetCallerIdentity
            ANSIBLE_PYTHON_INTERPRETER=str(interpreter),
            RSS_FILE=str(self.rss_file),
        )
        self.runs = 0
        self.users = 0
        self.first_keys = []  # (user, key id) of each user's first key, in user order
        self.stale = []  # (user, key id) of the stale keys

    def close(self):
        """Stop the proxy and moto."""
        self.proxy.close()
        self.bench.moto.close()

    def grow(self, users):
        """Add users until there are `users`: 1-2 keys each, 1% with a key made 100 days ago and never used."""
        iam = self.bench.iam
        moto = self.bench.moto
        new = range(self.users, users)
        stale = [i for i in new if i % round(1 / STALE_SHARE) == 0]
        names = {i: f"user{i:05d}" for i in new}
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: iam.create_user(UserName=names[i]), new))
            moto.days_ago(100)
            stale_keys = list(pool.map(lambda i: iam.create_access_key(UserName=names[i]), stale))
            moto.days_ago(0)
            fresh = [i for i in new if i not in set(stale)]
            fresh_keys = list(pool.map(lambda i: iam.create_access_key(UserName=names[i]), fresh))
            # Second keys a day apart, so no user's two keys share a second (the report's precision).
            moto.days_ago(1)
            list(pool.map(lambda i: iam.create_access_key(UserName=names[i]), [i for i in new if i % 2 == 1]))
            moto.days_ago(0)
        first = {i: r["AccessKey"]["AccessKeyId"] for i, r in zip(stale + fresh, stale_keys + fresh_keys)}
        self.first_keys += [(names[i], first[i]) for i in new]
        self.stale += [(names[i], first[i]) for i in stale]
        self.users = users

    def set_status(self, keys, status):
        """Set keys' status straight on moto, concurrently, between measured runs."""
        iam = self.bench.iam
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: iam.update_access_key(UserName=k[0], AccessKeyId=k[1], Status=status), keys))

    def play(self, tasks):
        """Run a playbook of task dicts through the proxy; return (timings, IAM calls, peak RSS MiB per module run)."""
        self.runs += 1
        timings = self.workdir / f"scale-timings-{self.runs}.jsonl"
        path = self.workdir / f"scale-play-{self.runs}.yml"
        path.write_text(json.dumps([{"name": "scale", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        self.rss_file.unlink(missing_ok=True)
        self.proxy.reset()
        env = dict(self.env, TASK_TIMER_FILE=str(timings))
        # The implicit localhost runs modules with the controller's Python unless told otherwise.
        command = [str(BIN / "ansible-playbook"), str(path), "-e", f"ansible_python_interpreter={self.interpreter}"]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark playbook failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        records = [json.loads(line) for line in timings.read_text().splitlines()]
        rss = [json.loads(line)["peak_mib"] for line in self.rss_file.read_text().splitlines()]
        return records, self.proxy.counts(), rss


def info_task(mode, register="found", **options):
    """Return an iam_access_key_info task over every user."""
    return {
        "name": "info",
        "keyguard.aws.iam_access_key_info": dict(all_users=True, **mode, **options),
        "register": register,
    }


def status_task(keys_expression, mode):
    """Return a bulk iam_access_key_status task deactivating the keys the expression gives."""
    return {
        "name": "bulk",
        "keyguard.aws.iam_access_key_status": dict(
            access_keys=keys_expression, status="Inactive", concurrency=mode["concurrency"]
        ),
    }


def check_count(tasks, name, expected):
    """Add a task that fails the run unless the registered list has the expected length."""
    tasks.append(
        {"name": f"check {name}", "ansible.builtin.assert": {"that": [f"{name} | length == {expected}"], "quiet": True}}
    )


def measure(scale, task, mode):
    """Run one task in one mode; return its row: IAM calls by action, wall seconds, floor, peak RSS."""
    if task == "CIS sweep":
        scale.set_status(scale.stale, "Active")
        tasks = [info_task(mode, status="Active", unused_for_days=45), status_task("{{ found.access_keys }}", mode)]
        check_count(tasks, "found.access_keys", len(scale.stale))
    elif task == "full inventory":
        tasks = [info_task(mode)]
        check_count(tasks, "found.access_keys", scale.users + scale.users // 2)
    else:
        keys = scale.first_keys[:1000]
        scale.set_status(keys, "Active")
        items = [{"access_key_id": key, "user_name": user} for user, key in keys]
        tasks = [status_task(items, mode)]
    records, calls, rss = scale.play(tasks)
    timed = [record for record in records if not record["task"].startswith("check")]
    assert all(not record["failed"] for record in records), records
    total = sum(calls.values())
    return dict(
        calls=total,
        calls_by_action={action: n for (_service, action), n in sorted(calls.items())},
        wall=sum(record["seconds"] for record in timed),
        floor=total * scale.latency,
        peak_rss_mib=max(rss) if rss else None,
    )


POLICY_RUNS = (
    ("policy: first run, grace 14 (warn)", dict(grace_days=14), "warned"),
    ("policy: second run (pending)", dict(grace_days=14), "pending"),
    ("policy: grace 0 (deactivate)", dict(grace_days=0), "deactivated"),
)


def policy_rows(scale):
    """Run iam_access_key_policy three times (warn, pending, deactivate) over the account; return their rows."""
    scale.set_status(scale.stale, "Active")
    rows = []
    for label, options, action in POLICY_RUNS:
        task = {
            "name": "policy",
            "keyguard.aws.iam_access_key_policy": dict(
                unused_for_days=45, source="credential_report", concurrency=DEFAULT_CONCURRENCY, **options
            ),
            "register": "policy",
        }
        tasks = [task]
        check_count(tasks, f"policy.access_keys | selectattr('action', 'eq', '{action}') | list", len(scale.stale))
        records, calls, rss = scale.play(tasks)
        timed = [record for record in records if not record["task"].startswith("check")]
        assert all(not record["failed"] for record in records), records
        total = sum(calls.values())
        row = dict(
            users=scale.users,
            task=label,
            mode="credential report",
            calls=total,
            calls_by_action={action: n for (_service, action), n in sorted(calls.items())},
            wall=sum(record["seconds"] for record in timed),
            floor=total * scale.latency,
            peak_rss_mib=max(rss) if rss else None,
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def single_key(scale, rounds):
    """Time the single-key task at the proxy's latency, keyguard and amazon.aws interleaved; return samples."""
    user, key = scale.first_keys[-1]
    scale.set_status([(user, key)], "Active")
    ours = {"keyguard.aws.iam_access_key_status": dict(user_name=user, access_key_id=key, status="Active")}
    theirs = {"amazon.aws.iam_access_key": dict(user_name=user, id=key, active=True)}
    tasks = [dict(ours, name="warm-up keyguard"), dict(theirs, name="warm-up amazon.aws")]
    for index in range(rounds):
        pair = [dict(ours, name=f"keyguard {index}"), dict(theirs, name=f"amazon.aws {index}")]
        tasks += pair if index % 2 == 0 else pair[::-1]
    records, calls, _rss = scale.play(tasks)
    samples = {"keyguard": [], "amazon.aws": []}
    for record in records[2:]:
        samples[record["task"].rsplit(" ", 1)[0]].append(record["seconds"])
    return dict(samples=samples, calls={action: n for (_s, action), n in calls.items()}, tasks=rounds + 1)


class TokenBucket:
    """A throttle standing in for IAM's per-account rate limit: `rate` requests a second, bursts of `rate`."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = float(rate)
        self.last = time.monotonic()
        self.throttled = 0
        self.lock = threading.Lock()

    def __call__(self, service, action, params, number):
        """Answer Throttling when the bucket is empty, as the proxy's hook."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            self.throttled += 1
        return 400, ERROR_BODY.format(kind="Sender", code="Throttling", message="Rate exceeded")


def retry_modes(scale, rate):
    """Run the full inventory through the API under a throttle, with botocore's standard and adaptive retries."""
    rows = []
    for label, concurrency, mode in (
        ("standard, concurrency 1", 1, "standard"),
        (f"standard, concurrency {DEFAULT_CONCURRENCY}", DEFAULT_CONCURRENCY, "standard"),
        (f"adaptive, concurrency {DEFAULT_CONCURRENCY}", DEFAULT_CONCURRENCY, "adaptive"),
    ):
        bucket = TokenBucket(rate)
        scale.proxy.hook = bucket
        task = info_task(
            dict(source="api", concurrency=concurrency, aws_config={"retries": {"mode": mode, "total_max_attempts": 5}})
        )
        task["ignore_errors"] = True
        started = time.monotonic()
        records, calls, rss = scale.play([task])
        (record,) = records
        rows.append(
            dict(
                retries=label,
                requests=sum(calls.values()),
                throttled=bucket.throttled,
                wall=record["seconds"],
                failed=record["failed"],
                run_seconds=time.monotonic() - started,
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    scale.proxy.hook = None
    return rows


def report(results):
    """Print the table."""
    print(f"\nAccount scale, {1000 * results['latency']:.0f} ms added to every IAM call (wall: the tasks, seconds)")
    print(f"{'users':>6}  {'task':<34} {'mode':<22} {'IAM calls':>9} {'wall s':>8} {'floor s':>8} {'peak RSS':>9}")
    for row in results["rows"]:
        if row.get("not_run"):
            print(f"{row['users']:>6}  {row['task']:<34} {row['mode']:<22} {'not run (--quick)':>37}")
            continue
        print(
            f"{row['users']:>6}  {row['task']:<34} {row['mode']:<22} {row['calls']:>9} {row['wall']:>8.1f}"
            f" {row['floor']:>8.1f} {row['peak_rss_mib']:>6.0f} MiB"
        )
    for row in results["rows"]:
        if row["task"].startswith("policy") and not row.get("not_run"):
            print(f"  {row['users']} users, {row['task']}: {row['calls_by_action']}")
    if results.get("retry_modes"):
        print(
            f"\nRetry modes: full inventory of {results['retry_users']} users through the API, IAM throttled to "
            f"{results['retry_rate']} requests/s"
        )
        for row in results["retry_modes"]:
            print(
                f"  {row['retries']:<26} requests {row['requests']:>5}  throttled {row['throttled']:>5}  "
                f"wall {row['wall']:>6.1f} s  {'FAILED' if row['failed'] else 'ok'}"
            )
    single = results.get("single_key")
    if single:
        print(f"\nSingle-key task at {1000 * results['latency']:.0f} ms, {len(single['samples']['keyguard'])} of each:")
        for name, values in single["samples"].items():
            print(
                f"  {name:<12} median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"
            )
        print(f"  IAM calls (all tasks): {single['calls']}")


def markdown(results):
    """Return the README's tables for these results."""
    lines = [
        "| users | task | mode | IAM calls | wall, s | floor (calls × latency), s | module peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        if row.get("not_run"):
            lines.append(f"| {row['users']:,} | {row['task']} | {row['mode']} | not run | | | |")
            continue
        lines.append(
            f"| {row['users']:,} | {row['task']} | {row['mode']} | {row['calls']:,} | {row['wall']:.1f} |"
            f" {row['floor']:.1f} | {row['peak_rss_mib']:.0f} MiB |"
        )
    if results.get("retry_modes"):
        lines += ["", "| retries | requests | throttled | wall, s | result |", "|---|---|---|---|---|"]
        for row in results["retry_modes"]:
            outcome = "failed: out of attempts" if row["failed"] else "complete"
            lines.append(
                f"| {row['retries']} | {row['requests']} | {row['throttled']} | {row['wall']:.1f} | {outcome} |"
            )
    return "\n".join(lines)


def plot(results, path):
    """Save wall time against users, one line per task and mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(TASKS), figsize=(13, 4.2), sharey=True)
    for axis, task in zip(axes, TASKS):
        for mode, marker in zip((name for name, _options in MODES), "os^"):
            points = [
                (row["users"], row["wall"])
                for row in results["rows"]
                if row["task"] == task and row["mode"] == mode and not row.get("not_run")
            ]
            if points:
                axis.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=mode)
        axis.set_title(task)
        axis.set_xlabel("IAM users")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("task wall time (s)")
    axes[0].legend()
    figure.suptitle(f"Account-scale sweeps, {1000 * results['latency']:.0f} ms per IAM call (moto behind a proxy)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    """Seed, measure every task in every mode at every size, print, save JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1000,5000", help="account sizes, ascending")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every IAM request")
    parser.add_argument("--quick", action="store_true", help="skip the API path with concurrency 1 above 1,000 users")
    parser.add_argument("--single-key-rounds", type=int, default=10)
    parser.add_argument("--retry-rate", type=int, default=20, help="requests/s IAM allows in the retry-mode part")
    parser.add_argument("--retry-users", type=int, default=300, help="users in the retry-mode part (0: skip it)")
    parser.add_argument("--only-retry-modes", action="store_true", help="run only the retry-mode part")
    parser.add_argument("--policy-users", default="5000", help="account sizes for the policy rows ('' to skip)")
    parser.add_argument("--only-policy", action="store_true", help="run only the policy rows")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--markdown", metavar="JSON", help="print the README tables of a saved run, and stop")
    options = parser.parse_args()
    if options.markdown:
        print(markdown(json.loads(Path(options.markdown).read_text())))
        return
    sizes = [int(size) for size in options.users.split(",")]
    policy_sizes = [int(size) for size in options.policy_users.split(",") if size]
    if options.only_policy:
        sizes, options.retry_users = [], 0
    only = options.only_retry_modes or options.only_policy
    started = time.monotonic()
    rows = []
    retries = []
    single = None
    with tempfile.TemporaryDirectory() as workdir:
        scale = ScaleBench(Path(workdir), options.latency)
        try:
            if options.retry_users:
                scale.grow(options.retry_users)
                retries = retry_modes(scale, options.retry_rate)
            for users in sorted(set(sizes) | set(policy_sizes)) if not options.only_retry_modes else []:
                seeded = time.monotonic()
                scale.grow(users)
                print(f"seeded {users} users in {time.monotonic() - seeded:.0f} s", flush=True)
                for task in TASKS if users in sizes else ():
                    for mode_name, mode in MODES:
                        row = dict(users=users, task=task, mode=mode_name)
                        if task.startswith("bulk") and mode["source"] == "credential_report":
                            continue  # a write has no report mode
                        if options.quick and users > 1000 and mode["concurrency"] == 1:
                            rows.append(dict(row, not_run=True))
                            continue
                        row.update(measure(scale, task, mode))
                        print(json.dumps(row), flush=True)
                        rows.append(row)
                if users in policy_sizes:
                    rows += policy_rows(scale)
            if not only:
                single = single_key(scale, options.single_key_rounds)
        finally:
            scale.close()
    results = dict(
        latency=options.latency,
        quick=options.quick,
        machine=f"{os.uname().sysname} {os.uname().machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        rows=rows,
        single_key=single,
        retry_modes=retries,
        retry_rate=options.retry_rate,
        retry_users=options.retry_users,
        seconds=time.monotonic() - started,
    )
    report(results)
    print("\n" + markdown(results))
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    if options.only_policy:  # a partial run must not replace the full results
        (out / "account_scale_policy.json").write_text(json.dumps(results, indent=1))
        print(f"\nRaw numbers: {out / 'account_scale_policy.json'}; took {results['seconds']:.0f} s")
        return
    (out / "account_scale.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "account_scale.png")
    print(
        f"\nRaw numbers: {out / 'account_scale.json'}; plot: {out / 'account_scale.png'}; took {results['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
