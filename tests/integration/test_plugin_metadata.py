"""Each plugin names a real author and the Python and botocore it needs, as ansible-doc renders them."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from harness import BIN, REPO, clean_environment

# The line validate-modules accepts: "Name (@github_handle)", or "(!UNKNOWN)" for an author nobody can trace,
# which renders as it is; this collection's authors are known, so only a handle will do.
AUTHOR = re.compile(r"^\w.*\(@[\w-]+\)$")
# Every module and inventory plugin of the collection, found on disk so that a new one is checked too.
PLUGINS = {
    **{f"keyguard.aws.{path.stem}": "module" for path in sorted((REPO / "plugins" / "modules").glob("[a-z]*.py"))},
    **{f"keyguard.aws.{path.stem}": "inventory" for path in sorted((REPO / "plugins" / "inventory").glob("[a-z]*.py"))},
}
# The plugins that talk to AWS need botocore; the others (a report written on the controller) need Python alone.
AWS_PLUGINS = [
    name
    for name, kind in PLUGINS.items()
    if "botocore"
    in (REPO / "plugins" / ("modules" if kind == "module" else kind) / f"{name.split('.')[-1]}.py").read_text()
]


def floors():
    """Return {package: minimum version} from requirements.txt, the oldest end CI runs."""
    found = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.fullmatch(r"([a-z0-9_-]+)>=([0-9.]+)", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def rendered(tmp_path, name, kind):
    """Return the plugin's doc as ansible-doc --json gives it."""
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", kind, "--json", name],
        env=clean_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[name]["doc"]


@pytest.mark.parametrize("name", PLUGINS)
def test_author_is_a_traceable_name_not_unknown(tmp_path, name):
    authors = rendered(tmp_path, name, PLUGINS[name])["author"]
    assert authors, name
    for author in authors:
        assert "UNKNOWN" not in author
        assert AUTHOR.fullmatch(author), author


@pytest.mark.parametrize("name", AWS_PLUGINS)
def test_requirements_name_python_and_the_botocore_floor(tmp_path, name):
    requirements = rendered(tmp_path, name, PLUGINS[name])["requirements"]
    assert requirements == ["python >= 3.11", f"botocore >= {floors()['botocore']}"]
