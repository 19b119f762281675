"""Task args the way ansible-playbook hands them to a module, for tests that run a module's main()."""

from __future__ import annotations

import contextlib
import json

from ansible.module_utils.common.parameters import PASS_VARS

try:  # ansible-core 2.19 and later
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.16 to 2.18, the oldest end of the support matrix, have no such helper
    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Make AnsibleModule read these args, as ansible-core 2.19's patch_module_args does."""
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


__all__ = ["controller_args", "patch_module_args"]


def controller_args(args):
    """Return task args as ansible-playbook sends them at default verbosity: no tracebacks in results."""
    # ansible-core 2.19.0 reads a missing _ansible_tracebacks_for as "tracebacks for everything"; the controller
    # always sends it (empty unless DISPLAY_TRACEBACK asks for more), so the tests send it too. Before 2.19 there is
    # no such setting, and a module refuses it as an unsupported parameter.
    if "tracebacks_for" not in PASS_VARS:
        return dict(args)
    return dict(args, _ansible_tracebacks_for=[])
