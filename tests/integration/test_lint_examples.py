"""The examples users copy pass ansible-lint's production profile, with no skips: every module's and the inventory
plugin's EXAMPLES, and every YAML example in README.md and the guides."""

from __future__ import annotations

import re
import subprocess

import yaml
from harness import BIN, COLLECTIONS, REPO

RST_BLOCK = re.compile(r"^\.\. code-block:: yaml\n\n((?:(?:    .*)?\n)+)", re.MULTILINE)
MD_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def as_lintable(name, text):
    """Return (folder, YAML text) to lint an example as: a playbook or a rulebook; a task list goes into one play."""
    document = yaml.safe_load(text)
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        return None  # an inventory source, a policy or a requirements file: not a playbook
    if all("rules" in item for item in document):
        return "rulebooks", text
    if all("hosts" in item for item in document):
        return "playbooks", text
    if all("condition" in item for item in document):  # rules, as the user pastes them into a rulebook
        rules = "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())
        source = "    - keyguard.aws.exposed_key_events:\n        queue_url: https://sqs.us-east-1.amazonaws.com/1/q\n"
        return "rulebooks", f"- name: Example from {name}\n  hosts: all\n  sources:\n{source}  rules:\n{rules}"
    # A task list, as the user pastes it into a play: its own text, indented, so its own formatting is linted.
    tasks = "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())
    return "playbooks", f"- name: Example from {name}\n  hosts: localhost\n  gather_facts: false\n  tasks:\n{tasks}"


def examples():
    """Yield (file name, YAML text) for every example in the plugins' EXAMPLES, README.md and the guides."""
    for path in sorted((REPO / "plugins" / "modules").glob("*.py")):
        text = path.read_text()
        match = re.search(r'^EXAMPLES = r"""\n(.*?)^"""', text, re.MULTILINE | re.DOTALL)
        yield f"module_{path.stem}", match.group(1)
    for path in sorted((REPO / "docs" / "docsite" / "rst").glob("*.rst")):
        for number, match in enumerate(RST_BLOCK.finditer(path.read_text())):
            block = "\n".join(line[4:] for line in match.group(1).splitlines())
            yield f"{path.stem}_{number}", block
    for number, match in enumerate(MD_BLOCK.finditer((REPO / "README.md").read_text())):
        yield f"readme_{number}", match.group(1)


def test_every_example_passes_ansible_lint_production(tmp_path):
    written = []
    for name, text in examples():
        lintable = as_lintable(name, text)
        if lintable is not None:
            folder, content = lintable
            out = tmp_path / "examples" / folder / f"{name}.yml"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("---\n" + content)
            written.append(out.name)
    # Each module's EXAMPLES, README's two and the guides' playbooks: this must never quietly lint nothing.
    assert {"module_iam_access_key_status.yml", "module_iam_access_key_info.yml", "readme_0.yml"} <= set(written)
    assert len(written) >= 10, written
    (tmp_path / ".ansible-lint").write_text("---\nprofile: production\noffline: true\n")
    lint = subprocess.run(
        [str(BIN / "ansible-lint"), "--nocolor", "examples/"],
        cwd=tmp_path,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Profile 'production' was required, and it passed." in lint.stderr, lint.stderr
