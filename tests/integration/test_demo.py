"""README's first command: the demo runs end to end against its own moto server."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_the_main_job_end_to_end():
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py")], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"localhost\s+: ok=5\s+changed=3\s+unreachable=0\s+failed=0", proc.stdout)
    final = proc.stdout.split("Keys as the server now holds them:")[1].split()
    assert final[2::3] == ["Inactive", "Active", "Inactive"]  # old key off, new key on, leaked key off


def test_demo_cis_sweep_reports_applies_and_reruns():
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "cis"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summaries = re.findall(r'"msg": "(\d+ of \d+ stale keys [^;]*);', proc.stdout)
    assert summaries == [
        "3 of 3 stale keys would be deactivated (check mode: nothing changed)",
        "3 of 3 stale keys deactivated",
        "0 of 0 stale keys deactivated",
    ]
    final = proc.stdout.split("Keys as the server now holds them:")[1].split()
    assert dict(zip(final[0::3], final[2::3])) == {
        "backup": "Inactive",
        "ci-runner": "Active",
        "old-intern": "Inactive",
        "reporting": "Inactive",
    }


def test_demo_org_lists_the_organization_and_sweeps_every_account(tmp_path):
    reports = tmp_path / "reports"  # `make demo-org` writes them to the checkout's gitignored keyguard-reports/demo-org
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "org", str(reports)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    graph = proc.stdout.split("--graph")[1].split("PLAY [")[0]
    assert "|--@ou_root_workloads_prod:" in graph and "|  |  |--prod-payments" in graph
    assert "closed-legacy" not in graph  # suspended
    changed = [
        [
            row
            for row in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", recap, re.MULTILINE)
            if row[0] != "localhost"  # the sweep's first play, which checks the inventory is not empty
        ]
        for recap in proc.stdout.split("PLAY RECAP")[1:]
    ]
    check, applied, again = ([int(count) for _host, count in sorted(run)] for run in changed)
    assert [host for host, _count in sorted(changed[1])] == ["prod-payments", "sandbox", "staging"]
    assert check == [1, 1, 1]  # check mode: would change; and no journal saved
    # each account: the policy and its journal file; one of them also made the journal directory
    assert sum(applied) == 3 + 3 + 1 and set(applied) <= {2, 3}
    assert again == [0, 0, 0]
    final = proc.stdout.split("Keys as each account now holds them:")[1].split("Sweep reports")[0].split()
    assert list(zip(final[0::4], final[1::4], final[3::4])) == [
        (account, user, status)
        for account in ("prod-payments", "staging", "sandbox")
        for user, status in (("ci-runner", "Active"), ("old-report-job", "Inactive"))
    ]
    # It ends with the path of the report of the run that deactivated the keys; each run wrote its own report.
    last = proc.stdout.strip().splitlines()[-1]
    assert last == f"The report of the sweep that deactivated the keys: {reports / '2-apply' / 'keyguard-report.html'}"
    keys = {key: (account, user, status) for account, user, key, status in zip(*[iter(final)] * 4)}
    for run, deactivated in (("1-preview", 3), ("2-apply", 3), ("3-rerun", 0)):
        page = (reports / run / "keyguard-report.html").read_text(encoding="utf-8")
        assert f'id="keys_deactivated">{deactivated}<' in page, run
        assert ('id="preview"' in page) is (run == "1-preview"), run
        with open(reports / run / "keyguard-keys.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(keys)  # every key seen in the three accounts swept
        assert {(r["account_name"], r["user_name"], r["status_after"]) for r in rows} == set(keys.values())
        acted = {r["access_key_id"] for r in rows if r["action"] == "deactivated"}
        assert acted == ({k for k, (_a, u, _s) in keys.items() if u == "old-report-job"} if deactivated else set())


def test_demo_policy_warns_waits_acts_and_undoes():
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "policy"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summaries = re.findall(r'"msg": "(\d+ of \d+ stale keys deactivated; \d+ warned, \d+ pending)', proc.stdout)
    assert summaries == [
        "0 of 3 stale keys deactivated; 3 warned, 0 pending",
        "0 of 3 stale keys deactivated; 0 warned, 3 pending",
        "3 of 3 stale keys deactivated; 0 warned, 0 pending",
    ]
    acted, undone = (part.split()[: 4 * 3] for part in proc.stdout.split("Keys as the server now holds them:")[1:])
    assert dict(zip(acted[0::3], acted[2::3])) == {
        "backup": "Inactive",
        "ci-runner": "Active",
        "old-intern": "Inactive",
        "reporting": "Inactive",
    }
    users = ("backup", "ci-runner", "old-intern", "reporting")
    assert dict(zip(undone[0::3], undone[2::3])) == dict.fromkeys(users, "Active")
    assert len(re.findall(r": restored Active \(was Inactive\)", proc.stdout)) == 3
    assert len(re.findall(r": restored \d{4}-\d\d-\d\d \(was absent\)", proc.stdout)) == 3  # the marks, back
    assert "keyguard-journals" not in {p.name for p in REPO.iterdir()} | {
        p.name for p in (REPO / "playbooks").iterdir()
    }
