"""ansible-doc renders the module, and its documented options are exactly the ones it accepts."""

from __future__ import annotations

import json
import subprocess

from harness import BIN, clean_environment

from ansible_collections.keyguard.aws.plugins.modules.iam_access_key_status import ARGUMENT_SPEC

MODULE = "keyguard.aws.iam_access_key_status"


def ansible_doc(tmp_path, *args):
    """Run ansible-doc on the module; return its stdout."""
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), *args, MODULE],
        env=clean_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    return proc.stdout


def test_ansible_doc_renders_every_section(tmp_path):
    text = ansible_doc(tmp_path)
    for section in ("OPTIONS", "ATTRIBUTES", "NOTES", "EXAMPLES", "RETURN VALUES", "allow_self_deactivation"):
        assert section in text


def test_documented_options_match_the_argument_spec(tmp_path):
    doc = json.loads(ansible_doc(tmp_path, "--json"))[MODULE]["doc"]
    documented = doc["options"]
    assert set(documented) == set(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        option = documented[name]
        assert option.get("type", "str") == spec.get("type", "str"), name
        assert option.get("default") == spec.get("default"), name
        assert sorted(option.get("aliases", [])) == sorted(spec.get("aliases", [])), name
        assert option.get("choices") == spec.get("choices"), name
        assert bool(option.get("required")) == bool(spec.get("required")), name
    assert {name: value["support"] for name, value in doc["attributes"].items()} == {
        "check_mode": "full",
        "diff_mode": "full",
        "idempotent": "full",
    }
