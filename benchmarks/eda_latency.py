"""Event-driven containment latency: seconds from an AWS Health event sent to SQS to the key Inactive in IAM.

One ansible-rulebook run (from .venv-eda) with the collection's rulebook against a moto server on 127.0.0.1; 10
events, one at a time, each for another user's key. Prints the median and range, and how much of it is the source
receiving the message (from the source's own log line), and writes benchmarks/results/eda_latency.json.
Run with `make bench-eda`.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import boto3  # noqa: E402
from eda_rulebook import RulebookRun, make_queue, wait_until  # noqa: E402
from moto_server import MotoServer  # noqa: E402

EVENTS = 10
TARGET_SECONDS = 3.0
CREDENTIALS = {"aws_access_key_id": "AKIABENCHEDA00000000", "aws_secret_access_key": "bench-secret"}
SAMPLE = REPO / "tests" / "unit" / "extensions" / "eda" / "samples" / "health_credentials_exposed.json"
RESULTS = REPO / "benchmarks" / "results" / "eda_latency.json"


def received_at(text, key_id):
    """Return the wall-clock time at which the source logged the message naming this key."""
    for line in text.splitlines():
        if "SQS message" in line and key_id in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AssertionError(f"the source never logged {key_id}")


def measure(workdir):
    """Run the rulebook, send the events one by one; return (seconds to Inactive, seconds to receipt) per event."""
    with MotoServer(workdir) as moto:
        iam = boto3.client("iam", endpoint_url=moto.url, region_name="us-east-1", **CREDENTIALS)
        keys = []
        for n in range(EVENTS):
            iam.create_user(UserName=f"user{n}")
            keys.append((f"user{n}", iam.create_access_key(UserName=f"user{n}")["AccessKey"]["AccessKeyId"]))
        sqs, queue_url, _dlq = make_queue(moto.url, CREDENTIALS)
        run = RulebookRun(workdir, moto.url, CREDENTIALS, {"queue_url": queue_url, "region": "us-east-1"})
        try:
            run.wait_for("Polling")
            to_inactive, to_receipt = [], []
            for n, (user, key_id) in enumerate(keys, start=1):
                event = json.loads(SAMPLE.read_text())
                event["detail"]["affectedEntities"] = [{"entityValue": key_id}]
                sent_wall, sent = time.time(), time.monotonic()
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

                def inactive(user=user, key_id=key_id):
                    """Return whether IAM now holds the key as Inactive."""
                    listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
                    return any(k["AccessKeyId"] == key_id and k["Status"] == "Inactive" for k in listed)

                wait_until(inactive, timeout=120, what=f"{key_id} to be Inactive")
                to_inactive.append(time.monotonic() - sent)
                to_receipt.append(received_at(run.text(), key_id) - sent_wall)
                run.wait_for("PLAY RECAP", n)  # let the playbook finish before the next event
        finally:
            run.stop()
    return to_inactive, to_receipt


def main():
    """Measure, print, and save the figures."""
    with tempfile.TemporaryDirectory() as workdir:
        to_inactive, to_receipt = measure(Path(workdir))
    median = statistics.median(to_inactive)
    result = {
        "what": "seconds from an AWS Health exposure event sent to SQS to the key Inactive in IAM",
        "events": EVENTS,
        "median_seconds": round(median, 3),
        "min_seconds": round(min(to_inactive), 3),
        "max_seconds": round(max(to_inactive), 3),
        "median_seconds_to_receipt_by_the_source": round(statistics.median(to_receipt), 3),
        "target_seconds": TARGET_SECONDS,
        "each_seconds": [round(s, 3) for s in to_inactive],
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "when": datetime.now().isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"EDA containment latency over {EVENTS} events: median {median:.2f} s "
        f"(min {min(to_inactive):.2f}, max {max(to_inactive):.2f}); target < {TARGET_SECONDS:.0f} s "
        f"{'met' if median < TARGET_SECONDS else 'MISSED'}; "
        f"the source had each message after {statistics.median(to_receipt):.3f} s (median); "
        f"the rest is the playbook. Saved to {RESULTS.relative_to(REPO)}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
