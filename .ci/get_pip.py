"""Give ansible-test the get-pip script it would download from a host this machine cannot reach.

ansible-test bootstraps pip into each venv it makes by running ~/.ansible/test/cache/get_pip_<X_Y>.py with
pip's own options. This writes that file as a small stand-in that runs pip from the official pip wheel,
fetched from PyPI beside it, for the pip version the given ansible-test pins.

Usage: python .ci/get_pip.py   (run with the Python of the venv whose ansible-test will use it)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import ansible_test

STAND_IN = '''"""Stand-in for get-pip.py: install pip from the wheel beside this file."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "{wheel}"))
from pip._internal.cli.main import main  # noqa: E402

# get-pip.py's own flags: it installs setuptools and wheel unless told not to; this never does.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--upgrade", "--force-reinstall", "--find-links", here] + args))
'''


def pinned_pip_version():
    """Return the pip version this ansible-test bootstraps into its venvs."""
    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    return re.search(r"pip='([0-9.]+)'", source.read_text()).group(1)


def main():
    """Download the pip wheel and write the stand-in script into ansible-test's cache."""
    version = pinned_pip_version()
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", f"pip=={version}", "-d", str(cache)],
        check=True,
    )
    wheel = next(cache.glob(f"pip-{version}-*.whl")).name
    script = cache / f"get_pip_{version.replace('.', '_')}.py"
    script.write_text(STAND_IN.format(wheel=wheel))
    print(f"ansible-test will bootstrap pip {version} from {cache / wheel}")


if __name__ == "__main__":
    main()
