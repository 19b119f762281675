#!/usr/bin/env bash
# Render the collection's HTML docs into docs/preview/build/html, offline, failing on any Sphinx warning.
# Needs antsibull-docs and Sphinx on PATH and the collection on ANSIBLE_COLLECTIONS_PATH (`make docs` sets both).
set -euo pipefail
cd "$(dirname "$0")"

python3 offline_inventory.py
rm -rf rst build
mkdir -p rst
chmod og-w rst  # antsibull-docs wants that directory only readable by itself
antsibull-docs --config-file antsibull-docs.cfg collection \
    --cleanup everything --use-current --squash-hierarchy --dest-dir rst keyguard.aws
sphinx-build -M html rst build -c . -W --keep-going -q
echo "HTML docs: $(pwd)/build/html/index.html"
