#!/usr/bin/env bash
# Make sure Debian's chromium is installed, for the sweep report's browser tests; install it with apt if missing.
# Idempotent and quiet: prints one line when it installs, nothing when chromium is already there. DejaVu comes
# along because chromium depends on no font, and a report screenshot without one shows boxes for text.
# Needs root (or sudo) only when it has to install. Usage: tools/ensure_chromium.sh
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q 'ok installed'; then
    exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
fi
echo "Installing Debian's chromium for the report tests (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium is still not on PATH after apt-get install" >&2; exit 1; }
