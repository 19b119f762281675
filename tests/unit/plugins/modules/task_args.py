"""Task args the way ansible-playbook hands them to a module, for tests that run a module's main()."""

from __future__ import annotations


def controller_args(args):
    """Return task args as ansible-playbook sends them at default verbosity: no tracebacks in results."""
    # ansible-core 2.19.0 reads a missing _ansible_tracebacks_for as "tracebacks for everything"; the controller
    # always sends it (empty unless DISPLAY_TRACEBACK asks for more), so the tests send it too.
    return dict(args, _ansible_tracebacks_for=[])
