"""The venv under test (KEYGUARD_TEST_VENV, or this one) is the one whose ansible-core and Python run the playbooks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from harness import BIN, PYTHON, REPO


@pytest.mark.matrix
def test_playbooks_and_modules_run_on_the_venv_under_test(ansible):
    core = subprocess.run(
        [str(PYTHON), "-c", "import ansible.release; print(ansible.release.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    run = ansible.run({"msg": "{{ [ansible_version.full, ansible_playbook_python] }}"}, module="ansible.builtin.debug")
    version, playbook_python = run.result["msg"]
    assert (version, Path(playbook_python).parent) == (core, BIN), run.stdout
    # Modules, keyguard's included, run on the same Python, so they import the botocore installed beside it.
    facts = ansible.run({"gather_subset": ["!all", "!min", "python"]}, module="ansible.builtin.setup")
    assert facts.result["ansible_facts"]["ansible_python"]["executable"] == str(PYTHON), facts.stdout


def pins(name):
    """Return {package: version} from one of the repository's pinned requirement files."""
    lines = (REPO / name).read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def readme_row(release):
    """Return the cells of the README support matrix row for this ansible-core release."""
    rows = [line.split("|")[1:-1] for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| 2.")]
    return next([cell.strip() for cell in row] for row in rows if row[0].strip() == release)


def test_claims_match_what_the_matrix_ends_run():
    oldest, newest = pins("requirements-oldest.txt"), pins("requirements-newest.txt")
    core, boto = oldest["ansible-core"], oldest["botocore"]
    assert oldest["boto3"] == boto and newest["boto3"] == newest["botocore"]
    assert yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"] == f">={core}"
    assert [line for line in (REPO / "requirements.txt").read_text().splitlines() if not line.startswith("#")] == [
        f"boto3>={boto}",
        f"botocore>={boto}",
    ]
    assert yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())["dependencies"] == {
        "python": "requirements.txt",
        "system": "bindep.txt",
    }
    for example in ("execution-environment/execution-environment.yml", "decision-environment/decision-environment.yml"):
        definition = yaml.safe_load((REPO / "docs" / example).read_text())
        assert definition["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core>={core}", example
    de_requirements = (REPO / "docs" / "decision-environment" / "requirements.txt").read_text().splitlines()
    assert {f"boto3>={boto}", f"botocore>={boto}"} <= set(de_requirements)
    # README: the oldest end's row names exactly these versions, the newest end's row the newest pins.
    oldest_row = readme_row(core.rsplit(".", 1)[0])
    assert f"{core}, Python 3.11, boto3/botocore {boto}:" in oldest_row[3]
    newest_row = readme_row(newest["ansible-core"].rsplit(".", 1)[0])
    assert f"{newest['ansible-core']}, Python 3.13, boto3/botocore {newest['botocore']}:" in newest_row[3]
    assert f'`requires_ansible: ">={core}"`' in (REPO / "README.md").read_text()
    assert f"`boto3>={boto}`, `botocore>={boto}`" in (REPO / "README.md").read_text()
