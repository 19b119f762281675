"""The end-to-end harness: a recording moto server and real ansible-playbook runs against it."""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import boto3
from moto_server import MotoServer

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".collections"
# The venv whose ansible-core and botocore run the playbooks: this one, or the support matrix end that
# KEYGUARD_TEST_VENV names (`make matrix`); moto and the test's own boto3 clients stay in this venv.
VENV_UNDER_TEST = Path(os.environ.get("KEYGUARD_TEST_VENV") or Path(sys.executable).parents[1]).absolute()
BIN = VENV_UNDER_TEST / "bin"
PYTHON = BIN / "python"
ADMIN_KEY = "AKIAADMINEXAMPLE0000"  # moto accepts any credentials until a test enforces IAM authorization
ADMIN_SECRET = "admin-secret-not-used-by-moto"
STRANGER_KEY = "AKIAIOSFODNN7EXAMPLE"
STRANGER_SECRET = "stranger-secret-that-moto-never-checks"
STATUS = "keyguard.aws.iam_access_key_status"  # a key moto has never issued: the caller is no IAM user it knows

PLAYBOOK = """\
- name: One task under test
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Under test
      {module}: {args}
      register: result
      ignore_errors: true
    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{{{ result | to_json }}}}"
        dest: {out}
        mode: "0600"
      check_mode: false
      diff: false
"""


@functools.cache
def core_version():
    """Return the (major, minor) of the ansible-core that runs the playbooks."""
    out = subprocess.run(
        [str(PYTHON), "-c", "import ansible.release; print(ansible.release.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return tuple(int(part) for part in out.split(".")[:2])


def unwrapped(stderr):
    """Return a CLI's stderr on one line when ansible-core wraps its warnings (at 79 columns, before 2.19)."""
    # The wrap drops the space it breaks at, so the lines are joined with one (runs of spaces become one too); after
    # a hyphen it breaks without a space ("us-\neast-1"), so those lines are joined as they are.
    return " ".join(stderr.replace("-\n", "-").split()) if core_version() < (2, 19) else stderr


def clean_environment(home):
    """Return os.environ without AWS, Ansible or CA-bundle settings, with HOME and AWS files inside `home`."""
    # botocore falls back on REQUESTS_CA_BUNDLE; a machine's own value must not decide a test's TLS outcome.
    dropped = {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_")) and k not in dropped}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(home / "ansible"),
        ANSIBLE_PYTHON_INTERPRETER=str(PYTHON),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


@dataclass
class Run:
    """One ansible-playbook run: the task's registered result, the IAM calls moto saw, the output."""

    result: dict
    calls: Counter
    requests: list
    stdout: str
    rc: int


class Moto:
    """A moto server process, its request recorder, and an admin IAM client for setting up and reading back."""

    def __init__(self, workdir):
        self.recording = workdir / "recording.jsonl"
        env = clean_environment(workdir)
        env.update(MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=str(self.recording))
        self.server = MotoServer(workdir, env)
        self.url = self.server.url
        self.iam = self.client(ADMIN_KEY, ADMIN_SECRET)

    def client(self, key, secret):
        """Return a boto3 IAM client signing with this key."""
        return boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def post(self, path, data=b""):
        """POST to moto's own API."""
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def days_ago(self, days):
        """Turn IAM's clock back this many days (0: now) for what the server does next."""
        self.server.days_ago(days)

    def reset(self):
        """Forget every user, key and recorded request; turn IAM authorization off and the clock to now."""
        self.days_ago(0)
        self.relax_auth()
        self.post("/moto-api/reset")
        self.clear_calls()

    def enforce_auth(self):
        """Make moto check every request against IAM policies from now on."""
        self.post("/moto-api/reset-auth", b"0")

    def relax_auth(self):
        """Let every request through again."""
        self.post("/moto-api/reset-auth", b"inf")

    def clear_calls(self):
        """Start a new recording."""
        self.post("/moto-api/recorder/reset-recording")

    def requests(self):
        """Return the requests recorded since the last clear, as (action, params) pairs.

        Query-protocol services (IAM, STS) name the action in the body; JSON ones (Organizations) in X-Amz-Target.
        """
        if not self.recording.exists():
            return []
        seen = []
        for line in self.recording.read_text().splitlines():
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            target = (entry.get("headers") or {}).get("X-Amz-Target", "")
            if target:
                seen.append((target.rpartition(".")[2], json.loads(body or "{}")))
                continue
            params = {k: v[0] for k, v in parse_qs(body).items()}
            if "Action" in params:
                seen.append((params.pop("Action"), params))
        return seen

    def user_with_key(self, user_name, status="Active", policy=None):
        """Create an IAM user with one key in `status`; return the key (id and secret)."""
        self.iam.create_user(UserName=user_name)
        key = self.iam.create_access_key(UserName=user_name)["AccessKey"]
        if status != "Active":
            self.iam.update_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"], Status=status)
        if policy:
            self.iam.put_user_policy(UserName=user_name, PolicyName="test", PolicyDocument=json.dumps(policy))
        return key

    def add_key(self, user_name):
        """Give an existing user one more key; return it."""
        return self.iam.create_access_key(UserName=user_name)["AccessKey"]

    def status(self, user_name, access_key_id):
        """Return the key's status as the server holds it."""
        keys = self.iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
        return next(k["Status"] for k in keys if k["AccessKeyId"] == access_key_id)

    def close(self):
        """Stop the server."""
        self.server.close()


class Ansible:
    """Runs one task of keyguard.aws.iam_access_key_status through ansible-playbook against moto."""

    def __init__(self, moto, workdir):
        self.moto = moto
        self.workdir = workdir
        self.env = clean_environment(workdir)
        self.runs = 0

    def connection(self, key=ADMIN_KEY, secret=ADMIN_SECRET):
        """Return module options that reach moto, signing with this key."""
        return {"endpoint_url": self.moto.url, "access_key": key, "secret_key": secret}

    def start(
        self, args, check=False, diff=False, env=None, verbosity=0, playbook=None, module=STATUS, extra_vars=None
    ):
        """Start ansible-playbook on one task of `module` (or a playbook's text or path); return (process, result file)."""
        self.runs += 1
        out = self.workdir / f"result-{self.runs}.json"
        path = playbook if isinstance(playbook, Path) else self.workdir / f"play-{self.runs}.yml"
        if not isinstance(playbook, Path):
            text = playbook or PLAYBOOK.format(module=module, args=json.dumps(args), out=json.dumps(str(out)))
            path.write_text(text)
        command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)]
        command += ["--check"] * check + ["--diff"] * diff + (["-" + "v" * verbosity] if verbosity else [])
        command += ["-e", json.dumps(extra_vars)] if extra_vars else []
        process = subprocess.Popen(
            command,
            env=dict(self.env, **(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return process, out

    def run(self, args, **options):
        """Run the task (or a whole playbook); return its Run with the calls moto recorded during it."""
        self.moto.clear_calls()
        process, out = self.start(args, **options)
        stdout = process.communicate(timeout=300)[0]
        requests = self.moto.requests()
        result = json.loads(out.read_text()) if out.exists() else {}
        return Run(result, Counter(action for action, _params in requests), requests, stdout, process.returncode)

    def run_file(self, path, **options):
        """Run a playbook file as it is; return its Run (no registered result)."""
        return self.run(None, playbook=Path(path), **options)


def assert_clean_failure(run, *fragments):
    """Assert the task failed with one readable line containing every fragment."""
    assert run.result.get("failed") is True, run.stdout
    message = run.result["msg"]
    assert "\n" not in message
    for bad in ("MODULE FAILURE", "Traceback", "botocore.exceptions"):
        assert bad not in message
        assert bad not in run.stdout
    for fragment in fragments:
        assert fragment in message, message


def allow(*actions):
    """Return an IAM policy allowing these actions on every resource."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
