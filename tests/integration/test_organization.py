"""An AWS Organization on moto: the accounts inventory, role assumption, and the organization sweep.

moto keeps every account apart and maps credentials from sts:AssumeRole to the role's account, so each account's
keys are made, swept and read back inside that account only.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from fault_proxy import FaultProxy
from harness import ADMIN_KEY, ADMIN_SECRET, BIN, REPO, assert_clean_failure, clean_environment, unwrapped
from test_awx_runner import injected, sts_credentials

sys.path.insert(0, str(REPO / "tools"))
from moto_org import MotoOrganization  # noqa: E402

from ansible_collections.keyguard.aws.plugins.inventory import accounts  # noqa: E402
from ansible_collections.keyguard.aws.plugins.module_utils._aws import CONNECTION_ARGS  # noqa: E402
from ansible_collections.keyguard.aws.plugins.module_utils._organizations import DEFAULT_ROLE_ARN_TEMPLATE  # noqa: E402

# Every test here also runs on the oldest end of the support matrix (`make matrix-oldest`).
pytestmark = pytest.mark.organization

SWEEP = REPO / "playbooks" / "org_cis_sweep.yml"
BASE = {"AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET}
ORG_ACTIONS = {"ListAccounts", "ListAccountsForParent", "ListOrganizationalUnitsForParent", "ListRoots"}


@dataclass
class Org:
    """The organization under test: its accounts by name, and each account's keys by role in the test."""

    moto: object
    aws: MotoOrganization
    ids: dict  # account name -> account ID
    stale: dict  # account ID -> IDs of the Active keys unused for 100 days
    units: dict  # OU name -> OU ID
    today: FaultProxy  # what ansible reaches Organizations through: moto, answering as AWS does today

    def keys(self, name):
        """Return {access_key_id: status} of the account's keys, read from its own IAM."""
        return {key: status for key, (_user, status) in self.aws.keys(self.ids[name]).items()}

    def all_keys(self):
        """Return {account name: {access_key_id: status}} for the management account and every member."""
        return {name: self.keys(name) for name in self.ids if name != "delta"}


@pytest.fixture
def aws_today(moto, ansible):
    """Route every run's Organizations calls through a proxy that answers as AWS does today (no Account.Status)."""
    proxy = FaultProxy(moto.url)
    ansible.env["AWS_ENDPOINT_URL_ORGANIZATIONS"] = proxy.url
    yield proxy
    proxy.close()


@pytest.fixture
def org(moto, aws_today):
    """An organization: alpha in Workloads/Prod, beta in Workloads, gamma under the root, delta closed.

    Each member has a user with a key unused for 100 days, one with a fresh key and one with an old key already
    Inactive; the management account has a stale key of its own, which the sweep must never touch.
    Every ansible run reaches Organizations through `aws_today`, so that no run sees the retired Account.Status.
    """
    aws = MotoOrganization(moto.url, ADMIN_KEY, ADMIN_SECRET)
    units = {"Workloads": aws.unit("Workloads")}
    units["Prod"] = aws.unit("Prod", units["Workloads"])
    ids = {
        "alpha": aws.account("alpha", units["Prod"]),
        "beta": aws.account("beta", units["Workloads"]),
        "gamma": aws.account("gamma"),
        "delta": aws.account("delta"),
        "master": aws.management_id,
    }
    stale = {}
    for name in ("alpha", "beta", "gamma", "delta"):
        iam = aws.member(ids[name])
        moto.days_ago(100)
        iam.create_user(UserName="old-robot")
        stale[ids[name]] = {iam.create_access_key(UserName="old-robot")["AccessKey"]["AccessKeyId"]}
        iam.create_user(UserName="retired")
        retired = iam.create_access_key(UserName="retired")["AccessKey"]["AccessKeyId"]
        iam.update_access_key(UserName="retired", AccessKeyId=retired, Status="Inactive")
        moto.days_ago(0)
        iam.create_user(UserName="deploy")
        iam.create_access_key(UserName="deploy")
    moto.days_ago(100)
    moto.user_with_key("management-robot")  # in the management account, with the admin's own credentials
    moto.days_ago(0)
    aws.close(ids["delta"])
    moto.clear_calls()
    return Org(moto, aws, ids, stale, units, aws_today)


def environment(ansible, moto, **extra):
    """Return the environment of a run: every AWS service at moto, the management account's keys as the base."""
    return dict(ansible.env, AWS_ENDPOINT_URL=moto.url, **BASE, **extra)


def inventory_source(tmp_path, name="org.accounts.yml", **options):
    """Write an accounts inventory source with these options; return its path."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(dict(plugin="keyguard.aws.accounts", **options)))
    return path


def inventory(ansible, moto, source, *args, env=None, cwd=None):
    """Run ansible-inventory --list on the source; return (completed process, parsed output or None)."""
    command = [str(BIN / "ansible-inventory"), "-i", str(source), "--list", *args]
    done = subprocess.run(
        command,
        env=env or environment(ansible, moto),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    done.stderr = unwrapped(done.stderr)
    return done, (json.loads(done.stdout) if done.returncode == 0 else None)


def hosts_of(listing, group):
    """Return the hosts directly in a group of ansible-inventory's listing."""
    return set(listing.get(group, {}).get("hosts", []))


def plain(hostvars):
    """Return host vars without ansible-inventory's trust markers."""
    return {
        k: v["__ansible_unsafe"] if isinstance(v, dict) and "__ansible_unsafe" in v else v for k, v in hostvars.items()
    }


def calls(moto, actions=None):
    """Return the recorded calls since the last clear, counted by action (only these actions, if given)."""
    counted = Counter(action for action, _params in moto.requests())
    return Counter({k: v for k, v in counted.items() if actions is None or k in actions})


def sweep(ansible, moto, source, *args, env=None, cwd=None, report_dir="reports"):
    """Run the organization sweep on the inventory source; return (rc, stdout).

    Journals go to the test's directory, and so does the report (report_dir None: the playbook's default).
    """
    command = [str(BIN / "ansible-playbook"), "-i", str(source), str(SWEEP), "--forks", "3", *args]
    command += ["-e", f"keyguard_journal_dir={ansible.workdir / 'journals'}"]
    if report_dir is not None:
        command += ["-e", f"keyguard_report_dir={ansible.workdir / report_dir}"]
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env or environment(ansible, moto),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout


def report_csv(directory):
    """Return the rows of the sweep report's CSV in the directory."""
    with open(directory / "keyguard-keys.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def printed_summary(stdout):
    """Return the org_sweep_summary that the playbook's report task printed."""
    task = stdout.index("TASK [Report found, changed and failed per account]")
    block = stdout[stdout.index("=> {", task) + 3 :]
    return json.loads(block[: block.index("\n}\n") + 2])["org_sweep_summary"]


def recap(stdout):
    """Return {host: {ok, changed, failed, ...}} from the play recap."""
    rows = re.findall(r"^(\S+)\s+: (.*)$", stdout.split("PLAY RECAP")[1], re.MULTILINE)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stats)} for host, stats in rows}


def member_source(tmp_path, org, **options):
    """Write an inventory source of the member accounts (the management account left out)."""
    return inventory_source(tmp_path, exclude_accounts=[org.ids["master"]], **options)


def test_inventory_lists_active_accounts_with_their_vars(ansible, moto, org, tmp_path):
    done, listing = inventory(ansible, moto, inventory_source(tmp_path))

    assert done.returncode == 0, done.stderr
    hostvars = {host: plain(v) for host, v in listing["_meta"]["hostvars"].items()}
    assert set(hostvars) == {org.ids[name] for name in ("alpha", "beta", "gamma", "master")}  # delta is SUSPENDED
    alpha = org.ids["alpha"]
    assert hostvars[alpha] == {
        "account_id": alpha,
        "account_name": "alpha",
        "account_email": "alpha@example.com",
        "account_state": "ACTIVE",
        "account_status": "ACTIVE",
        "account_arn": hostvars[alpha]["account_arn"],
        "account_ou_id": None,
        "account_ou_path": None,
        "account_role_arn": f"arn:aws:iam::{alpha}:role/OrganizationAccountAccessRole",
        "ansible_connection": "local",
    }
    assert (
        hostvars[alpha]["account_arn"].startswith("arn:aws:organizations::") and alpha in hostvars[alpha]["account_arn"]
    )
    assert hosts_of(listing, "ungrouped") == set(hostvars)
    assert calls(moto) == Counter({"ListAccounts": 1})  # the listing, and no other call


def test_inventory_reads_state_now_that_aws_no_longer_sends_status(ansible, moto, org, tmp_path):
    done, listing = inventory(ansible, moto, inventory_source(tmp_path))

    assert done.returncode == 0, done.stderr
    # Before State was read, every account failed the ACTIVE filter on the missing Status: an empty inventory.
    hostvars = {host: plain(v) for host, v in listing["_meta"]["hostvars"].items()}
    assert set(hostvars) == {org.ids[name] for name in ("alpha", "beta", "gamma", "master")}
    assert {(v["account_state"], v["account_status"]) for v in hostvars.values()} == {("ACTIVE", "ACTIVE")}
    (reply,) = [json.loads(body) for action, body in org.today.replies if action == "ListAccounts"]
    assert len(reply["Accounts"]) == 5 and all("State" in a and "Status" not in a for a in reply["Accounts"])
    assert "deprecat" not in done.stderr.lower()


def test_inventory_suspended_accounts_on_request_and_filters(ansible, moto, org, tmp_path):
    source = inventory_source(
        tmp_path,
        account_states=["ACTIVE", "SUSPENDED"],
        exclude_accounts=[org.ids["master"]],
        account_name_pattern="^(alpha|delta|gamma)$",
        hostname="name",
        role_arn_template="arn:{partition}:iam::{account_id}:role/audit/Keyguard-{account_name}",
    )
    done, listing = inventory(ansible, moto, source)

    assert done.returncode == 0, done.stderr
    hostvars = {host: plain(v) for host, v in listing["_meta"]["hostvars"].items()}
    assert set(hostvars) == {"alpha", "delta", "gamma"}
    assert hostvars["delta"]["account_state"] == "SUSPENDED"
    assert hostvars["gamma"]["account_role_arn"] == f"arn:aws:iam::{org.ids['gamma']}:role/audit/Keyguard-gamma"

    included = inventory_source(tmp_path, name="two.accounts.yml", include_accounts=[org.ids["beta"], org.ids["gamma"]])
    done, listing = inventory(ansible, moto, included)
    assert set(listing["_meta"]["hostvars"]) == {org.ids["beta"], org.ids["gamma"]}


@pytest.mark.matrix  # the "both set" check must hold on the oldest ansible-core too (2.19.0 knows no option origins)
def test_inventory_account_statuses_still_works_with_a_deprecation(ansible, moto, org, tmp_path):
    source = inventory_source(tmp_path, account_statuses=["SUSPENDED"])
    done, listing = inventory(ansible, moto, source)

    assert done.returncode == 0, done.stderr
    assert set(listing["_meta"]["hostvars"]) == {org.ids["delta"]}
    assert plain(listing["_meta"]["hostvars"][org.ids["delta"]])["account_status"] == "SUSPENDED"
    warning = " ".join(done.stderr.split())
    assert "account_statuses option" in warning and "Alternatives: account_states" in warning, warning

    both = inventory_source(tmp_path, name="both.accounts.yml", account_statuses=["ACTIVE"], account_states=["ACTIVE"])
    env = environment(
        ansible, moto, ANSIBLE_INVENTORY_ENABLED="keyguard.aws.accounts", ANSIBLE_INVENTORY_UNPARSED_FAILED="1"
    )
    done, _listing = inventory(ansible, moto, both, env=env)
    assert done.returncode != 0
    assert (
        "keyguard.aws.accounts: account_states and account_statuses (deprecated) both set; keep account_states."
    ) in " ".join(done.stderr.split())


def test_inventory_walks_units_with_groups_compose_and_keyed_groups(ansible, moto, org, tmp_path):
    source = inventory_source(
        tmp_path,
        organizational_units=[org.units["Workloads"]],
        compose={"short_id": "account_id[-4:]"},
        keyed_groups=[{"key": "account_email.split('@')[1]", "prefix": "domain"}],
        groups={"production": "'Prod' in account_ou_path"},
        strict=True,
    )
    done, listing = inventory(ansible, moto, source)

    assert done.returncode == 0, done.stderr
    alpha, beta = org.ids["alpha"], org.ids["beta"]
    hostvars = {host: plain(v) for host, v in listing["_meta"]["hostvars"].items()}
    assert set(hostvars) == {alpha, beta}  # gamma sits under the root, outside the OU
    assert hostvars[alpha]["account_ou_path"] == "Workloads/Prod"
    assert hostvars[alpha]["account_ou_id"] == org.units["Prod"]
    assert hostvars[beta]["account_ou_path"] == "Workloads"
    assert hostvars[alpha]["short_id"] == alpha[-4:]
    assert hosts_of(listing, "ou_workloads") == {beta}
    assert listing["ou_workloads"]["children"] == ["ou_workloads_prod"]
    assert hosts_of(listing, "ou_workloads_prod") == {alpha}
    assert hosts_of(listing, "production") == {alpha}
    assert hosts_of(listing, "domain_example_com") == {alpha, beta}
    assert calls(moto) == Counter(
        {"DescribeOrganizationalUnit": 1, "ListAccountsForParent": 2, "ListOrganizationalUnitsForParent": 2}
    )


def test_inventory_cache_serves_the_listing_until_flushed(ansible, moto, org, tmp_path):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache")}
    source = inventory_source(tmp_path, **cache)

    done, first = inventory(ansible, moto, source)
    assert done.returncode == 0, done.stderr
    assert calls(moto, ORG_ACTIONS) == Counter({"ListAccounts": 1})

    moto.clear_calls()
    late = org.aws.account("late")
    done, cached = inventory(ansible, moto, source)
    assert calls(moto, ORG_ACTIONS) == Counter()  # served from the cache
    assert cached["_meta"]["hostvars"] == first["_meta"]["hostvars"]
    assert late not in cached["_meta"]["hostvars"]

    # ansible-playbook has --flush-cache at every ansible-core this collection supports (ansible-inventory from 2.17).
    play = tmp_path / "nothing.yml"
    play.write_text("- name: Nothing\n  hosts: all\n  gather_facts: false\n  tasks: []\n")
    command = [str(BIN / "ansible-playbook"), "-i", str(source), "--flush-cache", str(play)]
    flush = subprocess.run(
        command, env=environment(ansible, moto), capture_output=True, text=True, timeout=120, check=False
    )
    assert flush.returncode == 0, flush.stdout + flush.stderr
    assert calls(moto, ORG_ACTIONS) == Counter({"ListAccounts": 1})
    moto.clear_calls()
    done, flushed = inventory(ansible, moto, source)
    assert calls(moto, ORG_ACTIONS) == Counter()  # the flush wrote the new listing to the cache
    assert late in flushed["_meta"]["hostvars"]


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"include_accounts": ["12345"]}, "include_accounts: '12345' is not an AWS account ID"),
        ({"organizational_units": ["Workloads"]}, "organizational_units: 'Workloads' is not a root ID"),
        ({"role_arn_template": "arn:aws:iam::{account}:role/X"}, "role_arn_template uses {account}"),
        ({"role_arn_template": "arn:aws:iam::{account_id}:user/X"}, "role_arn_template must give an IAM role ARN"),
        (
            {"role_arn_template": "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"},
            "role_arn_template must have {account_id} as the ARN's account",
        ),
        ({"account_name_pattern": "(prod"}, "account_name_pattern is not a valid regular expression"),
        ({"assume_role_arn": "arn:aws:iam::123:role/Org"}, "assume_role_arn must be an IAM role ARN"),
        (
            {"assume_role_arn": "arn:aws:iam::123456789012:role/Org", "assume_role_external_id": "a\x07b"},
            "assume_role_external_id must be",
        ),
        (
            {"assume_role_duration_seconds": 60, "assume_role_arn": "arn:aws:iam::123456789012:role/Org"},
            "assume_role_duration_seconds must be between 900 and 43200",
        ),
        ({"access_key": ADMIN_KEY}, "access_key and secret_key go together"),
    ],
    ids=[
        "account-id",
        "ou-id",
        "template-field",
        "template-shape",
        "template-one-account",
        "name-pattern",
        "role-arn",
        "external-id",
        "duration",
        "half-keys",
    ],
)
def test_inventory_bad_options_fail_naming_the_option_before_any_call(ansible, moto, tmp_path, options, fragment):
    source = inventory_source(tmp_path, **options)
    env = environment(
        ansible, moto, ANSIBLE_INVENTORY_ENABLED="keyguard.aws.accounts", ANSIBLE_INVENTORY_UNPARSED_FAILED="1"
    )
    done, _listing = inventory(ansible, moto, source, env=env)

    assert done.returncode != 0
    assert f"keyguard.aws.accounts: {fragment}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert moto.requests() == []


def test_inventory_through_an_assumed_role_names_the_role_it_cannot_assume(ansible, moto, org, tmp_path, fault_proxy):
    reader = f"arn:aws:iam::{org.ids['master']}:role/OrganizationsReader"
    source = inventory_source(tmp_path, assume_role_arn=reader, assume_role_session_name="inventory-test")
    done, listing = inventory(ansible, moto, source)
    assert done.returncode == 0, done.stderr
    assert len(listing["_meta"]["hostvars"]) == 4
    assumed = [params for action, params in moto.requests() if action == "AssumeRole"]
    assert [(p["RoleArn"], p["RoleSessionName"], p["DurationSeconds"]) for p in assumed] == [
        (reader, "inventory-test", "900")
    ]

    fault_proxy.fail(
        "AssumeRole", 10, status=403, code="AccessDenied", message="not authorized", match={"RoleArn": reader}
    )
    env = environment(
        ansible,
        moto,
        AWS_ENDPOINT_URL_STS=fault_proxy.url,
        ANSIBLE_INVENTORY_ENABLED="keyguard.aws.accounts",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="1",
    )
    done, _listing = inventory(ansible, moto, source, env=env)
    assert done.returncode != 0
    assert f"keyguard.aws.accounts: cannot assume role {reader}: AccessDenied: not authorized" in done.stderr


def test_sweep_with_forks_changes_exactly_each_accounts_stale_keys(ansible, moto, org, tmp_path):
    source = member_source(tmp_path, org)
    before = org.all_keys()
    members = [org.ids[name] for name in ("alpha", "beta", "gamma")]

    moto.clear_calls()
    rc, stdout = sweep(ansible, moto, source, "--check")
    assert "UpdateAccessKey" not in calls(moto)
    assert rc == 0, stdout
    assert org.all_keys() == before  # check mode wrote nothing
    summary = printed_summary(stdout)
    assert {host: (s["found"], s["changed"], s["failed"], s["error"]) for host, s in summary.items()} == {
        host: (1, 1, 0, None) for host in members
    }
    assert {host: s["outcome"] for host, s in summary.items()} == dict.fromkeys(
        members, "would deactivate 1 of 1 stale keys (check mode: nothing changed)"
    )
    assert not (ansible.workdir / "journals").exists()  # check mode saves no journal

    moto.clear_calls()
    rc, stdout = sweep(ansible, moto, source)
    requests = moto.requests()
    assert rc == 0, stdout
    after = org.all_keys()
    for name, keys in before.items():
        account_id = org.ids[name]
        expected = {
            key: "Inactive" if key in org.stale.get(account_id, set()) and name != "master" else status
            for key, status in keys.items()
        }
        assert after[name] == expected, name
    assert after["master"] == before["master"]  # not in the inventory: its stale key stays Active
    assert {host: (s["changed"], s["outcome"]) for host, s in printed_summary(stdout).items()} == dict.fromkeys(
        members, (1, "deactivated 1 of 1 stale keys")
    )
    assumed = Counter(params["RoleArn"] for action, params in requests if action == "AssumeRole")
    # one AssumeRole per account: the policy is one task
    assert assumed == Counter({f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole": 1 for member in members})
    # each account's journal saved on the controller, one file per account, mode 0600
    journals = {path.name.split("-")[0]: path for path in (ansible.workdir / "journals").iterdir()}
    assert set(journals) == set(members)
    for member, path in journals.items():
        assert path.stat().st_mode & 0o777 == 0o600
        saved = json.loads(path.read_text())
        assert [(e["account_id"], e["type"], e["access_key_id"]) for e in saved["journal"]] == [
            (member, "status", key) for key in org.stale[member]
        ]
    assert {params["RoleSessionName"] for action, params in requests if action == "AssumeRole"} == {
        "keyguard-org-sweep"
    }

    moto.clear_calls()
    rc, stdout = sweep(ansible, moto, source)
    assert calls(moto, {"AssumeRole", "UpdateAccessKey"}) == Counter({"AssumeRole": 3})
    assert rc == 0, stdout
    assert org.all_keys() == after
    assert all(stats["changed"] == 0 for stats in recap(stdout).values())  # nothing stale: the deactivation is skipped


def test_sweep_fails_only_the_account_whose_role_cannot_be_assumed(ansible, moto, org, tmp_path, fault_proxy):
    source = member_source(tmp_path, org)
    before = org.all_keys()
    beta_role = f"arn:aws:iam::{org.ids['beta']}:role/OrganizationAccountAccessRole"
    fault_proxy.fail(
        "AssumeRole",
        100,
        status=403,
        code="AccessDenied",
        message=f"User: arn:aws:iam::{org.ids['master']}:user/admin is not authorized to perform: sts:AssumeRole on resource: {beta_role}",
        match={"RoleArn": beta_role},
    )
    rc, stdout = sweep(
        ansible, moto, source, "-vvvv", env=environment(ansible, moto, AWS_ENDPOINT_URL_STS=fault_proxy.url)
    )

    assert rc == 2, stdout
    stats = recap(stdout)
    assert stats[org.ids["beta"]]["failed"] == 1
    assert stats[org.ids["alpha"]]["failed"] == 0 and stats[org.ids["gamma"]]["failed"] == 0
    summary = printed_summary(stdout)
    assert summary[org.ids["beta"]]["error"].startswith(f"cannot assume role {beta_role}: AccessDenied: User: ")
    assert (summary[org.ids["beta"]]["found"], summary[org.ids["beta"]]["changed"]) == (None, 0)
    assert summary[org.ids["alpha"]]["changed"] == 1 and summary[org.ids["gamma"]]["changed"] == 1
    after = org.all_keys()
    assert after["beta"] == before["beta"]
    assert set(after["alpha"].values()) == {"Inactive", "Active"} and after["alpha"] != before["alpha"]
    assert "MODULE FAILURE" not in stdout and "Traceback" not in stdout
    # The report was assembled once, after every account, the failed one included, with its reason.
    assert stdout.count("TASK [Write the sweep report of every account]") == 1
    rows = report_csv(ansible.workdir / "reports")
    (not_swept,) = [row for row in rows if row["action"] == "not_swept"]
    assert (not_swept["account_id"], not_swept["reason"]) == (org.ids["beta"], summary[org.ids["beta"]]["error"])
    for name in ("alpha", "gamma"):
        listed = {r["access_key_id"]: r["status_after"] for r in rows if r["account_id"] == org.ids[name]}
        with_id = {key: status for key, status in listed.items() if key}  # the others have a slot, not an ID
        assert with_id == {key: after[name][key] for key in with_id} and org.stale[org.ids[name]] <= set(with_id)
        assert {after[name][key] for key in org.stale[org.ids[name]]} == {"Inactive"}
        assert len([r for r in rows if r["account_id"] == org.ids[name]]) == len(after[name]) == 3  # all keys
    # The role credentials of the other accounts went through the proxy: none of them is printed at -vvvv.
    handed_out = assumed_secrets(fault_proxy)
    assert len(handed_out) == 2 * 1 * 2  # alpha and gamma, one task each, a secret key and a token each
    assert [secret for secret in handed_out if secret in stdout] == []


def assumed_secrets(proxy):
    """Return every secret access key and session token that STS handed out through the proxy."""
    secrets = []
    for action, body in proxy.replies:
        if action == "AssumeRole":
            secrets += re.findall(r"<(?:SecretAccessKey|SessionToken)>([^<]+)<", body)
    return secrets


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"assume_role_arn": "arn:aws:iam::12345678901:role/Org"}, "assume_role_arn must be an IAM role ARN"),
        ({"iam_role_arn": "arn:aws:s3:::bucket"}, "assume_role_arn must be an IAM role ARN"),
        (
            {"assume_role_arn": "arn:aws:iam::123456789012:role/Org", "assume_role_external_id": "tenant\n42"},
            "assume_role_external_id must be 2 to 1224 letters",
        ),
        (
            {"assume_role_arn": "arn:aws:iam::123456789012:role/Org", "assume_role_session_name": "has space"},
            "assume_role_session_name must be 2 to 64",
        ),
        (
            {"assume_role_arn": "arn:aws:iam::123456789012:role/Org", "assume_role_duration_seconds": 43201},
            "assume_role_duration_seconds must be between 900 and 43200",
        ),
    ],
    ids=["short-account", "alias-not-a-role", "external-id-newline", "session-name", "duration"],
)
def test_module_bad_role_options_fail_before_any_call(ansible, moto, args, fragment):
    task = dict(user_name="someone", access_key_id="AKIAIOSFODNN7EXAMPLE", status="Inactive", **args)
    run = ansible.run(task, env=dict(BASE, AWS_ENDPOINT_URL=moto.url))

    assert_clean_failure(run, fragment)
    assert run.requests == []


def test_module_external_id_needs_a_role(ansible, moto):
    task = dict(
        user_name="someone",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        status="Inactive",
        assume_role_external_id="tenant-42",
    )
    run = ansible.run(task, env=dict(BASE, AWS_ENDPOINT_URL=moto.url))

    assert_clean_failure(run, "assume_role_external_id", "assume_role_arn")
    assert run.requests == []


def test_module_assumes_the_role_once_and_works_in_its_account(ansible, moto, org, fault_proxy):
    alpha = org.ids["alpha"]
    (stale_key,) = org.stale[alpha]
    role = f"arn:aws:iam::{alpha}:role/OrganizationAccountAccessRole"
    task = dict(
        user_name="old-robot",
        access_key_id=stale_key,
        status="Inactive",
        assume_role_arn=role,
        assume_role_external_id="tenant-42",
        assume_role_duration_seconds=1800,
    )
    run = ansible.run(
        task, env=dict(BASE, AWS_ENDPOINT_URL=moto.url, AWS_ENDPOINT_URL_STS=fault_proxy.url), verbosity=4
    )

    assert run.result["changed"] is True, run.stdout
    assert run.result["access_key"]["status"] == "Inactive"
    assert org.keys("alpha")[stale_key] == "Inactive"
    assert [action for action, _params in fault_proxy.applied] == ["AssumeRole"]
    assert fault_proxy.applied[0][1] == {
        "Version": "2011-06-15",
        "RoleArn": role,
        "RoleSessionName": "keyguard-aws",
        "DurationSeconds": "1800",
        "ExternalId": "tenant-42",
    }
    assert run.calls == Counter({"AssumeRole": 1, "ListAccessKeys": 1, "UpdateAccessKey": 1})
    secrets = assumed_secrets(fault_proxy)
    assert len(secrets) == 2
    assert [secret for secret in secrets if secret in run.stdout or secret in json.dumps(run.result)] == []


def test_sweep_through_ansible_runner_with_awx_credentials_as_the_base(ansible, moto, org, tmp_path, fault_proxy):
    base = sts_credentials(moto)  # what an AWX "Amazon Web Services" credential backed by STS injects
    private = tmp_path / "job"
    (private / "project" / "templates").mkdir(parents=True)
    (private / "inventory").mkdir()
    (private / "env").mkdir()
    shutil.copy(SWEEP, private / "project")
    shutil.copy(SWEEP.parent / "templates" / "org_sweep_summary.j2", private / "project" / "templates")
    shutil.copytree(SWEEP.parent / "tasks", private / "project" / "tasks")
    (private / "inventory" / "org.accounts.yml").write_text(
        yaml.safe_dump({"plugin": "keyguard.aws.accounts", "exclude_accounts": [org.ids["master"]]})
    )
    envvars = injected(base, ("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"))
    envvars.update(AWS_ENDPOINT_URL=moto.url, AWS_ENDPOINT_URL_STS=fault_proxy.url)
    (private / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (private / "env" / "extravars").write_text(yaml.safe_dump({"unused_days": 45}))
    command = [str(BIN / "ansible-runner"), "run", str(private), "-p", "org_cis_sweep.yml", "--ident", "job"]
    command += ["--forks", "3", "-vvvv"]
    subprocess.run(command, env=ansible.env, capture_output=True, text=True, timeout=300, check=False)
    artifacts = private / "artifacts" / "job"
    stdout = (artifacts / "stdout").read_text()
    events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"))]

    assert (artifacts / "status").read_text() == "successful", stdout
    members = {org.ids[name] for name in ("alpha", "beta", "gamma")}
    changed = {
        e["event_data"]["host"]
        for e in events
        if e["event"] == "runner_on_ok" and e["event_data"]["task"].startswith("Deactivate (or, with grace_days")
        if e["event_data"]["res"]["changed"]
    }
    assert changed == members
    for name in ("alpha", "beta", "gamma"):
        assert {key: status for key, status in org.keys(name).items() if key in org.stale[org.ids[name]]} == {
            key: "Inactive" for key in org.stale[org.ids[name]]
        }
    (stats,) = [e for e in events if e["event"] == "playbook_on_stats"]
    summary = stats["event_data"]["artifact_data"]["keyguard_org_sweep"]
    assert {host: (s["found"], s["changed"], s["failed"]) for host, s in summary.items()} == dict.fromkeys(
        members, (1, 1, 0)
    )
    # the report's headline numbers too; the report itself is in the project directory, where the job ran
    report = stats["event_data"]["artifact_data"]["keyguard_report"]
    assert {
        k: report[k] for k in ("accounts_swept", "accounts_failed", "keys_seen", "keys_stale", "keys_deactivated")
    } == {
        "accounts_swept": 3,
        "accounts_failed": 0,
        "keys_seen": sum(len(org.keys(name)) for name in ("alpha", "beta", "gamma")),
        "keys_stale": sum(s["found"] for s in summary.values()),
        "keys_deactivated": sum(s["changed"] for s in summary.values()),
    }
    assert report["check_mode"] is False
    assert report["html"].startswith(f"{private / 'project' / 'keyguard-reports'}/") and Path(report["html"]).is_file()
    # every account's journal is an artifact of the job too, keyed by account
    journals = stats["event_data"]["artifact_data"]["keyguard_journals"]
    assert set(journals) == members
    for member, saved in journals.items():
        assert saved["check_mode"] is False
        assert [(e["type"], e["access_key_id"], e["after"]) for e in saved["journal"]] == [
            ("status", key, "Inactive") for key in org.stale[member]
        ]
    handed_out = assumed_secrets(fault_proxy)
    assert len(handed_out) == 3 * 1 * 2
    everything = stdout + json.dumps(events)
    leaked = [s for s in (*handed_out, base["SecretAccessKey"], base["SessionToken"]) if s in everything]
    assert leaked == []


def test_guard_still_protects_the_base_key_under_an_assumed_role(ansible, moto, org):
    base = moto.user_with_key("automation")  # the management account's own key, the base of the role below
    role = f"arn:aws:iam::{org.ids['master']}:role/KeyguardAdmin"
    task = dict(user_name="automation", access_key_id=base["AccessKeyId"], status="Inactive", assume_role_arn=role)
    credentials = {"AWS_ACCESS_KEY_ID": base["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": base["SecretAccessKey"]}
    run = ansible.run(task, env=dict(credentials, AWS_ENDPOINT_URL=moto.url))

    assert_clean_failure(run, f"Refusing to deactivate access key {base['AccessKeyId']}")
    assert moto.status("automation", base["AccessKeyId"]) == "Active"
    assert "UpdateAccessKey" not in run.calls


def test_inventory_plugin_documents_every_option_it_reads(tmp_path):
    done = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "inventory", "--json", "keyguard.aws.accounts"],
        env=clean_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and "WARNING" not in done.stderr, done.stderr
    documented = json.loads(done.stdout)["keyguard.aws.accounts"]["doc"]["options"]
    for name, spec in CONNECTION_ARGS.items():  # the connection options, exactly as the modules take them
        option = documented[name]
        assert option.get("type", "str") == spec.get("type", "str"), name
        assert option.get("default") == spec.get("default"), name
        assert sorted(option.get("aliases", [])) == sorted(spec.get("aliases", [])), name
    assert set(accounts.OPTIONS) | {"plugin", "compose", "keyed_groups", "groups", "strict", "cache"} <= set(documented)
    assert documented["role_arn_template"]["default"] == DEFAULT_ROLE_ARN_TEMPLATE
    # Only text true of the inventory: nothing about a task, concurrency or the modules' self-lockout guard.
    for name in CONNECTION_ARGS:
        text = " ".join(documented[name]["description"])
        assert not re.search(r"\b(task|concurrency|concurrently|lockout|the module)\b", text, re.I), (name, text)


def test_inventory_refuses_two_accounts_with_the_same_host_name(ansible, moto, org, tmp_path):
    twin = org.aws.account("alpha")  # Organizations lets two accounts share a name
    env = environment(
        ansible, moto, ANSIBLE_INVENTORY_ENABLED="keyguard.aws.accounts", ANSIBLE_INVENTORY_UNPARSED_FAILED="1"
    )
    done, _listing = inventory(ansible, moto, inventory_source(tmp_path, hostname="name"), env=env)

    assert done.returncode != 0
    assert "keyguard.aws.accounts: hostname: accounts " in done.stderr
    assert f"and {twin} are both named 'alpha'; set hostname: id, or filter one out." in done.stderr

    done, listing = inventory(ansible, moto, inventory_source(tmp_path, name="ids.accounts.yml"))
    assert {org.ids["alpha"], twin} <= set(listing["_meta"]["hostvars"])  # by ID (the default), both are hosts


JINJA_NAME = "{{ 7 * 6 }}{{ lookup('pipe', 'touch pwned') }}"  # Organizations takes up to 50 printable characters


def test_jinja_in_an_account_name_stays_text_in_the_inventory_and_the_sweep(ansible, moto, org, tmp_path):
    odd = org.aws.account(JINJA_NAME)
    source = member_source(tmp_path, org, include_accounts=[odd, org.ids["gamma"]])

    done, listing = inventory(ansible, moto, source, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert listing["_meta"]["hostvars"][odd]["account_name"] == {"__ansible_unsafe": JINJA_NAME}
    assert listing["_meta"]["hostvars"][odd]["account_email"] == {"__ansible_unsafe": f"{JINJA_NAME}@example.com"}

    rc, stdout = sweep(ansible, moto, source, "--check", cwd=tmp_path, report_dir=None)
    assert rc == 0, stdout
    assert printed_summary(stdout)[odd]["account_name"] == JINJA_NAME
    # pipe runs in the playbook's directory (the inventory's, for ansible-inventory): the lookup never ran.
    assert not (tmp_path / "pwned").exists() and not (SWEEP.parent / "pwned").exists()
    assert "42" not in printed_summary(stdout)[odd]["account_name"]
    # The preview report went to the default, ./keyguard-reports/<UTC time>/ of the directory the run started in,
    # and the name is text there too.
    (report,) = (tmp_path / "keyguard-reports").iterdir()
    assert re.fullmatch(r"\d{8}T\d{6}Z", report.name)
    assert {row["account_name"] for row in report_csv(report)} == {"gamma"}  # the odd account has no keys
    page = (report / "keyguard-report.html").read_text(encoding="utf-8")
    assert html.escape(JINJA_NAME, quote=True) in page  # in the accounts table, as it is

    named = inventory_source(
        tmp_path, name="names.accounts.yml", hostname="name", include_accounts=[odd, org.ids["gamma"]]
    )
    done, listing = inventory(ansible, moto, named, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(listing["_meta"]["hostvars"]) == {JINJA_NAME, "gamma"}
    warnings = " ".join(done.stderr.split())
    assert (
        f"keyguard.aws.accounts: host {JINJA_NAME!r} (account {odd}) has characters that --limit and hosts: read "
        "as a pattern, so they cannot select it by name; use a group, or hostname: id."
    ) in warnings
    assert "'gamma'" not in warnings


def test_sweep_refuses_a_role_outside_the_hosts_account(ansible, moto, org, tmp_path):
    master_role = f"arn:aws:iam::{org.ids['master']}:role/OrganizationAccountAccessRole"
    # compose can still point every host at one role, past the inventory's own check of role_arn_template.
    source = member_source(tmp_path, org, compose={"account_role_arn": repr(master_role)})
    before = org.all_keys()

    moto.clear_calls()
    rc, stdout = sweep(ansible, moto, source)

    assert rc == 2, stdout
    members = [org.ids[name] for name in ("alpha", "beta", "gamma")]
    assert {host: stats["failed"] for host, stats in recap(stdout).items() if host != "localhost"} == dict.fromkeys(
        members, 1
    )
    summary = printed_summary(stdout)
    for member in members:
        assert summary[member]["error"] == (
            f"account_role_arn {master_role} is not in account {member}; fix role_arn_template (or compose) in the "
            "inventory so that each account's role is in that account."
        )
        assert (summary[member]["found"], summary[member]["changed"]) == (None, 0)
    assert calls(moto, {"AssumeRole", "ListUsers", "UpdateAccessKey"}) == Counter()  # refused before any call
    assert org.all_keys() == before


def test_sweep_passes_the_external_id_only_when_given(ansible, moto, org, tmp_path):
    source = member_source(tmp_path, org, include_accounts=[org.ids["gamma"]])

    moto.clear_calls()
    rc, stdout = sweep(ansible, moto, source, "--check", "-e", "org_external_id=tenant-42")
    assert rc == 0, stdout
    assumed = [params for action, params in moto.requests() if action == "AssumeRole"]
    assert [p.get("ExternalId") for p in assumed] == ["tenant-42"]  # the policy, one task

    moto.clear_calls()
    rc, stdout = sweep(ansible, moto, source, "--check")
    assert rc == 0, stdout
    assumed = [params for action, params in moto.requests() if action == "AssumeRole"]
    assert len(assumed) == 1 and not [p for p in assumed if "ExternalId" in p]


def test_sweep_of_an_inventory_without_accounts_fails(ansible, moto, org, tmp_path):
    source = member_source(tmp_path, org, account_name_pattern="^no-such-account$")

    rc, stdout = sweep(ansible, moto, source)
    assert rc == 2, stdout
    assert "The inventory has no AWS accounts" in stdout
    assert "TASK [Sweep this account]" not in stdout and "Deactivate (or, with grace_days" not in stdout

    rc, stdout = sweep(ansible, moto, source, "-e", "org_allow_empty=true")
    assert rc == 0, stdout

    unreadable = inventory_source(tmp_path, name="bad.accounts.yml", organizational_units=["Workloads"])
    rc, stdout = sweep(ansible, moto, unreadable)
    assert rc == 2 and "The inventory has no AWS accounts" in stdout, stdout
    env = environment(ansible, moto, ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    rc, stdout = sweep(ansible, moto, unreadable, env=env)
    assert rc != 0 and "organizational_units: 'Workloads' is not a root ID" in stdout, stdout


def test_inventory_ou_paths_and_calls_do_not_depend_on_the_order_given(ansible, moto, org, tmp_path):
    root, prod, workloads = org.aws.root_id, org.units["Prod"], org.units["Workloads"]
    alpha, beta, gamma = org.ids["alpha"], org.ids["beta"], org.ids["gamma"]
    listings = []
    for index, units in enumerate([[root, prod], [prod, root], [prod, workloads, root, prod]]):
        moto.clear_calls()
        done, listing = inventory(
            ansible, moto, inventory_source(tmp_path, name=f"o{index}.accounts.yml", organizational_units=units)
        )
        assert done.returncode == 0, done.stderr
        # Root, Workloads and Prod listed once each, and Prod's name comes from its parent's listing.
        assert calls(moto) == Counter({"ListAccountsForParent": 3, "ListOrganizationalUnitsForParent": 3}), units
        listings.append(listing)
    for listing in listings:
        hostvars = {host: plain(v) for host, v in listing["_meta"]["hostvars"].items()}
        assert hostvars[alpha]["account_ou_path"] == "Root/Workloads/Prod"
        assert hostvars[beta]["account_ou_path"] == "Root/Workloads"
        assert hostvars[gamma]["account_ou_path"] == "Root"
        assert hosts_of(listing, "ou_root_workloads_prod") == {alpha}
        assert listing["ou_root_workloads"]["children"] == ["ou_root_workloads_prod"]
        assert listing["ou_root"]["children"] == ["ou_root_workloads"]
    assert listings[0] == listings[1] == listings[2]


def test_inventory_ou_groups_that_would_collide_get_the_ou_id(ansible, moto, org, tmp_path):
    flat = org.aws.unit("a_b")
    outer = org.aws.unit("a")
    inner = org.aws.unit("b", outer)
    shouting = org.aws.unit("WORKLOADS")
    in_flat, in_inner, in_shouting = (
        org.aws.account("in-flat", flat),
        org.aws.account("in-inner", inner),
        org.aws.account("in-shouting", shouting),
    )
    source = inventory_source(tmp_path, organizational_units=[org.aws.root_id])

    done, listing = inventory(ansible, moto, source)
    assert done.returncode == 0, done.stderr

    def group(unit_id, name):
        return f"{name}_{unit_id.replace('-', '_')}"

    assert hosts_of(listing, group(flat, "ou_root_a_b")) == {in_flat}
    assert hosts_of(listing, group(inner, "ou_root_a_b")) == {in_inner}
    assert listing["ou_root_a"]["children"] == [group(inner, "ou_root_a_b")]
    assert hosts_of(listing, group(shouting, "ou_root_workloads")) == {in_shouting}
    workloads = group(org.units["Workloads"], "ou_root_workloads")
    assert hosts_of(listing, workloads) == {org.ids["beta"]}
    assert listing[workloads]["children"] == ["ou_root_workloads_prod"]
    assert "ou_root_a_b" not in listing and "ou_root_workloads" not in listing
    warnings = " ".join(done.stderr.split())
    assert (
        f"OUs {', '.join(sorted([flat, inner]))} would all be group ou_root_a_b; each group is named with its OU ID "
        "appended instead."
    ) in warnings

    # --limit on a group now selects that OU's accounts only.
    rc, stdout = sweep(ansible, moto, source, "--check", "--limit", group(inner, "ou_root_a_b"))
    assert rc == 0, stdout
    assert set(printed_summary(stdout)) == {in_inner}


def test_inventory_cache_is_per_listing_and_identity(ansible, moto, org, tmp_path, fault_proxy):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache")}
    done, _listing = inventory(ansible, moto, inventory_source(tmp_path, **cache))
    assert done.returncode == 0, done.stderr
    assert calls(moto, ORG_ACTIONS) == Counter({"ListAccounts": 1})

    moto.clear_calls()  # the same file, now asking for the OUs: listed afresh, not the cached flat listing
    source = inventory_source(tmp_path, organizational_units=[org.aws.root_id], **cache)
    done, listing = inventory(ansible, moto, source)
    assert calls(moto, ORG_ACTIONS) == Counter({"ListAccountsForParent": 3, "ListOrganizationalUnitsForParent": 3})
    assert plain(listing["_meta"]["hostvars"][org.ids["alpha"]])["account_ou_path"] == "Root/Workloads/Prod"

    moto.clear_calls()  # a filter works on the cached listing: no call
    filtered = inventory_source(
        tmp_path, organizational_units=[org.aws.root_id], account_name_pattern="^beta$", **cache
    )
    done, listing = inventory(ansible, moto, filtered)
    assert calls(moto, ORG_ACTIONS) == Counter()
    assert set(listing["_meta"]["hostvars"]) == {org.ids["beta"]}

    moto.clear_calls()  # another endpoint (or profile, role, key) is another listing
    env = environment(ansible, moto, AWS_ENDPOINT_URL_ORGANIZATIONS=fault_proxy.url)
    done, listing = inventory(ansible, moto, filtered, env=env)
    assert done.returncode == 0, done.stderr
    assert calls(moto, ORG_ACTIONS) == Counter({"ListAccountsForParent": 3, "ListOrganizationalUnitsForParent": 3})
    cached = "".join(path.read_text() for path in (tmp_path / "cache").iterdir())
    assert ADMIN_SECRET not in cached and ADMIN_KEY not in "".join(p.name for p in (tmp_path / "cache").iterdir())


class ProxyPage:
    """A local HTTP server that answers every request with one fixed page, as a proxy's login page would."""

    def __init__(self):
        self.answer = (200, "text/html", b"")
        self.seen = []
        page = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                page.seen.append(self.path)
                status, content_type, body = page.answer
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = _reply

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


LOGIN_PAGE = b"<html><body><form action='/login'>Corporate proxy: please sign in</form></body></html>"


@pytest.mark.parametrize(
    "answer, status_text",
    [
        ((200, "text/html", LOGIN_PAGE), "answered with"),
        ((200, "application/x-amz-json-1.1", b""), "answered with"),
        ((200, "application/x-amz-json-1.1", b'{"Users": []}'), "answered with"),
        ((407, "text/html", LOGIN_PAGE), "answered HTTP 407 with"),
    ],
    ids=["login-page", "empty-body", "json-without-accounts", "http-407"],
)
@pytest.mark.parametrize("route", ["endpoint_url", "aws_config.proxies"])
def test_inventory_answered_by_something_else_fails_in_one_line_without_the_password(
    ansible, moto, tmp_path, answer, status_text, route
):
    page = ProxyPage()
    page.answer = answer
    try:
        if route == "endpoint_url":
            endpoint = f"http://listing-user:endpoint-pw-77@127.0.0.1:{page.port}"
            options = {"endpoint_url": endpoint}
        else:  # the request goes to AWS's endpoint through a corporate proxy with credentials in its URL
            endpoint = "http://organizations.us-east-1.amazonaws.com"
            proxy = f"http://proxy-user:proxy-pw-88@127.0.0.1:{page.port}"
            options = {"endpoint_url": endpoint, "aws_config": {"proxies": {"http": proxy}}}
        cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "c")}
        source = inventory_source(tmp_path, **options, **cache)
        env = environment(
            ansible, moto, ANSIBLE_INVENTORY_ENABLED="keyguard.aws.accounts", ANSIBLE_INVENTORY_UNPARSED_FAILED="1"
        )
        done, _listing = inventory(ansible, moto, source, "-vvvv", env=env)
    finally:
        page.close()

    assert page.seen, "the request never reached the page"
    assert done.returncode != 0
    output = " ".join((done.stdout + done.stderr).split())
    shown = endpoint.replace("listing-user:endpoint-pw-77@", "")
    assert (
        f"keyguard.aws.accounts: organizations:ListAccounts: {shown} {status_text} something that is not an "
        "Organizations response, perhaps a proxy's login page or a wrong endpoint. Check endpoint_url, "
        "AWS_ENDPOINT_URL_ORGANIZATIONS or AWS_ENDPOINT_URL, HTTPS_PROXY and NO_PROXY."
    ) in output, output
    assert "'Accounts'" not in output and "Traceback" not in output
    cached = "".join(p.read_text() for p in (tmp_path / "c").iterdir()) if (tmp_path / "c").exists() else ""
    for secret in ("endpoint-pw-77", "proxy-pw-88", "listing-user", "proxy-user"):
        assert secret not in output and secret not in cached and secret not in source.name


def test_inventory_ou_group_names_do_not_depend_on_the_filters(ansible, moto, org, tmp_path):
    upper, lower, empty = org.aws.unit("Prod"), org.aws.unit("prod"), org.aws.unit("PROD")  # PROD holds no account
    in_upper, in_lower = org.aws.account("in-upper", upper), org.aws.account("in-lower", lower)

    def group(unit_id):
        return f"ou_root_prod_{unit_id.replace('-', '_')}"

    filters = [
        {},
        {"account_name_pattern": "^in-upper$"},
        {"include_accounts": [in_lower]},
        {"exclude_accounts": [in_upper, in_lower]},
    ]
    for index, options in enumerate(filters):
        source = inventory_source(
            tmp_path, name=f"f{index}.accounts.yml", organizational_units=[org.aws.root_id], **options
        )
        done, listing = inventory(ansible, moto, source)
        assert done.returncode == 0, done.stderr
        hosts = set(listing["_meta"]["hostvars"])
        assert hosts_of(listing, group(upper)) == {in_upper} & hosts, options
        assert hosts_of(listing, group(lower)) == {in_lower} & hosts, options
        assert "ou_root_prod" not in listing, options  # never the bare name, whichever accounts pass
        warnings = " ".join(done.stderr.split())
        assert f"OUs {', '.join(sorted([upper, lower, empty]))} would all be group ou_root_prod" in warnings


def test_inventory_with_a_password_in_its_urls_lists_and_never_shows_it(ansible, moto, org, tmp_path):
    endpoint = org.today.url.replace("http://", "http://listing-user:endpoint-pw-77@")
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "c")}
    source = inventory_source(tmp_path, endpoint_url=endpoint, exclude_accounts=[org.ids["master"]], **cache)
    env = environment(ansible, moto, HTTPS_PROXY="http://proxy-user:proxy-pw-88@127.0.0.1:9", NO_PROXY="127.0.0.1")

    out = tmp_path / "listing.json"
    command = [str(BIN / "ansible-inventory"), "-i", str(source), "--list", "-vvvv", "--output", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    listing = json.loads(out.read_text())
    assert set(listing["_meta"]["hostvars"]) == {org.ids[name] for name in ("alpha", "beta", "gamma")}
    assert [action for action, _body in org.today.replies] == ["ListAccounts"]  # through the URL with the password
    cached = "".join(p.read_text() for p in (tmp_path / "c").iterdir())
    assert org.ids["alpha"] in cached
    for secret in ("endpoint-pw-77", "proxy-pw-88"):
        assert secret not in done.stdout + done.stderr and secret not in cached


@pytest.mark.matrix
def test_inventory_on_each_botocore_of_the_support_matrix_reads_state(ansible, moto, org, tmp_path):
    # botocore before 1.40.27 does not model State and drops it from its parsed answer, and AWS (here the proxy)
    # sends no Status: the inventory takes State from the answer's JSON itself, so every end lists the accounts.
    env = environment(
        ansible, moto, ANSIBLE_INVENTORY_ENABLED="keyguard.aws.accounts", ANSIBLE_INVENTORY_UNPARSED_FAILED="1"
    )
    done, listing = inventory(ansible, moto, inventory_source(tmp_path), env=env)

    assert done.returncode == 0, done.stderr
    assert set(listing["_meta"]["hostvars"]) == {org.ids[name] for name in ("alpha", "beta", "gamma", "master")}
    assert {plain(host)["account_state"] for host in listing["_meta"]["hostvars"].values()} == {"ACTIVE"}


def test_an_account_swept_in_part_says_so_and_keeps_its_journal(ansible, moto, org, tmp_path, fault_proxy):
    # In alpha one of two stale keys cannot be deactivated: the other one was, so the summary must not call the
    # account "not swept", and its journal must be saved for undo.
    source = member_source(tmp_path, org)
    alpha = org.ids["alpha"]
    iam = org.aws.member(alpha)
    moto.days_ago(100)
    iam.create_user(UserName="old-robot-2")
    denied = iam.create_access_key(UserName="old-robot-2")["AccessKey"]["AccessKeyId"]
    moto.days_ago(0)
    fault_proxy.fail("UpdateAccessKey", 5, status=403, code="AccessDenied", message="denied by an SCP",
                     match={"AccessKeyId": denied})  # fmt: skip
    rc, stdout = sweep(ansible, moto, source, env=environment(ansible, moto, AWS_ENDPOINT_URL_IAM=fault_proxy.url))

    assert rc == 2, stdout
    summary = printed_summary(stdout)[alpha]
    assert (summary["found"], summary["changed"], summary["failed"], summary["journal"]) == (2, 1, 1, 1)
    assert summary["error"].startswith("1 of ")
    assert summary["outcome"] == "swept in part: deactivated 1 of 2 stale keys, 1 failed, see error"
    assert printed_summary(stdout)[org.ids["beta"]]["outcome"] == "deactivated 1 of 1 stale keys"
    saved = {path.name.split("-")[0] for path in (ansible.workdir / "journals").iterdir()}
    assert saved == {alpha, org.ids["beta"], org.ids["gamma"]}
