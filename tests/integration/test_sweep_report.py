"""The sweep report end to end: the shipped playbooks/org_cis_sweep.yml over the demo organization on moto (one
account's role denied), keyguard.aws.sweep_report in real ansible-playbook runs, and the page rendered in headless
Chromium (Debian's chromium; tools/ensure_chromium.sh installs it).
"""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import report_demo
from harness import BIN, clean_environment
from test_organization import printed_summary

from ansible_collections.keyguard.aws.plugins.modules import sweep_report

SIZE_LIMIT = 1_500_000  # bytes of HTML for 5,000 keys acted on across 100 accounts; the guide states it
HOSTILE_ACCOUNT = '"><img src=x onerror=alert(1)>'  # Organizations allows any printable ASCII in a name
HOSTILE_USER = "<script>alert(1)</script>"


class Dom(HTMLParser):
    """The elements of a serialised DOM: tags with attributes, text by element id, and the keys table's rows."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.by_id, self.rows, self.text = [], {}, [], []
        self._ids, self._table, self._row = [], None, None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("class")
        if tag == "tr" and self._table == "keys":
            self._row = []
            self.rows.append(self._row)
        if tag == "td" and self._row is not None:
            self._row.append("")
        self._ids.append(attrs.get("id"))
        if attrs.get("id"):
            self.by_id[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = self._row = None
        if self._ids:
            self._ids.pop()

    def handle_data(self, data):
        self.text.append(data)
        for element_id in self._ids:
            if element_id:
                self.by_id[element_id] += data
        if self._row:
            self._row[-1] += data


def read_back(org, accounts):
    """Return {account name: {(user, key ID): (status, deadline tag or None, exempt tag or None)}} read from IAM."""
    state = {}
    for name, account_id in accounts.items():
        iam, keys = org.member(account_id), {}
        for key_id, (user, status) in org.keys(account_id).items():
            tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
            deadline = tags.get(f"keyguard:deactivate-after:{key_id}")
            keys[(user, key_id)] = (status, deadline, tags.get("keyguard:exempt"))
        state[name] = keys
    return state


def test_an_org_sweep_report_shows_what_the_sweep_did_in_chromium(moto, fault_proxy, tmp_path):
    org, accounts = report_demo.seed(moto)
    report_demo.mark_deadlines(org, accounts, report_demo.DEADLINES)
    denied = org.account("closed-legacy")  # its role does not trust the sweeper: that account fails
    role = org.role_arn(denied)
    fault_proxy.fail(
        "AssumeRole", 100, 403, "AccessDenied", report_demo.DENIED.format(role=role), match={"RoleArn": role}
    )
    before = read_back(org, accounts)
    report_dir = tmp_path / "report"
    proc = report_demo.sweep(moto.url, org, tmp_path, report_dir, sts_url=fault_proxy.url, **report_demo.SWEEP_VARS)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # the denied account fails the run, the others finish
    assert proc.stdout.count("TASK [Write the sweep report of every account]") == 1  # once, after every account
    after = read_back(org, accounts)
    summary = printed_summary(proc.stdout)  # from the registered policy results, by the playbook's own template
    assert summary["closed-legacy"]["error"].startswith(f"cannot assume role {role}: AccessDenied")

    # What the sweep did, as IAM now holds it: each key's status and its owner's tags, before and after.
    did = {}
    for name in accounts:
        for (user, key_id), (status, deadline, exempt) in sorted(after[name].items()):
            was, had, _exempt = before[name][(user, key_id)]
            action = None
            if was == "Active" and status == "Inactive":
                action = "deactivated"
            elif exempt and was == "Active":
                action = "exempt"
            elif deadline and not had:
                action = "warned"
            elif deadline and had == deadline and status == "Active":
                action = "pending"
            if action:
                did[(name, user, key_id)] = action
    expected = dict(
        accounts_swept=3,
        accounts_failed=1,
        keys_seen=sum(len(keys) for keys in after.values()),
        keys_stale=sum(s["found"] or 0 for s in summary.values()),
        keys_deactivated=sum(s["changed"] for s in summary.values()),
        keys_failed=sum(s["failed"] for s in summary.values()),
    )
    for action in ("warned", "pending", "exempt"):
        expected[f"keys_{action}"] = sum(s[action] for s in summary.values())
    for action in ("deactivated", "warned", "pending", "exempt"):  # the registered results agree with IAM
        assert expected[f"keys_{action}"] == sum(1 for a in did.values() if a == action) > 0, action
    assert [s["error"] is None for s in summary.values()].count(True) == expected["accounts_swept"]

    html_path = report_dir / "keyguard-report.html"
    png = tmp_path / "report.png"
    report_demo.screenshot(html_path, png, height=1800)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000

    pdf = tmp_path / "report.pdf"
    report_demo.chromium(html_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.read_bytes().count(b"/Type /Page") >= 3  # pages and their tree

    dom = Dom(report_demo.dump_dom(html_path))
    for name, number in expected.items():
        assert dom.by_id[name] == str(number), name
    assert "closed-legacy" in dom.by_id["failed-accounts"] and role in dom.by_id["failed-accounts"]
    assert "AccessDenied" in dom.by_id["failed-accounts"]
    text = "".join(dom.text)
    for account_id in accounts.values():  # by whom: each account's session of the sweeper's role
        assert f"arn:aws:sts::{account_id}:assumed-role/OrganizationAccountAccessRole/keyguard-org-sweep" in text
    assert "grace 14 days" in text and "the demo organization on moto" in text
    for label in ("0\u201345 days", "45\u201390 days", "90\u2013180 days", "180\u2013365 days", "over 365 days"):
        assert label in dom.by_id["age-chart"], label
    for name in accounts:
        assert name in dom.by_id["action-chart"]
    assert "closed-legacy" not in dom.by_id["action-chart"]
    # Every key acted on or exempted, account then user, as IAM says the sweep left them; nothing else.
    shown = [(row[0], row[1], row[2], row[5].split()[0]) for row in dom.rows if row]
    assert shown == [(name, user, key_id, action) for (name, user, key_id), action in sorted(did.items())]

    with open(report_dir / "keyguard-keys.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == expected["keys_seen"] + 1  # every key seen, and the account not swept
    (not_swept,) = [r for r in rows if r["action"] == "not_swept"]
    assert (not_swept["account_name"], not_swept["reason"]) == ("closed-legacy", summary["closed-legacy"]["error"])
    named = {
        (r["account_name"], r["user_name"].removeprefix("'"), r["access_key_id"]): r for r in rows if r["access_key_id"]
    }
    held = {(name, user, key_id): state[0] for name in after for (user, key_id), state in after[name].items()}
    assert {key: row["status_after"] for key, row in named.items()} == {key: held[key] for key in named}
    assert {key: row["action"] for key, row in named.items() if row["action"] != "none"} == did
    assert [r["user_name"] for r in rows if r["user_name"].startswith("'")] == ["'=1+2"]  # IAM allows it; defused
    assert {r["action"] for r in rows} == {"none", "deactivated", "warned", "pending", "exempt", "not_swept"}


def test_check_mode_writes_nothing_and_a_rerun_changes_nothing(tmp_path):
    entries = report_demo.synthetic_accounts(accounts=3, keys=12)
    dest = tmp_path / "reports" / "now"
    _proc, preview = report_demo.write_report(entries, {}, dest, tmp_path, check=True)
    assert preview["changed"] is True and not dest.exists()
    assert preview["written"] == [preview["html_path"], preview["csv_path"]]
    _proc, first = report_demo.write_report(entries, {}, dest, tmp_path)
    assert first["changed"] is True and first["written"] == preview["written"]
    for path in (first["html_path"], first["csv_path"]):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert Path(path).stat().st_size == first["sizes"][Path(path).name]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o700
    html_before = Path(first["html_path"]).read_bytes()
    _proc, again = report_demo.write_report(entries, {}, dest, tmp_path, check=True)
    assert again["changed"] is False and again["written"] == []
    _proc, again = report_demo.write_report(entries, {}, dest, tmp_path)
    assert again["changed"] is False and again["written"] == []
    assert Path(first["html_path"]).read_bytes() == html_before
    entries[0]["error"], entries[0]["result"] = "AssumeRole: AccessDenied", None
    _proc, changed = report_demo.write_report(entries, {}, dest, tmp_path)
    assert changed["changed"] is True and changed["headline"]["accounts_failed"] == 1
    assert changed["failed_accounts"] == [
        dict(account_id=entries[0]["account_id"], account_name="workload-000", error="AssumeRole: AccessDenied")
    ]


def test_hostile_names_stay_text_in_chromium(tmp_path):
    entries = report_demo.synthetic_accounts(accounts=2, keys=4)
    entries[0]["account_name"] = HOSTILE_ACCOUNT
    entries[0]["result"]["access_keys"][0]["user_name"] = HOSTILE_USER
    entries[0]["result"]["access_keys"][0]["action"] = "deactivated"
    entries[1]["error"], entries[1]["result"] = f"AccessDenied for {HOSTILE_USER}", None
    _proc, result = report_demo.write_report(entries, {"scope": HOSTILE_ACCOUNT}, tmp_path / "r", tmp_path)
    dom = Dom(report_demo.dump_dom(result["html_path"]))
    assert not [tag for tag, _attrs in dom.tags if tag in ("img", "script", "iframe", "object", "embed")]
    assert not [attrs for _tag, attrs in dom.tags if any(name.startswith("on") for name in attrs)]
    text = "".join(dom.text)
    assert text.count(HOSTILE_ACCOUNT) >= 3  # the scope, the chart label, the keys table
    assert HOSTILE_USER in text and f"AccessDenied for {HOSTILE_USER}" in dom.by_id["failed-accounts"]
    assert [row[1] for row in dom.rows if row and row[0] == HOSTILE_ACCOUNT][0] == HOSTILE_USER


def test_5000_keys_across_100_accounts_render_under_the_size_limit(tmp_path):
    entries = report_demo.synthetic_accounts(accounts=100, keys=5000)
    _proc, result = report_demo.write_report(entries, {}, tmp_path / "big", tmp_path)
    size = Path(result["html_path"]).stat().st_size
    assert size == result["sizes"]["keyguard-report.html"] < SIZE_LIMIT
    dom = Dom(report_demo.dump_dom(result["html_path"]))
    assert len([row for row in dom.rows if row]) == 5000
    assert dom.by_id["keys_seen"] == "5000"
    assert "75 other accounts" in dom.by_id["action-chart"]
    with open(result["csv_path"], newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 5001 and all(len(row) == len(rows[0]) for row in rows)


def test_ansible_doc_renders_the_module_and_documents_exactly_its_options(tmp_path):
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "keyguard.aws.sweep_report"],
        env=clean_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)["keyguard.aws.sweep_report"]["doc"]

    def same(documented, spec, where):
        assert set(documented) == set(spec), where
        for name, option in spec.items():
            assert documented[name].get("type", "str") == option.get("type", "str"), f"{where}.{name}"
            assert documented[name].get("default") == option.get("default"), f"{where}.{name}"
            assert bool(documented[name].get("required")) == bool(option.get("required")), f"{where}.{name}"
            if "options" in option:
                same(documented[name]["suboptions"], option["options"], f"{where}.{name}")

    same(doc["options"], sweep_report.ARGUMENT_SPEC, "options")
    assert {name: value["support"] for name, value in doc["attributes"].items()} == {
        "check_mode": "full",
        "diff_mode": "none",
        "idempotent": "full",
    }
