"""Run the collection's rulebook with ansible-rulebook from .venv-eda against a moto server: tests, demo, benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
EDA_BIN = REPO / ".venv-eda" / "bin"
RULEBOOK = "keyguard.aws.contain_exposed_keys"
REGION = "us-east-1"
# The rulebook runs the playbook on localhost with the Python of .venv-eda, where boto3 and botocore are.
INVENTORY = """\
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


def require_eda_venv():
    """Return the ansible-rulebook executable, or raise saying how to build its venv."""
    rulebook = EDA_BIN / "ansible-rulebook"
    if not rulebook.exists():
        raise RuntimeError(f"{rulebook} is missing: build it with `make .venv-eda/.installed` (needs Java 17).")
    return rulebook


def make_queue(moto_url, credentials, name="keyguard-exposed-keys", visibility_timeout=30, max_receive_count=3):
    """Create the queue EventBridge would deliver to, with a dead-letter queue; return (sqs client, url, dlq url)."""
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION, **credentials)
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})
    attributes = {"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": redrive}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return sqs, url, dlq


class RulebookRun:
    """One ansible-rulebook process running the collection's rulebook, its output collected in a file."""

    def __init__(self, workdir, moto_url, credentials, variables, rulebook=RULEBOOK, verbose=True, extra_args=()):
        workdir = Path(workdir)
        self.output = workdir / "rulebook.log"
        (workdir / "inventory.yml").write_text(INVENTORY)
        (workdir / "vars.json").write_text(json.dumps(variables))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
        env.update(
            PATH=f"{EDA_BIN}{os.pathsep}{env.get('PATH', '')}",
            HOME=str(workdir),
            AWS_ENDPOINT_URL=moto_url,
            AWS_ACCESS_KEY_ID=credentials["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=credentials["aws_secret_access_key"],
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
            ANSIBLE_HOME=str(workdir / "ansible"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        )
        command = [str(require_eda_venv()), "-r", rulebook, "-i", str(workdir / "inventory.yml")]
        command += ["--vars", str(workdir / "vars.json"), *extra_args] + ["-v"] * verbose
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
        self.env = env

    def text(self):
        """Return everything the run has printed so far."""
        return self.output.read_text(errors="replace")

    def wait_for(self, fragment, count=1, timeout=120):
        """Wait until `fragment` has been printed `count` times; return the output, or raise with it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if text.count(fragment) >= count:
                return text
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{fragment!r} x{count} not printed (exit code {self.process.poll()}):\n{self.text()}")

    def stop(self, timeout=30):
        """Stop ansible-rulebook the way a service manager does (SIGTERM); return the seconds it took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.monotonic() - started


def wait_until(predicate, timeout=120, what="the condition"):
    """Poll `predicate` until it returns a true value; return it, or raise naming what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
