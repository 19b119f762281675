"""Benchmark keyguard.aws against amazon.aws.iam_access_key and the floor, against a moto server on 127.0.0.1.

Run with `make bench` (it builds .venv-bench first). Prints tables, saves the raw numbers to
benchmarks/results/latest.json and the bulk-versus-loop plot to benchmarks/results/bulk_vs_loop.png.
Every scenario runs in the same venv: one Python, one ansible-core, one botocore.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import boto3

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tools"))
from moto_server import MotoServer  # noqa: E402

BIN = Path(sys.executable).parent
ADMIN = {"AWS_ACCESS_KEY_ID": "AKIABENCHADMIN000000", "AWS_SECRET_ACCESS_KEY": "bench-secret"}

# One task per scenario; {key} and {user} are filled in, {active} / {status} alternate for "change".
SCENARIOS = {
    "keyguard no-op": (
        "keyguard.aws.iam_access_key_status",
        "user_name: {user}\n        access_key_id: {key}\n        status: Active",
    ),
    "keyguard change": (
        "keyguard.aws.iam_access_key_status",
        "user_name: {user}\n        access_key_id: {key}\n        status: {status}",
    ),
    "keyguard check": (
        "keyguard.aws.iam_access_key_status",
        "user_name: {user}\n        access_key_id: {key}\n        status: Inactive",
    ),
    "amazon.aws no-op": ("amazon.aws.iam_access_key", "user_name: {user}\n        id: {key}\n        active: true"),
    "amazon.aws change": (
        "amazon.aws.iam_access_key",
        "user_name: {user}\n        id: {key}\n        active: {active}",
    ),
    "amazon.aws check": ("amazon.aws.iam_access_key", "user_name: {user}\n        id: {key}\n        active: false"),
    "floor: boto3 + ListAccessKeys": ("floor_list_access_keys", "user_name: {user}"),
    "floor: ansible.builtin.ping": ("ansible.builtin.ping", "{{}}"),
}
PAIRS = [
    ("keyguard no-op", "amazon.aws no-op"),
    ("keyguard change", "amazon.aws change"),
    ("keyguard check", "amazon.aws check"),
]
FLOOR_PAIRS = [("keyguard no-op", "floor: boto3 + ListAccessKeys"), ("keyguard no-op", "floor: ansible.builtin.ping")]

PROFILE = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
import ansible.module_utils.basic
marks.append(("import ansible.module_utils.basic", time.perf_counter()))
from ansible_collections.keyguard.aws.plugins.module_utils import _access_keys, _aws
marks.append(("import keyguard module_utils (botocore.session, config, exceptions)", time.perf_counter()))
params = dict(access_key=sys.argv[2], secret_key=sys.argv[3], endpoint_url=sys.argv[1])
_aws.validate_connection(params)
marks.append(("validate options", time.perf_counter()))
client = _aws.connect(params).client
marks.append(("session, credentials and IAM client", time.perf_counter()))
_access_keys.list_access_keys(client, "bench0")
marks.append(("first ListAccessKeys (connection set-up included)", time.perf_counter()))
_access_keys.update_access_key(client, sys.argv[4], "Active", "bench0")
marks.append(("UpdateAccessKey", time.perf_counter()))
import boto3
marks.append(("for comparison: import boto3 on top (s3transfer, boto3.session)", time.perf_counter()))
print(json.dumps([(name, marks[i + 1][1] - marks[i][1]) for i, (name, _) in enumerate(marks[1:])]))
"""


class Bench:
    """The moto server, the work directory and the environment every run shares."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.recording = workdir / "recording.jsonl"
        env = {"MOTO_ENABLE_RECORDING": "true", "MOTO_RECORDER_FILEPATH": str(self.recording)}
        self.moto = MotoServer(workdir, env)
        self.iam = boto3.client(
            "iam",
            endpoint_url=self.moto.url,
            region_name="us-east-1",
            aws_access_key_id=ADMIN["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ADMIN["AWS_SECRET_ACCESS_KEY"],
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
        self.env.update(ADMIN, AWS_ENDPOINT_URL_IAM=self.moto.url, AWS_DEFAULT_REGION="us-east-1")
        self.env.update(
            AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true"
        )
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
            ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="task_timer",
            ANSIBLE_LIBRARY=str(HERE / "library"),
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_HOME=str(workdir / "ansible"),
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        )
        self.plays = 0

    def users_with_keys(self, count, prefix="bench", first=0):
        """Create `count` users with one Active key each; return [(user, key id)]."""
        made = []
        for i in range(first, first + count):
            user = f"{prefix}{i}"
            self.iam.create_user(UserName=user)
            made.append((user, self.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]))
        return made

    def set_status(self, keys, status):
        """Set keys to a status directly, between measured runs."""
        for user, key in keys:
            self.iam.update_access_key(UserName=user, AccessKeyId=key, Status=status)

    def calls(self):
        """Return the IAM actions moto recorded since the last call, and start a new recording."""
        actions = Counter()
        if self.recording.exists():
            for line in self.recording.read_text().splitlines():
                body = json.loads(line).get("body") or ""
                if json.loads(line).get("body_encoded"):
                    body = base64.b64decode(body).decode()
                actions.update(parse_qs(body).get("Action", []))
        request = urllib.request.Request(f"{self.moto.url}/moto-api/recorder/reset-recording", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        return actions

    def play(self, tasks):
        """Run a playbook of (name, module, args, check_mode) tasks; return each task's timing record."""
        self.plays += 1
        timings = self.workdir / f"timings-{self.plays}.jsonl"
        body = "".join(
            f"    - name: {json.dumps(name)}\n      {module}:\n        {args}\n      check_mode: {str(check).lower()}\n"
            for name, module, args, check in tasks
        )
        path = self.workdir / f"play-{self.plays}.yml"
        path.write_text(f"- name: bench\n  hosts: localhost\n  gather_facts: false\n  tasks:\n{body}")
        command = [str(BIN / "ansible-playbook"), str(path)]
        env = dict(self.env, TASK_TIMER_FILE=str(timings))
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark playbook failed:\n{proc.stdout}\n{proc.stderr}")
        return [json.loads(line) for line in timings.read_text().splitlines()]


def scenario_task(name, index, user, key):
    """Return task `index` of a scenario; "change" alternates the status so every task really changes the key."""
    module, template = SCENARIOS[name]
    status, active = ("Inactive", "false") if index % 2 == 0 else ("Active", "true")
    args = template.format(user=user, key=key, status=status, active=active)
    return (f"{name} {index}", module, args, name.endswith("check"))


def expected_change(name):
    """Return whether every task of the scenario must report changed."""
    return not name.endswith("no-op") and not name.startswith("floor")


def per_task(bench, rounds, tasks):
    """Time every scenario, interleaved task by task in one playbook per round; return {scenario: [seconds]}.

    The n-th sample of every scenario ran in the same slot of the same playbook, so samples pair up by index.
    Each scenario has a key of its own; one warm-up task per scenario opens each playbook and is not counted.
    """
    keys = dict(zip(SCENARIOS, bench.users_with_keys(len(SCENARIOS))))
    samples = {name: [] for name in SCENARIOS}
    rng = random.Random(7)
    for _round in range(rounds):
        bench.set_status(keys.values(), "Active")
        plan = [scenario_task(name, 0, *keys[name]) for name in SCENARIOS]
        for index in range(1, tasks + 1):
            order = list(SCENARIOS)
            rng.shuffle(order)
            plan += [scenario_task(name, index, *keys[name]) for name in order]
        for record in bench.play(plan)[len(SCENARIOS) :]:
            name = record["task"].rsplit(" ", 1)[0]
            assert record["changed"] == expected_change(name) and not record["failed"], record
            samples[name].append(record["seconds"])
    return samples


def count_calls(bench, tasks=3):
    """Return the IAM calls per task of each scenario, counted by moto's recorder."""
    calls = {}
    for name in SCENARIOS:
        ((user, key),) = bench.users_with_keys(1, prefix=f"calls{len(calls)}-")
        bench.calls()
        bench.play([scenario_task(name, index, user, key) for index in range(tasks)])
        calls[name] = {action: count / tasks for action, count in bench.calls().items()}
    return calls


def bulk_and_loops(bench, sizes, loop_sizes, rounds):
    """Time one bulk task against loop: over single-key tasks; return {label: {size: [seconds]}}."""
    timings = {"keyguard bulk": {}, "keyguard loop": {}, "amazon.aws loop": {}}
    calls = {}
    made = []
    for size in sizes:
        made += bench.users_with_keys(size - len(made), prefix="fleet", first=len(made))
        keys = made[:size]
        items = json.dumps([{"access_key_id": key, "user_name": user} for user, key in keys])
        bulk = [
            ("bulk", "keyguard.aws.iam_access_key_status", f"access_keys: {items}\n        status: Inactive", False)
        ]
        for _round in range(rounds):
            bench.set_status(keys, "Active")
            bench.calls()
            (result,) = bench.play(bulk)
            assert result["changed"] and not result["failed"]
            timings["keyguard bulk"].setdefault(size, []).append(result["seconds"])
            calls[f"keyguard bulk, {size} keys"] = dict(bench.calls())
        if size in loop_sizes:
            loop_items = json.dumps([{"key": key, "user": user} for user, key in keys])
            for label, module, args in (
                (
                    "keyguard loop",
                    "keyguard.aws.iam_access_key_status",
                    "user_name: '{{ item.user }}'\n        access_key_id: '{{ item.key }}'\n        status: Inactive",
                ),
                (
                    "amazon.aws loop",
                    "amazon.aws.iam_access_key",
                    "user_name: '{{ item.user }}'\n        id: '{{ item.key }}'\n        active: false",
                ),
            ):
                bench.set_status(keys, "Active")
                bench.calls()
                (result,) = bench.play([("loop", module, f"{args}\n      loop: {loop_items}", False)])
                assert result["changed"] and not result["failed"]
                timings[label].setdefault(size, []).append(result["seconds"])
                calls[f"{label}, {size} keys"] = dict(bench.calls())
    return timings, calls


def api_latency(bench, samples=200):
    """Return the median seconds of one ListAccessKeys from a warm boto3 client: the per-call floor."""
    times = []
    for _sample in range(samples):
        started = time.perf_counter()
        bench.iam.list_access_keys(UserName="bench0")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cold_start(bench, runs):
    """Profile our module's start-up phases in fresh processes; return {phase: [seconds]}."""
    key = bench.iam.list_access_keys(UserName="bench0")["AccessKeyMetadata"][0]["AccessKeyId"]
    phases = {}
    env = dict(bench.env, PYTHONPATH=str(REPO / ".collections"))
    for _run in range(runs):
        args = [bench.moto.url, ADMIN["AWS_ACCESS_KEY_ID"], ADMIN["AWS_SECRET_ACCESS_KEY"], key]
        out = subprocess.run(
            [sys.executable, "-c", PROFILE, *args], env=env, capture_output=True, text=True, check=True
        )
        for phase, seconds in json.loads(out.stdout):
            phases.setdefault(phase, []).append(seconds)
    return phases


def median_range(values):
    """Return 'median (min-max)' of seconds, in seconds."""
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def pair_ratios(samples, ours, theirs):
    """Return ours/theirs for each pair of tasks that ran in the same slot of the same playbook."""
    return [a / b for a, b in zip(samples[ours], samples[theirs])]


def report(results):
    """Print the tables."""
    samples, calls = results["per_task"], results["per_task_calls"]
    print(f"\nMachine: {results['machine']}")
    print(
        f"\nPer task: {results['rounds']} playbooks, each {results['tasks']} tasks of every scenario, interleaved"
        " (seconds: median (min-max))"
    )
    print(f"{'scenario':<32} {'seconds per task':<24} IAM calls per task")
    for name in SCENARIOS:
        flat = samples[name]
        api = ", ".join(f"{a} {n:g}" for a, n in sorted(calls.get(name, {}).items())) or "-"
        print(f"{name:<32} {median_range(flat):<24} {api}")
    print("\nRatios of tasks paired by their slot in the same playbook (median (min-max))")
    for ours, theirs in PAIRS + FLOOR_PAIRS:
        ratios = pair_ratios(samples, ours, theirs)
        print(f"{ours + ' / ' + theirs:<58} {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    print("\nOne bulk task against a loop: of single-key tasks (task wall time, seconds)")
    print(
        f"{'keys':>6} {'keyguard bulk':>22} {'keyguard loop':>14} {'amazon.aws loop':>16} {'loop/bulk':>10} {'bulk per key':>13}"
    )
    bulk = results["bulk"]["keyguard bulk"]
    for size in sorted(bulk, key=int):
        ours_loop = results["bulk"]["keyguard loop"].get(size)
        theirs_loop = results["bulk"]["amazon.aws loop"].get(size)
        b = statistics.median(bulk[size])
        speedup = f"{statistics.median(ours_loop) / b:.1f}x" if ours_loop else "-"
        print(
            f"{size:>6} {median_range(bulk[size]):>22} {statistics.median(ours_loop) if ours_loop else float('nan'):>14.2f}"
            f" {statistics.median(theirs_loop) if theirs_loop else float('nan'):>16.2f} {speedup:>10} {1000 * b / int(size):>10.1f} ms"
        )
    sizes = sorted(bulk, key=int)
    print(
        f"\nOne IAM call from a warm client: {1000 * results['api_latency']:.1f} ms (a bulk key needs 2: list and update)"
    )
    for small, large in zip(sizes, sizes[1:]):
        increment = (statistics.median(bulk[large]) - statistics.median(bulk[small])) / (int(large) - int(small))
        overhead = increment - 2 * results["api_latency"]
        print(
            f"bulk cost per extra key, {small} -> {large} keys: {1000 * increment:.1f} ms ({1000 * overhead:.1f} ms beyond 2 IAM calls)"
        )
    print("\nCold start of iam_access_key_status, in a fresh process (seconds: median (min-max))")
    for phase, values in results["cold_start"].items():
        print(f"  {phase:<70} {median_range(values)}")


def plot(results, path):
    """Save wall time against number of keys for bulk, our loop and amazon.aws's loop."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for label, marker in (("keyguard bulk", "o"), ("keyguard loop", "s"), ("amazon.aws loop", "^")):
        points = sorted((int(size), statistics.median(values)) for size, values in results["bulk"][label].items())
        axes.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=label)
    axes.set_xlabel("access keys deactivated")
    axes.set_ylabel("task wall time (s)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_title("One bulk task against a loop of single-key tasks (moto on 127.0.0.1)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main():
    """Run every part, print the tables, save JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="playbooks of interleaved single-key tasks")
    parser.add_argument("--tasks", type=int, default=8, help="timed tasks of each scenario per playbook")
    parser.add_argument("--sizes", default="50,100,200,1000", help="numbers of keys for the bulk task")
    parser.add_argument("--loop-sizes", default="50,100", help="numbers of keys for the loops (slow: ~0.5 s a key)")
    parser.add_argument("--out", default=str(HERE / "results"))
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    loop_sizes = [int(s) for s in options.loop_sizes.split(",")]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        bench = Bench(Path(workdir))
        try:
            samples = per_task(bench, options.rounds, options.tasks)
            calls = count_calls(bench)
            results = dict(
                machine=f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                f"ansible-core {subprocess.run([str(BIN / 'ansible'), '--version'], capture_output=True, text=True, check=True).stdout.split()[2].rstrip(']')}",
                rounds=options.rounds,
                tasks=options.tasks,
                per_task=samples,
                per_task_calls=calls,
                api_latency=api_latency(bench),
                cold_start=cold_start(bench, options.rounds * 2),
            )
            results["bulk"], results["bulk_calls"] = bulk_and_loops(bench, sizes, loop_sizes, 3)
        finally:
            bench.moto.close()
    results["bulk"] = {label: {str(k): v for k, v in by_size.items()} for label, by_size in results["bulk"].items()}
    results["seconds"] = time.monotonic() - started
    report(results)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "bulk_vs_loop.png")
    print(f"\nRaw numbers: {out / 'latest.json'}; plot: {out / 'bulk_vs_loop.png'}; took {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
