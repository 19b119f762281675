"""ansible-doc renders the module, and its documented options are exactly the ones it accepts."""

from __future__ import annotations

import json
import subprocess

import pytest
from harness import BIN, clean_environment

from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_info, iam_access_key_status, iam_user_tags

MODULES = {
    "keyguard.aws.iam_access_key_status": (
        iam_access_key_status,
        {"check_mode": "full", "diff_mode": "full", "idempotent": "full"},
    ),
    "keyguard.aws.iam_access_key_info": (
        iam_access_key_info,
        {"check_mode": "full", "diff_mode": "none", "idempotent": "full"},
    ),
    "keyguard.aws.iam_user_tags": (
        iam_user_tags,
        {"check_mode": "full", "diff_mode": "full", "idempotent": "full"},
    ),
}


def ansible_doc(tmp_path, module, *args):
    """Run ansible-doc on the module; return its stdout."""
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), *args, module],
        env=clean_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_every_section(tmp_path, module):
    text = ansible_doc(tmp_path, module)
    for section in ("OPTIONS", "ATTRIBUTES", "NOTES", "EXAMPLES", "RETURN VALUES", "endpoint_url"):
        assert section in text


@pytest.mark.parametrize("module", MODULES)
def test_documented_options_match_the_argument_spec(tmp_path, module):
    code, attributes = MODULES[module]
    doc = json.loads(ansible_doc(tmp_path, module, "--json"))[module]["doc"]
    documented = doc["options"]
    assert set(documented) == set(code.ARGUMENT_SPEC)
    for name, spec in code.ARGUMENT_SPEC.items():
        option = documented[name]
        assert option.get("type", "str") == spec.get("type", "str"), name
        assert option.get("default") == spec.get("default"), name
        assert sorted(option.get("aliases", [])) == sorted(spec.get("aliases", [])), name
        assert option.get("choices") == spec.get("choices"), name
        assert bool(option.get("required")) == bool(spec.get("required")), name
    assert {name: value["support"] for name, value in doc["attributes"].items()} == attributes
