"""Write ansible_devel.inv: the few labels of the Ansible docs that the generated pages link to.

Sphinx would fetch the full inventory from the Ansible docs site; CI cannot reach it, so the build uses
this one instead. Add a label here when the build warns "undefined label", and an environment variable when it
warns "'envvar' reference target not found".
"""

import zlib
from pathlib import Path

LABELS = {
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible Configuration Settings"),
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
}

# Named by the inventory_cache doc fragment that the accounts inventory plugin extends.
ENVVARS = (
    "ANSIBLE_CACHE_PLUGIN",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "ANSIBLE_CACHE_PLUGIN_PREFIX",
    "ANSIBLE_CACHE_PLUGIN_TIMEOUT",
)

header = "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n# The remainder of this file is compressed using zlib.\n"
body = "".join(f"{label} std:label -1 {uri}#$ {title}\n" for label, (uri, title) in LABELS.items())
body += "".join(f"{name} std:envvar 1 reference_appendices/config.html#envvar-$ -\n" for name in ENVVARS)
Path(__file__).with_name("ansible_devel.inv").write_bytes(header.encode() + zlib.compress(body.encode()))
