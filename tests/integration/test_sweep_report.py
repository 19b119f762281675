"""The sweep report end to end: a real moto organization sweep, keyguard.aws.sweep_report in real ansible-playbook
runs, and the page rendered in headless Chromium (Debian's chromium; tools/ensure_chromium.sh installs it).

Until keyguard.aws.iam_access_key_policy lands, report_demo.simulate_policy turns the real info results into the
policy result's shape with plausible actions; the report reads only that shape.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import report_demo
from harness import BIN, clean_environment

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


def contract_counts(entries):
    """Return the headline numbers the contract-shaped entries should give, counted here independently."""
    keys = [k for e in entries if e["result"] for k in e["result"]["access_keys"]]
    numbers = dict(
        accounts_swept=sum(1 for e in entries if e["result"]),
        accounts_failed=sum(1 for e in entries if not e["result"]),
        keys_seen=len(keys),
        keys_stale=sum(e["result"]["counts"]["stale"] for e in entries if e["result"]),
    )
    for action in ("deactivated", "warned", "pending", "exempt", "failed"):
        numbers[f"keys_{action}"] = sum(1 for k in keys if k["action"] == action)
    return numbers


def test_an_org_sweep_report_shows_what_the_sweep_did_in_chromium(moto, tmp_path):
    org, accounts = report_demo.seed(moto)
    accounts["closed-legacy"] = org.account("closed-legacy")  # its IAM endpoint does not answer: it fails
    proc, entries, report_only = report_demo.sweep(moto.url, org, accounts, tmp_path, tmp_path / "report-only")
    # The report-only sweep: every account, the failed one included, assembled once after all finished.
    assert [(e["account_name"], e["error"] is None) for e in entries] == [
        ("prod-payments", True),
        ("staging", True),
        ("sandbox", True),
        ("closed-legacy", False),
    ]
    assert "could not reach the IAM endpoint" in entries[3]["error"]
    seen = sum(len(e["result"]["access_keys"]) for e in entries if e["result"])
    assert seen == 3 * 9 + 3  # FLEET's 8 keys and EXTRA's per account
    assert report_only["headline"]["keys_seen"] == seen and report_only["headline"]["keys_none"] == seen
    assert report_only["headline"]["accounts_failed"] == 1
    assert report_only["headline"]["keys_stale"] == 16  # Active and unused for more than 45 days
    assert proc.stdout.count("Write the sweep report once") == 1

    entries = [report_demo.simulate_policy(e, date.today()) for e in entries]
    run = dict(started="2026-12-02T15:00:00Z", finished="2026-12-02T15:01:10Z", policy=report_demo.POLICY)
    run["caller_arn"] = "arn:aws:iam::000000000000:user/keyguard-sweeper"
    _proc, result = report_demo.write_report(entries, run, tmp_path / "report", tmp_path)
    expected = contract_counts(entries)
    assert {k: result["headline"][k] for k in expected} == expected
    assert expected["keys_deactivated"] == 7 and expected["keys_exempt"] == 3  # the data says something

    png = tmp_path / "report.png"
    report_demo.screenshot(result["html_path"], png, height=1800)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000

    pdf = tmp_path / "report.pdf"
    report_demo.chromium(result["html_path"], f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.read_bytes().count(b"/Type /Page") >= 3  # pages and their tree

    dom = Dom(report_demo.dump_dom(result["html_path"]))
    for name, number in expected.items():
        assert dom.by_id[name] == str(number), name
    assert "closed-legacy" in dom.by_id["failed-accounts"]
    assert "could not reach the IAM endpoint" in dom.by_id["failed-accounts"]
    assert "arn:aws:iam::000000000000:user/keyguard-sweeper" in "".join(dom.text)
    age_labels = [t for t in dom.by_id["age-chart"].split("\n") if t]
    for label in ("0\u201345 days", "45\u201390 days", "90\u2013180 days", "180\u2013365 days", "over 365 days"):
        assert label in dom.by_id["age-chart"], label
    assert age_labels  # the chart is text, not only shapes
    for name in ("prod-payments", "staging", "sandbox"):
        assert name in dom.by_id["action-chart"]
    assert "closed-legacy" not in dom.by_id["action-chart"]
    # Every key acted on or exempted, account then user, as the data says; nothing else.
    acted = [
        (e["account_name"], k["user_name"], k["access_key_id"], k["action"])
        for e in sorted(entries, key=lambda e: e["account_name"])
        if e["result"]
        for k in sorted(e["result"]["access_keys"], key=lambda k: (k["user_name"], k["access_key_id"]))
        if k["action"] != "none"
    ]
    shown = [(row[0], row[1], row[2], row[5].split("until")[0].strip()) for row in dom.rows if row]
    assert shown == acted

    with open(result["csv_path"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == seen + 1  # every key seen, and the account not swept
    assert {r["access_key_id"] for r in rows if r["action"] != "not_swept"} == {
        k["access_key_id"] for e in entries if e["result"] for k in e["result"]["access_keys"]
    }
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
