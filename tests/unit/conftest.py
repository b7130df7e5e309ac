"""Fixtures for unit tests: real servers on loopback port 0, always stopped.

``socket.setdefaulttimeout`` gives every socket a test creates a timeout, so a
bug shows up as a failure, never as a hung suite.
"""

import itertools
import socket

import pytest

from netlesson import background

socket.setdefaulttimeout(10)

_names = itertools.count()


@pytest.fixture
def tcp_server():
    handle = background.start_tcp(f"test-tcp-{next(_names)}")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def udp_server():
    handle = background.start_udp(f"test-udp-{next(_names)}")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(autouse=True)
def _no_leaked_servers():
    """Fail a test that leaves a background server running."""
    before = {h.name for h in background.running()}
    yield
    leaked = [h for h in background.running() if h.name not in before]
    for h in leaked:
        h.stop()
    assert not leaked, f"test left servers running: {leaked}"
