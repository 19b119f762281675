"""Module unit tests run main() in the test process, as Ansible runs a module on a target."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def as_on_a_target(monkeypatch):
    """Keep module warnings in the result even after a test in this process imported a controller plugin.

    From ansible-core 2.19, warn() sends warnings to the controller's display instead of the result once anything
    has imported controller code (the inventory plugin's unit tests do); a module never runs that way.
    """
    try:
        from ansible.module_utils import _internal
    except ImportError:  # before 2.19 module warnings always go into the result
        return
    monkeypatch.setattr(_internal, "is_controller", False, raising=False)
