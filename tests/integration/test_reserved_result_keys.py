"""No module returns a key Ansible reserves for itself, in its RETURN docs or in a real run (issue 16, item 4).

`skipped` returned by iam_access_key_info made Ansible show the task as skipped. The reserved names come from
ansible-core itself where it exposes them, plus the keys its executor, callbacks, loops and async read. Every
module in plugins/modules is checked, so a module added later is covered without editing this file; its real run
needs one sample task in SAMPLE_RUNS, and a test fails until it has one.
"""

from __future__ import annotations

import ast

import ansible.constants as C
import pytest
import yaml
from ansible.executor import task_result
from harness import REPO

MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")

# What the executor, the callbacks, loops, async and fact handling give a meaning to, as ansible-core lists it...
FROM_ANSIBLE = (
    set(task_result._IGNORE)
    | set(task_result._PRESERVE)
    | set(task_result._SUB_PRESERVE)
    | set(C.INTERNAL_RESULT_KEYS)
    | set(C.RESTRICTED_RESULT_KEYS)
    | set(C.COMMON_CONNECTION_VARS)
    | {name for names in C.MAGIC_VARIABLE_MAPPING.values() for name in names}
)
# ... and what it reads without a list to take it from (TaskResult.is_*, the default callback, loops, async,
# module_common's and AnsibleModule's own keys).
READ_BY_ANSIBLE = {
    "changed", "failed", "skipped", "unreachable", "msg", "invocation", "rc", "results", "diff", "warnings",
    "deprecations", "ansible_facts", "exception", "stdout", "stderr", "stdout_lines", "stderr_lines", "item",
    "attempts", "retries", "skip_reason", "skipped_reason", "false_condition", "censored", "module_stdout",
    "module_stderr", "parsed", "ansible_job_id", "started", "finished", "results_file", "ansible_loop_var",
    "ansible_index_var", "ansible_loop", "checksum", "backup_file", "_ansible_no_log",
}  # fmt: skip
RESERVED = frozenset(FROM_ANSIBLE | READ_BY_ANSIBLE)
RESERVED_PREFIXES = ("_ansible_", "ansible_")
# Reserved keys a module may return with Ansible's own meaning: AnsibleModule adds changed, invocation, warnings and
# deprecations; fail_json adds failed and msg; a module with diff support returns diff as Ansible defines it.
ANSIBLE_OWN = {"changed", "failed", "msg", "invocation", "warnings", "deprecations"}


def reserved(key):
    """Return whether Ansible reserves this top-level result key."""
    return key in RESERVED or key.startswith(RESERVED_PREFIXES)


def module_docs(name):
    """Return (RETURN, DOCUMENTATION) of a module as data, read from its source without importing it."""
    tree = ast.parse((REPO / "plugins" / "modules" / f"{name}.py").read_text())
    docs = {
        node.targets[0].id: yaml.safe_load(node.value.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in ("RETURN", "DOCUMENTATION")
    }
    return docs.get("RETURN") or {}, docs["DOCUMENTATION"]


def supports_diff(name):
    """Return whether the module declares diff mode support."""
    return module_docs(name)[1].get("attributes", {}).get("diff_mode", {}).get("support") in ("full", "partial")


def test_the_reserved_list_is_taken_from_ansible():
    # A guard that the list is real: Ansible's own sources name these, and the ones the issue names are in it.
    assert {"failed", "skipped", "changed", "warnings", "deprecations", "ansible_facts"} <= FROM_ANSIBLE
    assert {"skipped", "msg", "invocation", "rc", "results", "diff", "stdout_lines", "item"} <= RESERVED


@pytest.mark.parametrize("name", MODULES)
def test_return_docs_use_no_reserved_key(name):
    returns, _documentation = module_docs(name)
    allowed = {"diff"} if supports_diff(name) else set()
    assert sorted(key for key in returns if reserved(key) and key not in allowed) == []


def info(ansible, **args):
    """Return the connection options and args for one iam_access_key_info task."""
    return dict(args, **ansible.connection())


def status_bulk(ansible, moto):
    """Return args deactivating the keys of users a and b in bulk."""
    items = [
        {"access_key_id": key["AccessKeyId"], "user_name": user}
        for user in ("a", "b")
        for key in moto.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    ]
    return dict(access_keys=items, status="Inactive", **ansible.connection())


def policy(ansible, moto, **args):
    """Return args for one iam_access_key_policy task that marks both keys; its STS call goes to moto too."""
    ansible.env["AWS_ENDPOINT_URL_STS"] = moto.url
    return dict(dict(unused_for_days=0, grace_days=7), **args, **ansible.connection())


# One or more real runs per module: (module, a function of (ansible, moto) returning the task's args, run options).
USER_TAG = {"user_name": "a", "key": "k", "value": "x", "expected_value": None}
SAMPLE_RUNS = {
    "iam_access_key_info": [
        (lambda ansible, moto: info(ansible, all_users=True, source="credential_report"), {}),
        (lambda ansible, moto: info(ansible, all_users=True, source="api", unused_for_days=0), {}),
        (lambda ansible, moto: info(ansible, user_name="a"), {"check": True}),
    ],
    "iam_access_key_policy": [
        (policy, {"check": True, "diff": True}),
        (policy, {"diff": True}),
        (lambda ansible, moto: policy(ansible, moto, source="api"), {}),
    ],
    "iam_access_key_status": [
        (status_bulk, {"check": True, "diff": True}),
        (status_bulk, {"diff": True}),
        (
            lambda ansible, moto: dict(
                access_key_id=moto.iam.list_access_keys(UserName="a")["AccessKeyMetadata"][0]["AccessKeyId"],
                user_name="a",
                status="Active",
                **ansible.connection(),
            ),
            {"diff": True},
        ),
    ],
    "iam_user_tags": [
        (lambda ansible, moto: dict(tags=[USER_TAG], **ansible.connection()), {"check": True, "diff": True}),
        (lambda ansible, moto: dict(tags=[USER_TAG], **ansible.connection()), {"diff": True}),
        # now a conflict: the tag is "x", not absent as expected
        (lambda ansible, moto: dict(tags=[USER_TAG], **ansible.connection()), {}),
    ],
    "sweep_report": [
        (lambda ansible, moto: report_args(ansible, "x"), {"check": True}),
        (lambda ansible, moto: report_args(ansible, "x"), {}),
        (lambda ansible, moto: report_args(ansible, "x", error="AccessDenied: not authorized"), {}),
    ],
}


def report_args(ansible, name, error=None):
    """Return sweep_report options for one account with one key acted on, or one account that failed."""
    key = dict(
        user_name="a",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        slot=None,
        previous_status="Active",
        status="Inactive",
        create_date="2026-01-01T00:00:00+00:00",
        age_days=335,
        last_used_date=None,
        days_since_last_use=335,
        action="deactivated",
        reason="unused for 335 days",
        deadline=None,
    )
    result = None if error else dict(account_id="123456789012", access_keys=[key], journal=[], skipped_keys=[])
    account = dict(account_id="123456789012", account_name="sandbox", error=error, result=result)
    return dict(dest=str(ansible.workdir / "reports" / name), accounts=[account], run=dict(scope="one account"))


@pytest.mark.parametrize("name", MODULES)
def test_real_runs_return_no_reserved_key_of_their_own(ansible, moto, name):
    if name not in SAMPLE_RUNS:
        pytest.fail(f"plugins/modules/{name}.py has no sample run in SAMPLE_RUNS of {__file__}; add one.")
    moto.user_with_key("a")
    moto.user_with_key("b")
    allowed = ANSIBLE_OWN | ({"diff"} if supports_diff(name) else set())
    seen = set()
    for make_args, options in SAMPLE_RUNS[name]:
        run = ansible.run(make_args(ansible, moto), module=f"keyguard.aws.{name}", **options)
        assert run.result.get("failed") is not True, run.stdout
        assert run.result.get("skipped") is None and "skipping:" not in run.stdout
        assert sorted(key for key in run.result if reserved(key) and key not in allowed) == []
        seen.update(run.result.keys())
    documented = set(module_docs(name)[0])
    assert set(seen) - ANSIBLE_OWN - {"diff"} <= documented  # what a run returns is what RETURN documents
