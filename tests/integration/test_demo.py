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
    summaries = re.findall(r'"msg": "(\d+ of \d+ stale keys deactivated)"', proc.stdout)
    assert summaries == [
        "3 of 3 stale keys deactivated",
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
