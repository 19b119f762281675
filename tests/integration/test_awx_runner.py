"""AWX's path: ansible-runner with exactly what AWX's "Amazon Web Services" credential injects, and no region."""

from __future__ import annotations

import json
import subprocess

import boto3
import pytest
import yaml
from harness import ADMIN_KEY, ADMIN_SECRET, BIN

PLAYBOOK = [
    {
        "name": "Contain a leaked key (an AWX job template)",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/keyguard.aws.aws": {"endpoint_url": "{{ iam_endpoint }}"}},
        "tasks": [
            {
                "name": "Deactivate the key, whoever owns it",
                "keyguard.aws.iam_access_key_status": {"access_key_id": "{{ leaked_key_id }}", "status": "Inactive"},
            }
        ],
    }
]


def sts_credentials(moto):
    """Return temporary credentials from moto's STS, as an AWX credential backed by STS would hold."""
    sts = boto3.client(
        "sts",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id=ADMIN_KEY,
        aws_secret_access_key=ADMIN_SECRET,
    )
    return sts.get_session_token()["Credentials"]


def run_job(ansible, private, envvars, extravars, verbosity):
    """Lay out an AWX-style private data dir, run it with ansible-runner; return (status, stdout, events)."""
    (private / "project").mkdir(parents=True)
    (private / "env").mkdir()
    (private / "project" / "contain.yml").write_text(yaml.safe_dump(PLAYBOOK))
    (private / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (private / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    command = [str(BIN / "ansible-runner"), "run", str(private), "-p", "contain.yml", "--ident", "job"]
    if verbosity:
        command += ["-" + "v" * verbosity]
    subprocess.run(command, env=ansible.env, capture_output=True, text=True, timeout=300, check=False)
    artifacts = private / "artifacts" / "job"
    events = [p.read_text() for p in sorted((artifacts / "job_events").glob("*.json"))]
    return (artifacts / "status").read_text(), (artifacts / "stdout").read_text(), events


def injected(credentials, tokens):
    """Return the environment AWX's Amazon Web Services credential injects, with these token variables."""
    envvars = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
    }
    envvars.update({name: credentials["SessionToken"] for name in tokens})
    return envvars


def assert_no_secret(credentials, stdout, events):
    """Assert neither the secret key nor the token is in the job's stdout or any of its events."""
    assert len(events) > 5  # the scan read real events
    for secret in (credentials["SecretAccessKey"], credentials["SessionToken"]):
        assert secret not in stdout
        assert not [event for event in events if secret in event]


@pytest.mark.parametrize(
    "tokens, verbosity",
    [(("AWS_SECURITY_TOKEN",), 0), (("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"), 4)],
    ids=["older-awx-security-token-only", "newer-awx-both-tokens-vvvv"],
)
def test_awx_job_with_injected_sts_credentials(ansible, moto, tmp_path, tokens, verbosity):
    leaked = moto.user_with_key("intern")
    credentials = sts_credentials(moto)
    extravars = {"iam_endpoint": moto.url, "leaked_key_id": leaked["AccessKeyId"]}
    status, stdout, events = run_job(ansible, tmp_path / "job", injected(credentials, tokens), extravars, verbosity)

    assert status == "successful", stdout
    ok = [e for e in map(json.loads, events) if e["event"] == "runner_on_ok"]
    assert len(ok) == 1
    assert ok[0]["event_data"]["res"]["changed"] is True
    assert ok[0]["event_data"]["res"]["access_key"]["user_name"] == "intern"
    assert moto.status("intern", leaked["AccessKeyId"]) == "Inactive"
    assert_no_secret(credentials, stdout, events)


def test_awx_job_failing_on_an_error_that_echoes_the_request(ansible, moto, fault_proxy, tmp_path):
    leaked = moto.user_with_key("intern")
    credentials = sts_credentials(moto)
    fault_proxy.fail("ListAccessKeys", times=100, code="InvalidClientTokenId", message=None)
    extravars = {"iam_endpoint": fault_proxy.url, "leaked_key_id": leaked["AccessKeyId"]}
    envvars = injected(credentials, ("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"))
    status, stdout, events = run_job(ansible, tmp_path / "job", envvars, extravars, 4)

    assert status == "failed", stdout
    failed = [e for e in map(json.loads, events) if e["event"] == "runner_on_failed"]
    assert failed[0]["event_data"]["res"]["msg"].startswith("AWS rejected the credentials calling iam:ListAccessKeys")
    assert "X-Amz-Security-Token" in failed[0]["event_data"]["res"]["msg"]
    assert moto.status("intern", leaked["AccessKeyId"]) == "Active"
    assert_no_secret(credentials, stdout, events)
