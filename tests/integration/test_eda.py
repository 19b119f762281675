"""Event-driven containment end to end: ansible-rulebook from .venv-eda, the collection's rulebook, source and
playbook, against moto's SQS and IAM on 127.0.0.1. One rulebook run handles the whole sequence of events, as a
long-running activation would, to keep the number of ansible-rulebook starts (and CI time) small."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from eda_rulebook import EDA_BIN, REPO, RulebookRun, make_queue, wait_until
from fake_controller import FakeController
from harness import ADMIN_KEY, ADMIN_SECRET, BIN, COLLECTIONS, STRANGER_KEY, STRANGER_SECRET
from moto_org import ROLE_NAME, MotoOrganization
from tcp_link import TcpLink

SAMPLES = REPO / "tests" / "unit" / "extensions" / "eda" / "samples"
# The rulebook signs as a key moto never issued, so the playbook's owner lookup asks IAM for each key's user,
# and its requests are told apart from the test's own by this key.
CREDENTIALS = {"aws_access_key_id": STRANGER_KEY, "aws_secret_access_key": STRANGER_SECRET}
LOOKUP = Counter(ListAccessKeys=2, GetAccessKeyLastUsed=1)
RECAP = "PLAY RECAP"


def health_event(*key_ids):
    """Return the stored AWS Health exposure event, naming these keys."""
    event = json.loads((SAMPLES / "health_credentials_exposed.json").read_text())
    event["detail"]["affectedEntities"] = [{"entityValue": key_id} for key_id in key_ids]
    return event


def guardduty_finding(name, key_id, user_name):
    """Return a stored GuardDuty finding, naming this key and user."""
    event = json.loads((SAMPLES / f"{name}.json").read_text())
    event["detail"]["resource"]["accessKeyDetails"].update(accessKeyId=key_id, userName=user_name)
    return event


def queue_is_empty(sqs, url):
    """Return whether the queue holds no message, visible or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(attributes[name] == "0" for name in names)


def iam_calls(moto):
    """Return the IAM calls the rulebook's playbooks made since the last clear, by action."""
    calls = Counter()
    for line in moto.recording.read_text().splitlines() if moto.recording.exists() else []:
        entry = json.loads(line)
        if f"Credential={STRANGER_KEY}/" not in entry["headers"].get("Authorization", ""):
            continue
        body = entry.get("body") or ""
        body = base64.b64decode(body).decode() if entry.get("body_encoded") else body
        calls.update(parse_qs(body).get("Action", []))  # IAM's query protocol; SQS's JSON has no Action
    return calls


@pytest.fixture
def link(moto):
    """Yield a cuttable TCP link in front of moto, for the source's SQS traffic."""
    relay = TcpLink(moto.url)
    yield relay
    relay.close()


def test_rulebook_contains_exposed_keys_and_survives_what_a_queue_brings(moto, link, tmp_path):
    keys = {user: moto.user_with_key(user)["AccessKeyId"] for user in ("bob", "carol", "dave", "erin", "frank")}
    gone = moto.add_key("erin")["AccessKeyId"]
    moto.iam.delete_access_key(UserName="erin", AccessKeyId=gone)
    sqs, queue_url, dlq_url = make_queue(moto.url, CREDENTIALS, visibility_timeout=2, max_receive_count=3)
    # The source reaches SQS through the link (and the endpoint_url argument); the playbook reaches IAM directly.
    variables = {"queue_url": queue_url, "region": "us-east-1", "endpoint_url": link.url}
    run = RulebookRun(tmp_path, moto.url, CREDENTIALS, variables)
    try:
        run.wait_for("Polling")
        moto.clear_calls()

        # An AWS Health exposure event: the key is shut off, and the message is gone from the queue.
        health = json.dumps(health_event(keys["bob"]))
        sqs.send_message(QueueUrl=queue_url, MessageBody=health)
        wait_until(lambda: moto.status("bob", keys["bob"]) == "Inactive", what="bob's key to be Inactive")
        wait_until(lambda: queue_is_empty(sqs, queue_url), what="the queue to be empty")
        text = run.wait_for(RECAP, 1)
        assert (
            f"Exposed access key {keys['bob']} of IAM user bob in account 123456789012: "
            "Active -> Inactive (deactivated now)"
        ) in text
        assert iam_calls(moto) == LOOKUP + Counter(UpdateAccessKey=1)

        # The same event again (SQS delivers at least once): nothing changes and nothing fails.
        moto.clear_calls()
        sqs.send_message(QueueUrl=queue_url, MessageBody=health)
        text = run.wait_for(RECAP, 2)
        assert "Active -> Inactive" not in text.split(RECAP)[1]
        assert f"{keys['bob']} of IAM user bob in account 123456789012: Inactive -> Inactive" in text
        assert "already inactive, nothing changed" in text
        assert "failed=1" not in text
        assert iam_calls(moto) == LOOKUP  # read only: no UpdateAccessKey
        assert moto.status("bob", keys["bob"]) == "Inactive"

        # The connection to SQS drops in the middle of a long poll: the source backs off, retries, and goes on.
        # (moto, like SQS, may still hand the next message to the orphaned poll; it comes back after 2 s.)
        link.cut()
        run.wait_for("Receiving from SQS failed")
        link.restore()
        finding = guardduty_finding("guardduty_malicious_ip_caller", keys["carol"], "carol")
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(finding))
        wait_until(lambda: moto.status("carol", keys["carol"]) == "Inactive", what="carol's key to be Inactive")
        run.wait_for(RECAP, 3)

        # Not JSON, an unrelated event and a role's temporary key: none runs the playbook, none stops the source.
        sqs.send_message(QueueUrl=queue_url, MessageBody="this is not JSON {")
        unrelated = (SAMPLES / "guardduty_ec2_ssh_brute_force.json").read_text()
        sqs.send_message(QueueUrl=queue_url, MessageBody=unrelated)
        role_key = "ASIAQ3EGUDGXEXAMPLE1"
        role = guardduty_finding("guardduty_instance_credential_exfiltration", role_key, "web-tier-instance-role")
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(role))
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(health_event(keys["dave"])))
        wait_until(lambda: moto.status("dave", keys["dave"]) == "Inactive", what="dave's key to be Inactive")
        text = run.wait_for(RECAP, 4)
        assert "is not JSON (18 characters); leaving it for the queue's redrive policy" in text
        assert f"NOT CONTAINED: {role_key} in account 123456789012" in text
        assert "temporary credentials (ASIA...)" in text
        # The message that is not JSON was left alone, so the redrive policy moved it to the dead-letter queue.
        moved = wait_until(
            lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages"),
            what="the message that is not JSON in the dead-letter queue",
        )
        assert [m["Body"] for m in moved] == ["this is not JSON {"]

        # A key that no longer exists: the playbook fails and says why; the next event is still handled.
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(health_event(gone)))
        text = run.wait_for(RECAP, 5)
        # (ansible-rulebook prints a failed playbook's output twice: as it runs, and again in its error log.)
        (failure,) = {
            line
            for line in text.splitlines()
            if line.startswith("fatal: [localhost]: FAILED! => {") and "NOT CONTAINED: access key" in line
        }
        assert failure.startswith("fatal: [localhost]: FAILED!")
        assert f"NOT CONTAINED: access key {gone} in account 123456789012: Access key {gone} " in failure
        assert f"Access key {gone} does not exist in this account" in failure
        assert f"The Access Key with id {gone} cannot be found" in failure
        assert "failed=1" in text.split(RECAP)[-1]
        assert "Traceback" not in text
        assert "MODULE FAILURE" not in text
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(health_event(keys["erin"])))
        wait_until(lambda: moto.status("erin", keys["erin"]) == "Inactive", what="erin's key to be Inactive")
        run.wait_for(RECAP, 6)
        wait_until(lambda: queue_is_empty(sqs, queue_url), what="the queue to be empty")
        assert run.process.poll() is None

        # Templates in every field an event carries: none is rendered anywhere (the rulebook's host would run
        # them), none of those keys is acted on, and each is printed for a person with the field that was wrong.
        pwned = tmp_path / "pwned"
        pwned.mkdir()
        hostile = [health_event(keys["frank"]) for _field in range(4)] + [
            guardduty_finding("guardduty_malicious_ip_caller", keys["frank"], "frank") for _field in range(4)
        ]
        hostile[0]["detail"]["affectedAccount"] = pipe(pwned / "account")
        hostile[1]["detail"]["affectedEntities"] = [{"entityValue": pipe(pwned / "key")}]
        hostile[2]["time"] = pipe(pwned / "time")
        hostile[3]["detail"]["affectedEntities"][0]["awsAccountId"] = pipe(pwned / "entity_account")
        hostile[4]["detail"]["accountId"] = pipe(pwned / "guardduty_account")
        hostile[5]["detail"]["resource"]["accessKeyDetails"]["userName"] = pipe(pwned / "user")
        hostile[6]["detail"]["type"] = pipe(pwned / "reason")
        hostile[7]["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = pipe(pwned / "guardduty_key")
        for event in hostile:
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))
        # Then what used to stop the source or jam the rules engine, each followed by a key that must still be
        # contained: a message nested 5000 deep (alone and inside SNS), and keys the engine cannot store.
        jams = ["[" * 5000 + "]" * 5000, sns_notification("[" * 5000 + "]" * 5000)]
        jams += ['{"": 2}', '{"a.b": 1, "": 2, "keyguard": "str"}']
        for jam in jams:
            sqs.send_message(QueueUrl=queue_url, MessageBody=jam)
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(health_event(keys["frank"])))
        wait_until(lambda: moto.status("frank", keys["frank"]) == "Inactive", what="frank's key to be Inactive")
        text = run.wait_for("IAM user frank in account 123456789012: Active -> Inactive (deactivated now)")
        assert text.count("NOT CONTAINED: ") - text.count("NOT CONTAINED: access key") == 1 + len(hostile)
        assert "the account ID is not 12 digits" in text
        assert "the event time is not an ISO 8601 UTC time" in text
        assert "the user name is not an IAM user name" in text
        assert "the finding type is not of GuardDuty's form" in text
        assert "the access key ID is not of AWS's shape" in text
        assert "could not be read (RecursionError, 10000 characters)" in text  # left for the redrive policy
        assert "lookup('pipe'" not in text  # never printed, never handed on
        assert list(pwned.iterdir()) == []
        assert run.process.poll() is None

        # Keys handed over when ansible-rulebook stops. A SIGTERM ends it at once (the embedded JVM exits, so
        # nothing more is logged) and the batch's message is already deleted: a key whose playbook had not run is
        # not contained. What is left to go on is the hand-over line naming every key, and the guide says so.
        batch = {user: moto.user_with_key(user)["AccessKeyId"] for user in ("gail", "hank", "ivan")}
        recaps = run.text().count(RECAP)
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(health_event(*batch.values())))
        run.wait_for(RECAP, recaps + 1)
        assert run.stop() < 10  # the source's 20 s long poll does not hold the stop
        (handed,) = [line for line in run.text().splitlines() if all(key in line for key in batch.values())]
        assert "SQS message " in handed
    finally:
        run.stop()
    text = run.text()
    assert STRANGER_SECRET not in text  # the credentials the source and the playbook use are never printed
    assert "Traceback" not in text


def pipe(path):
    """Return a template that, if ever rendered, creates this file on the host that renders it."""
    return "{{ lookup('pipe', 'id > " + str(path) + "') }}"


def sns_notification(message):
    """Return an SNS notification wrapping this message text, as SNS delivers it to SQS."""
    return json.dumps(
        {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:keyguard", "Message": message}
    )


def test_bad_source_arguments_stop_the_rulebook_with_the_reason(moto, tmp_path):
    _sqs, queue_url, _dlq = make_queue(moto.url, CREDENTIALS)
    run = RulebookRun(tmp_path, moto.url, CREDENTIALS, {"queue_url": queue_url, "region": "us east"})
    try:
        run.process.wait(120)
    finally:
        run.stop()
    assert run.process.returncode != 0
    text = run.text()
    assert (
        "keyguard.aws.exposed_key_events: region must be an AWS region name such as us-east-1, not 'us east'." in text
    )


@pytest.mark.parametrize("rulebook", ["contain_exposed_keys.yml", "contain_exposed_keys_controller.yml"])
def test_rulebooks_pass_ansible_rulebook_schema_and_parser(rulebook):
    script = """
import shutil, sys, yaml
from ansible_rulebook.conf import settings
from ansible_rulebook.rules_parser import parse_rule_sets
settings.ansible_galaxy_path = shutil.which("ansible-galaxy")  # what ansible-rulebook's CLI sets at start
from ansible_rulebook.validators import Validate
data = yaml.safe_load(open(sys.argv[1]))
Validate.rulebook(data)
rulesets = parse_rule_sets(data)
print([(r.name, [rule.name for rule in rs.rules]) for rs in rulesets for r in [rs]])
print([action.action for rs in rulesets for rule in rs.rules for action in rule.actions])
"""
    path = REPO / "extensions" / "eda" / "rulebooks" / rulebook
    env = dict(os.environ, PATH=f"{EDA_BIN}{os.pathsep}{os.environ['PATH']}", ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS))
    result = subprocess.run(
        [str(EDA_BIN / "python"), "-c", script, str(path)], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    names, actions = result.stdout.splitlines()
    assert "Deactivate an exposed access key" in names
    expected = "run_job_template" if "controller" in rulebook else "run_playbook"
    assert actions == str([expected, "debug"])


def test_eda_venv_is_the_pinned_one():
    freeze = subprocess.run(
        [str(EDA_BIN / "python"), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    )
    installed = {line.split("==")[0].lower().replace("_", "-"): line for line in freeze.stdout.splitlines()}
    pins = [
        line
        for line in Path(REPO / "constraints-eda.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    for pin in pins:
        name = pin.split("==")[0].lower().replace("_", "-")
        assert installed.get(name, "").lower().replace("_", "-") == pin.lower().replace("_", "-"), pin


def test_decision_environment_definition_builds_a_context(tmp_path):
    context = tmp_path / "context"
    definition = REPO / "docs" / "decision-environment"
    subprocess.run(
        [str(BIN / "ansible-builder"), "create", "-f", "decision-environment.yml", "-c", str(context)],
        cwd=definition,
        check=True,
        capture_output=True,
    )
    build_file = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists())
    assert "ansible-galaxy collection install" in build_file.read_text()
    assert "keyguard.aws" in (context / "_build" / "requirements.yml").read_text()
    assert "ansible-rulebook" in (context / "_build" / "requirements.txt").read_text()
    assert "java-17-openjdk-headless [platform:rpm]" in (context / "_build" / "bindep.txt").read_text()


def test_java_for_eda_is_only_in_bindep_eda_profile():
    listed = [str(BIN / "bindep"), "-f", str(REPO / "bindep.txt"), "-l", "newline"]
    default = subprocess.run(listed, capture_output=True, text=True, check=True).stdout.split()
    eda = subprocess.run([*listed, "eda"], capture_output=True, text=True, check=True).stdout.split()
    assert default == []  # execution environments for job templates get no Java
    assert len(eda) == 1
    assert eda[0] in ("openjdk-17-jre-headless", "java-17-openjdk-headless")


# --- the playbook by hand: what the rulebook and the AWX job template run ---------------------------------------


def contain_by_hand(ansible, check=False, credentials=(STRANGER_KEY, STRANGER_SECRET), **extra_vars):
    """Run playbooks/contain_exposed_key.yml against moto, credentials from the environment; return the Run."""
    env = {"AWS_ACCESS_KEY_ID": credentials[0], "AWS_SECRET_ACCESS_KEY": credentials[1]}
    env["AWS_ENDPOINT_URL_IAM"] = env["AWS_ENDPOINT_URL_STS"] = ansible.moto.url
    path = REPO / "playbooks" / "contain_exposed_key.yml"
    return ansible.run_file(path, check=check, env=env, extra_vars=extra_vars)


def test_playbook_with_a_role_template_stays_in_the_home_account(ansible, moto):
    key = moto.user_with_key("intern")["AccessKeyId"]
    same_account = dict(
        access_key_id=key,
        account_id="123456789012",
        keyguard_role_arn_template="arn:aws:iam::{account_id}:role/KeyguardContainment",
        keyguard_home_account_id="123456789012",
    )
    preview = contain_by_hand(ansible, check=True, **same_account)
    assert preview.rc == 0, preview.stdout
    expected = f"{key} of IAM user intern in account 123456789012: Active -> Inactive"
    assert f"{expected} (check mode: would be deactivated)" in preview.stdout
    assert moto.status("intern", key) == "Active"
    assert preview.calls == LOOKUP  # check mode reads, never writes, and assumes no role
    applied = contain_by_hand(ansible, **same_account)
    assert applied.rc == 0, applied.stdout
    assert f"{expected} (deactivated now)" in applied.stdout
    assert applied.calls == LOOKUP + Counter(UpdateAccessKey=1)
    assert moto.status("intern", key) == "Inactive"
    again = contain_by_hand(ansible, access_key_id=key)  # no account, no template: the caller's account
    assert again.rc == 0, again.stdout
    assert f"{key} of IAM user intern: Inactive -> Inactive (already inactive, nothing changed)" in again.stdout
    assert again.calls == LOOKUP
    # An account ID that a rulebook's native templating turned into a number gets its leading zero back, and
    # still matches the home account given as a number too: no role is assumed.
    numbers = {**same_account, "account_id": 12345678901, "keyguard_home_account_id": 12345678901}
    renumbered = contain_by_hand(ansible, **numbers)
    assert renumbered.rc == 0, renumbered.stdout
    assert f"{key} of IAM user intern in account 012345678901: Inactive -> Inactive" in renumbered.stdout
    assert renumbered.calls == LOOKUP


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({}, "access_key_id is required: pass -e access_key_id=AKIA..., or run this from the rulebook."),
        (
            {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "keyguard_role_arn_template": "arn:aws:iam::1:role/Fixed"},
            "keyguard_role_arn_template must contain {account_id}",
        ),
    ],
)
def test_playbook_input_errors_are_named_before_any_call(ansible, moto, extra_vars, message):
    run = contain_by_hand(ansible, **extra_vars)
    assert run.rc != 0
    assert message in run.stdout
    assert run.calls == Counter()


KEY = "AKIAIOSFODNN7EXAMPLE"
TEMPLATE = "arn:aws:iam::{account_id}:role/KeyguardContainment"
KEY_SHAPE = "access_key_id must be an IAM user's access key ID: AKIA and 12 to 124 capital letters and digits."
ACCOUNT_SHAPE = "account_id must be an AWS account ID of 12 digits"


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"access_key_id": "AKIA' OR 1=1"}, KEY_SHAPE),
        ({"access_key_id": [KEY]}, KEY_SHAPE),
        ({"access_key_id": f" {KEY}"}, KEY_SHAPE),
        ({"access_key_id": KEY, "account_id": "12-3"}, ACCOUNT_SHAPE),
        ({"access_key_id": KEY, "account_id": "1:role/Evil#", "keyguard_role_arn_template": TEMPLATE}, ACCOUNT_SHAPE),
        (
            {"access_key_id": KEY, "keyguard_role_arn_template": "arn:aws:iam::{account_id}:role/X y"},
            "keyguard_role_arn_template must be an IAM role ARN such as",
        ),
        # A role template without the home account would assume a role even for keys in the caller's account.
        (
            {"access_key_id": KEY, "account_id": "123456789012", "keyguard_role_arn_template": TEMPLATE},
            "keyguard_home_account_id is required with keyguard_role_arn_template: the 12-digit account of the "
            "credentials this playbook runs with",
        ),
        ({"access_key_id": KEY, "keyguard_partition": "aws'"}, "keyguard_partition must be an AWS partition"),
    ],
)
def test_playbook_refuses_inputs_of_the_wrong_shape_before_any_call(ansible, moto, extra_vars, message):
    run = contain_by_hand(ansible, **extra_vars)
    assert run.rc != 0
    assert message in run.stdout
    assert run.calls == Counter()


def test_playbook_without_a_role_template_never_assumes_a_role(ansible, moto):
    key = moto.user_with_key("member")["AccessKeyId"]
    # An account other than the caller's, and no template: the key is looked for with the caller's credentials.
    run = contain_by_hand(ansible, access_key_id=key, account_id="999999999999")
    assert run.rc == 0, run.stdout
    assert f"{key} of IAM user member in account 999999999999: Active -> Inactive" in run.stdout
    assert run.calls == LOOKUP + Counter(UpdateAccessKey=1)  # no AssumeRole
    assert moto.status("member", key) == "Inactive"


def test_the_containment_identitys_own_key_is_reported_not_contained(ansible, moto):
    own = moto.user_with_key("eda-runner")
    run = contain_by_hand(
        ansible, credentials=(own["AccessKeyId"], own["SecretAccessKey"]), access_key_id=own["AccessKeyId"]
    )
    assert run.rc != 0
    assert (
        f"NOT CONTAINED: access key {own['AccessKeyId']}: it is the key the containment credentials sign with; "
        "deactivating it would leave the rulebook unable to contain any later key."
    ) in " ".join(run.stdout.split())
    assert "Traceback" not in run.stdout
    assert moto.status("eda-runner", own["AccessKeyId"]) == "Active"


def test_controller_rulebook_launches_the_job_template_with_the_key(moto, tmp_path):
    key = moto.user_with_key("intern")["AccessKeyId"]
    sqs, queue_url, _dlq = make_queue(moto.url, CREDENTIALS)
    variables = {"queue_url": queue_url, "job_template": "Contain exposed AWS access key", "organization": "Security"}
    playbook = [str(EDA_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local"]
    playbook.append(str(REPO / "playbooks" / "contain_exposed_key.yml"))
    controller = None
    run = None
    try:
        controller = FakeController("Contain exposed AWS access key", "Security", playbook, env=None)
        run = RulebookRun(
            tmp_path,
            moto.url,
            CREDENTIALS,
            variables,
            rulebook="keyguard.aws.contain_exposed_keys_controller",
            extra_args=("--controller-url", controller.url, "--controller-token", "not-a-real-token"),
        )
        # The controller runs the job's playbook with the environment the rulebook has (credentials, endpoints).
        controller.env = dict(run.env, ANSIBLE_PYTHON_INTERPRETER=str(EDA_BIN / "python"))
        run.wait_for("Polling")
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(health_event(key)))
        wait_until(lambda: moto.status("intern", key) == "Inactive", what="intern's key to be Inactive")
        wait_until(lambda: controller.jobs and controller.jobs[101]["status"] != "running", what="the job to end")
        (launch,) = controller.launches
        assert launch["extra_vars"]["access_key_id"] == key
        # ansible-rulebook renders "{{ event.keyguard.account_id }}" natively: a number; the playbook copes.
        assert str(launch["extra_vars"]["account_id"]) == "123456789012"
        # Only the checked keyguard fields reach the job (var_root), never the raw event.
        assert launch["extra_vars"]["ansible_eda"]["event"]["access_key_id"] == key
        assert "raw" not in launch["extra_vars"]["ansible_eda"]["event"]
        assert controller.jobs[101]["status"] == "successful", controller.jobs[101]["stdout"]
        assert f"{key} of IAM user intern in account 123456789012: Active -> Inactive" in controller.jobs[101]["stdout"]
    finally:
        if run:
            run.stop()
        if controller:
            controller.close()


def test_playbook_contains_a_key_in_a_member_account_through_its_role_only(ansible, moto):
    aws = MotoOrganization(moto.url, ADMIN_KEY, ADMIN_SECRET)
    member = aws.account("member")
    iam = aws.member(member)
    iam.create_user(UserName="leaky")
    key = iam.create_access_key(UserName="leaky")["AccessKey"]["AccessKeyId"]
    home = moto.user_with_key("leaky")["AccessKeyId"]  # the same user name in the management account
    across = dict(
        access_key_id=key,
        account_id=member,
        keyguard_role_arn_template="arn:aws:iam::{account_id}:role/" + ROLE_NAME,
        keyguard_home_account_id=aws.management_id,
    )
    admin = (ADMIN_KEY, ADMIN_SECRET)
    applied = contain_by_hand(ansible, credentials=admin, **across)
    assert applied.rc == 0, applied.stdout
    assert f"{key} of IAM user leaky in account {member}: Active -> Inactive (deactivated now)" in applied.stdout
    assert aws.keys(member)[key] == ("leaky", "Inactive")
    assert moto.status("leaky", home) == "Active"  # the management account's user of the same name is untouched
    (assumed,) = [params for action, params in applied.requests if action == "AssumeRole"]
    assert assumed["RoleArn"] == f"arn:aws:iam::{member}:role/{ROLE_NAME}"
    assert assumed["RoleSessionName"] == "keyguard-contain-exposed-key"
    assert applied.calls == LOOKUP + Counter(AssumeRole=1, UpdateAccessKey=1)
    again = contain_by_hand(ansible, credentials=admin, **across)
    assert again.rc == 0, again.stdout
    assert f"{key} of IAM user leaky in account {member}: Inactive -> Inactive (already inactive" in again.stdout
    assert again.calls == LOOKUP + Counter(AssumeRole=1)
