#!/usr/bin/env bash
# Build the collection tarball as `ansible-galaxy collection build` does for an upload, and run galaxy-importer on it,
# the check Galaxy and Automation Hub run on every uploaded tarball. Fails on any warning or error it logs.
# Usage: .ci/galaxy_importer.sh VENV      e.g. .ci/galaxy_importer.sh .venv-importer
set -euo pipefail
venv=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
# No public repository URL exists yet, and the importer refuses a galaxy.yml without `repository`. Until there is
# one, CI fills in this placeholder, in its own copy of the tree only; the committed galaxy.yml has no `repository`.
PLACEHOLDER_REPOSITORY=https://placeholder.invalid/keyguard/aws-NOT-A-REAL-REPOSITORY

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/dist"
git -C "$repo" archive HEAD | tar -x -C "$work/src"
# Uncommitted edits are checked too, so a local run sees what you are about to commit.
git -C "$repo" diff HEAD --binary | (cd "$work/src" && git apply --allow-empty 2>/dev/null || true)
if grep -q '^repository:' "$work/src/galaxy.yml"; then
    echo "galaxy.yml has a repository now: drop the placeholder from .ci/galaxy_importer.sh" >&2
    exit 1
fi
echo "repository: $PLACEHOLDER_REPOSITORY  # CI PLACEHOLDER, see .ci/galaxy_importer.sh" >>"$work/src/galaxy.yml"

export PATH="$venv/bin:$PATH" GALAXY_IMPORTER_CONFIG="$repo/.ci/galaxy-importer.cfg"
ansible-galaxy collection build --output-path "$work/dist" "$work/src"
tarball=$(ls "$work/dist"/*.tar.gz)
cd "$work"
set +e
python -m galaxy_importer.main "$tarball" >"$work/importer.log" 2>&1
status=$?
set -e
cat "$work/importer.log"
# The importer logs ansible-lint's findings and most failed checks as warnings and still imports, as Galaxy does;
# CI takes any warning or error as a failure.
if [ "$status" -ne 0 ] || grep -qE '^(WARNING|ERROR)' "$work/importer.log"; then
    echo "galaxy-importer: FAILED (exit $status; see WARNING/ERROR lines above)" >&2
    exit 1
fi
grep -q '^Importer processing completed successfully' "$work/importer.log"
echo "galaxy-importer: passed on $(basename "$tarball")"
