#!/usr/bin/env bash
# Run ansible-test sanity and units on a real copy of the collection, with the ansible-test of the given venv.
# Usage: .ci/ansible_test.sh VENV PYTHON_VERSION [SANITY_TEST...]    e.g. .ci/ansible_test.sh .venv 3.11
# With SANITY_TEST names (validate-modules, import, ...) sanity runs only those; without, every sanity test.
set -euo pipefail
venv=$(cd "$1" && pwd)
python_version=$2
shift 2
only=()
for name in "$@"; do only+=(--test "$name"); done
repo=$(cd "$(dirname "$0")/.." && pwd)

# ansible-test rejects a symlinked collection: give it a copy of what is committed.
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/ansible_collections/keyguard/aws"
git -C "$repo" archive HEAD | tar -x -C "$tree/ansible_collections/keyguard/aws"
# Uncommitted edits are tested too, so a local run sees what you are about to commit.
git -C "$repo" diff HEAD --binary | (cd "$tree/ansible_collections/keyguard/aws" && git apply --allow-empty 2>/dev/null || true)

"$venv/bin/python" "$repo/.ci/get_pip.py"
cd "$tree/ansible_collections/keyguard/aws"
"$venv/bin/ansible-test" sanity --venv --python "$python_version" --color no ${only[@]+"${only[@]}"}
"$venv/bin/ansible-test" units --venv --python "$python_version" --color no
