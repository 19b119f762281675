"""The Makefile explains itself: `make` alone prints every target with one line, and no target goes undocumented."""

from __future__ import annotations

import re
import subprocess

from harness import REPO

HELP_LINE = re.compile(r"^  ([a-zA-Z0-9_-]+) +(\S.*)$")


def make(*args):
    """Run make in the checkout without building anything; return its output."""
    proc = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def phony_targets():
    """Return every target the Makefile declares .PHONY, as make itself reads them (-p prints its database)."""
    database = subprocess.run(
        ["make", "-pnq", "-f", "Makefile", ".PHONY"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    ).stdout
    return {name for line in database.splitlines() if line.startswith(".PHONY:") for name in line.split()[1:]}


def help_lines(output):
    """Return {target: its one line} from make help's output."""
    return {m.group(1): m.group(2) for m in map(HELP_LINE.match, output.splitlines()) if m}


def test_make_alone_prints_the_help():
    output = make()
    assert output.startswith("Usage: make <target>\n"), output
    assert output == make("help")
    assert help_lines(output)["help"].startswith("list the targets")


def test_every_phony_target_has_a_help_line():
    targets = phony_targets()
    assert {"help", "test", "demo", "clean", "demo-eda"} <= targets  # the parse found the declarations
    documented = help_lines(make("help"))
    assert sorted(targets - set(documented)) == []
    assert sorted(set(documented) - targets) == []  # and help lists no file or stale target
    assert all(len(text) <= 100 for text in documented.values()), documented
