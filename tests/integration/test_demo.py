"""README's first command: the demo runs end to end against its own moto server."""

from __future__ import annotations

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
    summaries = re.findall(r'"msg": "(\d+ of \d+ stale keys [^"]*)"', proc.stdout)
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


def test_demo_org_lists_the_organization_and_sweeps_every_account():
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "org"],
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
    assert [sorted(run) for run in changed] == [
        [("prod-payments", "1"), ("sandbox", "1"), ("staging", "1")],  # check mode: would change
        [("prod-payments", "1"), ("sandbox", "1"), ("staging", "1")],
        [("prod-payments", "0"), ("sandbox", "0"), ("staging", "0")],
    ]
    final = proc.stdout.split("Keys as each account now holds them:")[1].split()
    assert list(zip(final[0::4], final[1::4], final[3::4])) == [
        (account, user, status)
        for account in ("prod-payments", "staging", "sandbox")
        for user, status in (("ci-runner", "Active"), ("old-report-job", "Inactive"))
    ]
