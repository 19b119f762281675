"""Faults, hanging endpoints, secrets, self-lockout and concurrency, end to end against moto on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter

import pytest
from harness import ADMIN_KEY, assert_clean_failure
from moto_server import free_port

FAULTS = [(400, "Throttling"), (503, "ServiceUnavailable")]
ACTIONS = ["ListAccessKeys", "UpdateAccessKey"]


def deactivate(ansible, key, user="bob", **extra):
    """Return task args that deactivate this key of `user`, connecting as the admin."""
    args = dict(user_name=user, access_key_id=key["AccessKeyId"], status="Inactive", **ansible.connection())
    args.update(extra)
    return args


# --- throttling and transient faults ----------------------------------------------------------------


@pytest.mark.parametrize("status, code", FAULTS)
@pytest.mark.parametrize("action", ACTIONS)
def test_transient_faults_within_the_retry_budget_are_survived(ansible, moto, fault_proxy, action, status, code):
    key = moto.user_with_key("bob")
    fault_proxy.fail(action, times=2, status=status, code=code)
    run = ansible.run(deactivate(ansible, key, endpoint_url=fault_proxy.url))
    assert run.result["changed"] is True, run.stdout
    assert fault_proxy.injected == 2
    assert run.calls == Counter(ListAccessKeys=1, UpdateAccessKey=1)  # what reached moto: one write, once
    assert moto.status("bob", key["AccessKeyId"]) == "Inactive"


@pytest.mark.parametrize(
    "status, code, message",
    [
        (400, "Throttling", "IAM throttled iam:{action} and it still failed after 3 attempts (Throttling)"),
        (503, "ServiceUnavailable", "IAM was unavailable for iam:{action} after 3 attempts (ServiceUnavailable)"),
    ],
)
@pytest.mark.parametrize("action", ACTIONS)
def test_faults_past_the_retry_budget_fail_cleanly_and_change_nothing(
    ansible, moto, fault_proxy, action, status, code, message
):
    key = moto.user_with_key("bob")
    fault_proxy.fail(action, times=100, status=status, code=code)
    args = deactivate(ansible, key, endpoint_url=fault_proxy.url, aws_config={"retries": {"total_max_attempts": 3}})
    run = ansible.run(args)
    assert_clean_failure(run, message.format(action=action))
    assert fault_proxy.injected == 3
    assert "UpdateAccessKey" not in run.calls
    assert moto.status("bob", key["AccessKeyId"]) == "Active"


def test_retry_budget_from_aws_max_attempts(ansible, moto, fault_proxy):
    key = moto.user_with_key("bob")
    fault_proxy.fail("ListAccessKeys", times=100)
    run = ansible.run(deactivate(ansible, key, endpoint_url=fault_proxy.url), env={"AWS_MAX_ATTEMPTS": "2"})
    assert_clean_failure(run, "after 2 attempts (Throttling)")
    assert fault_proxy.injected == 2


# --- endpoint down or hanging ------------------------------------------------------------------------


@pytest.fixture
def hanging_endpoint():
    """Yield the URL of a server on 127.0.0.1 that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_endpoint_down_fails_fast(ansible, moto):
    args = deactivate(ansible, {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}, endpoint_url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    run = ansible.run(args, env={"AWS_MAX_ATTEMPTS": "2"})
    assert_clean_failure(run, "iam:ListAccessKeys: could not reach the IAM endpoint", args["endpoint_url"])
    assert time.monotonic() - started < 60  # a bound on hanging, not a performance figure


def test_hanging_endpoint_fails_within_the_read_timeout(ansible, moto, hanging_endpoint):
    aws_config = {"read_timeout": 1, "retries": {"total_max_attempts": 2}}
    args = deactivate(ansible, {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}, endpoint_url=hanging_endpoint)
    started = time.monotonic()
    run = ansible.run(dict(args, aws_config=aws_config))
    assert_clean_failure(run, "iam:ListAccessKeys: the IAM endpoint did not answer in time", "read_timeout")
    assert time.monotonic() - started < 60


# --- secrets -----------------------------------------------------------------------------------------

SECRET = "Zq8sS3cretThatMustNeverShow0000000000000"
TOKEN = "FwoGZXIvTokenThatMustNeverShow0000000000"


def secret_sources(ansible):
    """Return (task options, environment) pairs giving the same secret key and token two ways."""
    as_options = ({"secret_key": SECRET, "session_token": TOKEN, "access_key": ADMIN_KEY}, {})
    as_environment = (
        {},
        {"AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN},
    )
    return {"options": as_options, "environment": as_environment}


@pytest.mark.parametrize("source", ["options", "environment"])
@pytest.mark.parametrize("outcome", ["success", "echoed-error"])
def test_secrets_never_shown_at_vvvv(ansible, moto, fault_proxy, source, outcome):
    key = moto.user_with_key("bob")
    options, env = secret_sources(ansible)[source]
    args = dict(user_name="bob", access_key_id=key["AccessKeyId"], status="Inactive", endpoint_url=fault_proxy.url)
    args.update(options)
    if outcome == "echoed-error":  # an AWS error that quotes the signed request, security token header included
        fault_proxy.fail("ListAccessKeys", times=100, status=400, code="InvalidClientTokenId", message=None)
    run = ansible.run(args, diff=True, verbosity=4, env=env)
    if outcome == "success":
        assert run.result["changed"] is True, run.stdout
    else:
        assert_clean_failure(run, "AWS rejected the credentials calling iam:ListAccessKeys (InvalidClientTokenId)")
        assert "X-Amz-Security-Token" in run.result["msg"]  # the echo reached the message...
    scanned = run.stdout + json.dumps(run.result)
    assert SECRET not in scanned
    assert TOKEN not in scanned  # ...and the token in it did not


# --- self-lockout -------------------------------------------------------------------------------------


def signing_as(ansible, tmp_path, key, source):
    """Return (task options, environment) that sign with `key` taken from `source`."""
    if source == "options":
        return ansible.connection(key["AccessKeyId"], key["SecretAccessKey"]), {}
    if source == "environment":
        env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        return {"endpoint_url": ansible.moto.url}, env
    (tmp_path / "aws-credentials").write_text(
        f"[rotation]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n"
    )
    return {"endpoint_url": ansible.moto.url, "profile": "rotation"}, {}


@pytest.mark.parametrize("source", ["options", "environment", "profile"])
@pytest.mark.parametrize("check", [True, False], ids=["check", "apply"])
def test_refuses_to_deactivate_the_signing_key(ansible, moto, tmp_path, source, check):
    key = moto.user_with_key("bob")
    options, env = signing_as(ansible, tmp_path, key, source)
    run = ansible.run(dict(access_key_id=key["AccessKeyId"], status="Inactive", **options), check=check, env=env)
    assert_clean_failure(run, f"Refusing to deactivate access key {key['AccessKeyId']}", "allow_self_deactivation")
    assert run.calls == Counter()
    assert moto.status("bob", key["AccessKeyId"]) == "Active"


@pytest.mark.parametrize("source", ["options", "environment", "profile"])
@pytest.mark.parametrize("check", [True, False], ids=["check", "apply"])
def test_self_deactivation_when_allowed(ansible, moto, tmp_path, source, check):
    key = moto.user_with_key("bob")
    options, env = signing_as(ansible, tmp_path, key, source)
    args = dict(user_name="bob", access_key_id=key["AccessKeyId"], status="Inactive", allow_self_deactivation=True)
    run = ansible.run(dict(args, **options), check=check, env=env)
    assert run.result["changed"] is True, run.stdout
    assert run.result["access_key"]["status"] == "Inactive"
    assert moto.status("bob", key["AccessKeyId"]) == ("Active" if check else "Inactive")


# --- concurrency --------------------------------------------------------------------------------------


def test_concurrent_runs_agree_with_the_server(ansible, moto, fault_proxy):
    """Eight playbooks at once: four toggle one shared key, four set keys of their own."""
    shared = moto.user_with_key("shared")
    own = [moto.user_with_key(f"user{i}") for i in range(4)]
    jobs = [("shared", shared, "Inactive" if i % 2 else "Active") for i in range(4)]
    jobs += [(f"user{i}", key, "Inactive") for i, key in enumerate(own)]
    connection = dict(ansible.connection(), endpoint_url=fault_proxy.url)
    started = [
        (
            key["AccessKeyId"],
            ansible.start(dict(user_name=user, access_key_id=key["AccessKeyId"], status=status, **connection)),
        )
        for user, key, status in jobs
    ]
    changed = Counter()
    for key_id, (process, out) in started:
        stdout = process.communicate(timeout=300)[0]
        result = json.loads(out.read_text())
        assert result.get("failed") is not True, stdout
        changed[key_id] += result["changed"]

    updates = [params for action, params in fault_proxy.applied if action == "UpdateAccessKey"]
    assert changed == Counter(params["AccessKeyId"] for params in updates)  # every changed: true was one write
    for user, key, _status in jobs:
        writes = [p["Status"] for p in updates if p["AccessKeyId"] == key["AccessKeyId"]]
        assert moto.status(user, key["AccessKeyId"]) == (writes[-1] if writes else "Active")  # the last writer won
    assert all(moto.status(f"user{i}", key["AccessKeyId"]) == "Inactive" for i, key in enumerate(own))
