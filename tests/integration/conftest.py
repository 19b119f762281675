"""End-to-end fixtures: a moto server on 127.0.0.1, and real ansible-playbook runs against it."""

from __future__ import annotations

import os

import pytest
from fault_proxy import FaultProxy
from harness import Ansible, Moto


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Refuse tests outside the matrix subsets when KEYGUARD_TEST_VENV names another venv: they need .venv's tools."""
    outside = [item.nodeid for item in items if not any(item.get_closest_marker(m) for m in ("matrix", "organization"))]
    if os.environ.get("KEYGUARD_TEST_VENV") and outside:
        raise pytest.UsageError(
            f"KEYGUARD_TEST_VENV runs only the `-m matrix` and `-m organization` subsets; {len(outside)} other tests "
            f"were selected, such as {outside[0]}."
        )


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """Start one moto server for the whole session."""
    server = Moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.close()


@pytest.fixture
def moto(moto_server):
    """Yield the moto server, empty, with authorization off."""
    moto_server.reset()
    yield moto_server
    moto_server.relax_auth()


@pytest.fixture
def ansible(moto, tmp_path):
    """Return an Ansible runner wired to the moto server."""
    return Ansible(moto, tmp_path)


@pytest.fixture
def fault_proxy(moto):
    """Yield a fault-injecting proxy in front of moto."""
    proxy = FaultProxy(moto.url)
    yield proxy
    proxy.close()
