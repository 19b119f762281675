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
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))


def minor(version):
    """Return the major.minor part of a version."""
    return ".".join(version.split(".")[:2])


def makefile_recipe(target):
    """Return the recipe lines of one Makefile target."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return lines[start], recipe


def test_claims_match_what_the_matrix_ends_run():
    oldest, newest = pins("requirements-oldest.txt"), pins("requirements-newest.txt")
    core, boto = oldest["ansible-core"], oldest["botocore"]
    floor = f"{minor(core)}.0"
    assert oldest["boto3"] == boto and newest["boto3"] == newest["botocore"]
    # requires_ansible names the oldest end's minor; CI pins its newest patch.
    assert yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"] == f">={floor}"
    assert [line for line in (REPO / "requirements.txt").read_text().splitlines() if not line.startswith("#")] == [
        f"boto3>={boto}",
        f"botocore>={boto}",
    ]
    assert yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())["dependencies"] == {
        "python": "requirements.txt",
        "system": "bindep.txt",
    }
    ee = yaml.safe_load((REPO / "docs" / "execution-environment" / "execution-environment.yml").read_text())
    assert ee["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core>={floor}"
    # Automation Platform's image brings the oldest end's ansible-core minor itself.
    aap = yaml.safe_load((REPO / "docs" / "execution-environment" / "execution-environment-aap25.yml").read_text())
    assert aap["images"]["base_image"]["name"].startswith("registry.redhat.io/ansible-automation-platform-25/")
    assert "ansible_core" not in aap["dependencies"]
    # The decision environment runs ansible-rulebook, which is not bound to requires_ansible; it must still meet it.
    de = yaml.safe_load((REPO / "docs" / "decision-environment" / "decision-environment.yml").read_text())
    de_core = de["dependencies"]["ansible_core"]["package_pip"]
    assert de_core.startswith("ansible-core>=")
    assert tuple(map(int, de_core.split(">=")[1].split("."))) >= tuple(map(int, floor.split(".")))
    de_requirements = (REPO / "docs" / "decision-environment" / "requirements.txt").read_text().splitlines()
    assert {f"boto3>={boto}", f"botocore>={boto}"} <= set(de_requirements)
    readme = (REPO / "README.md").read_text()
    assert f'`requires_ansible: ">={floor}"`' in readme
    assert f"`boto3>={boto}`, `botocore>={boto}`" in readme


def test_readme_table_is_what_ci_runs():
    oldest, newest = pins("requirements-oldest.txt"), pins("requirements-newest.txt")
    rows = [line.split("|")[1:-1] for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| 2.")]
    releases = [row[0].strip() for row in rows]
    # One row per ansible-core minor from the oldest end to the newest, newest first.
    low, high = (int(minor(pins_["ansible-core"]).split(".")[1]) for pins_ in (oldest, newest))
    assert releases == [f"2.{n}" for n in range(high, low - 1, -1)]
    ends = {minor(oldest["ansible-core"]): oldest, minor(newest["ansible-core"]): newest}
    python = {minor(oldest["ansible-core"]): sanity_python("sanity-oldest")}
    python[minor(newest["ansible-core"])] = sanity_python("sanity-newest")
    for release, cells in zip(releases, rows):
        ci = cells[-1].strip()
        if release in ends:
            pinned = ends[release]
            assert ci.startswith(f"{pinned['ansible-core']}, Python {python[release]}, boto3/botocore "), ci
            assert f"boto3/botocore {pinned['botocore']}:" in ci
            assert "every `ansible-test sanity` test" in ci and "`ansible-test units`" in ci, ci
            assert "the end-to-end subset" in ci, ci
        elif release == readme_core():
            assert ci.startswith(f"{pins('requirements-dev.txt')['ansible-core']}, Python 3.11,"), ci
        else:
            assert ci == "none: between the two ends", (release, ci)
    assert "the inventory and organization tests" in rows[releases.index(minor(oldest["ansible-core"]))][-1]


def readme_core():
    """Return the ansible-core minor of .venv, which runs every pytest test."""
    return minor(pins("requirements-dev.txt")["ansible-core"])


def sanity_python(target):
    """Return the Python version a sanity target of the Makefile runs ansible-test with."""
    _line, recipe = makefile_recipe(target)
    (command,) = recipe
    return command.split()[2]


def test_what_ci_runs_is_the_full_sanity_and_the_oldest_python_is_the_declared_minimum():
    # .ci/run runs `make test`, which runs sanity (both ends, in full), galaxy-importer and the matrix.
    assert "make test" in (REPO / ".ci" / "run").read_text()
    test_line, _recipe = makefile_recipe("test")
    assert {"sanity", "importer", "matrix"} <= set(test_line.split(":")[1].split())
    for target, venv in (("sanity-oldest", "$(VENV_OLDEST)"), ("sanity-newest", "$(VENV_NEWEST)")):
        _line, (command,) = makefile_recipe(target)
        # No sanity test names after the Python version: ansible-test runs every sanity test.
        assert command.split() == [".ci/ansible_test.sh", venv, command.split()[2]], command
    _line, recipe = makefile_recipe("matrix-oldest")
    assert any('-m "matrix or organization"' in line for line in recipe), recipe
    declared = yaml.safe_load((REPO / "tests" / "config.yml").read_text())["modules"]["python_requires"]
    assert declared == f">={sanity_python('sanity-oldest')}"
    assert not list(REPO.glob("tests/sanity/ignore-*.txt"))
