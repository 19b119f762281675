"""The collection as users get it: a clean tarball that installs and runs, and an execution environment."""

from __future__ import annotations

import re
import subprocess
import tarfile

import pytest
from harness import BIN, REPO

FORBIDDEN = re.compile(
    r"(^|/)(\.venv[^/]*|\.collections|\.pytest_cache|\.ruff_cache|__pycache__|\.git|\.ci|tests/output|docs/preview)(/|$)"
    r"|\.pyc$|\.tar\.gz$|recording|moto\.log$"
)


def run(command, **kwargs):
    """Run a command; fail with its output if it fails; return its stdout."""
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the collection tarball from the checkout and install it into an empty collections path."""
    workdir = tmp_path_factory.mktemp("package")
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(workdir), str(REPO)])
    tarball = workdir / "keyguard-aws-0.1.0.tar.gz"
    run([str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(workdir / "collections"), str(tarball)])
    return tarball, workdir / "collections"


def test_tarball_holds_the_collection_and_nothing_else(installed):
    tarball, _path = installed
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert [name for name in names if FORBIDDEN.search(name)] == []
    for needed in (
        "MANIFEST.json",
        "LICENSE",
        "README.md",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "requirements.txt",
        "bindep.txt",
        "plugins/modules/iam_access_key_status.py",
        "plugins/module_utils/_aws.py",
        "plugins/doc_fragments/connection.py",
        "CHANGELOG.rst",
    ):
        assert needed in names, needed


def test_installed_copy_runs_a_playbook(installed, ansible, moto):
    _tarball, collections = installed
    key = moto.user_with_key("bob")
    args = dict(user_name="bob", access_key_id=key["AccessKeyId"], status="Inactive", **ansible.connection())
    run_ = ansible.run(args, verbosity=3, env={"ANSIBLE_COLLECTIONS_PATH": str(collections)})
    assert run_.result["changed"] is True, run_.stdout
    module_file = f"{collections}/ansible_collections/keyguard/aws/plugins/modules/iam_access_key_status.py"
    assert f"Using module file {module_file}" in run_.stdout
    assert moto.status("bob", key["AccessKeyId"]) == "Inactive"


def test_execution_environment_picks_up_boto3_and_botocore(installed, tmp_path):
    _tarball, collections = installed
    introspected = run([str(BIN / "ansible-builder"), "introspect", str(collections)])
    assert "boto3>=1.35.0  # from collection keyguard.aws" in introspected
    assert "botocore>=1.35.0  # from collection keyguard.aws" in introspected
    example = REPO / "docs" / "execution-environment"
    context = tmp_path / "context"
    run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(context)], cwd=example)
    build_file = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists())
    assert "ansible-galaxy collection install" in build_file.read_text()
    assert "keyguard.aws" in (context / "_build" / "requirements.yml").read_text()


def test_execution_environment_on_automation_platforms_2_16_image(tmp_path):
    example = REPO / "docs" / "execution-environment"
    context = tmp_path / "context"
    definition = "execution-environment-aap25.yml"
    run([str(BIN / "ansible-builder"), "create", "-f", definition, "-c", str(context)], cwd=example)
    build = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    # Automation Platform 2.5's minimal image: its own ansible-core 2.16 and ansible-runner on Python 3.11, microdnf.
    assert 'EE_BASE_IMAGE="registry.redhat.io/ansible-automation-platform-25/ee-minimal-rhel9:latest"' in build
    assert 'PYCMD="/usr/bin/python3.11"' in build and 'PKGMGR="/usr/bin/microdnf"' in build
    assert "check_ansible" in build and "ansible-core" not in build, build
    assert "ansible-galaxy collection install" in build
    assert "keyguard.aws" in (context / "_build" / "requirements.yml").read_text()
