"""Fixtures for unit tests: real servers on loopback port 0, always stopped; messages in English.

``socket.setdefaulttimeout`` gives every socket a test creates a timeout, so a
bug shows up as a failure, never as a hung suite.
"""

import importlib.util
import itertools
import socket
from pathlib import Path

import pytest

from netlesson import background

socket.setdefaulttimeout(10)


@pytest.fixture(autouse=True)
def english_messages(monkeypatch):
    """Unit tests read netlesson's messages in English (NETLESSON_LANG=en), the source language.

    The course's default is Simplified Chinese (netlesson/i18n.py); the tests that
    check the Chinese catalogs set NETLESSON_LANG=zh_CN themselves.  monkeypatch sets
    it in os.environ, so subprocesses a test starts (the CLI, the grading sandbox's
    runner) inherit it, and it is undone after each test, so the notebooks that
    nbval runs in the same session keep the course's default.
    """
    monkeypatch.setenv("NETLESSON_LANG", "en")

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


@pytest.fixture(scope="session")
def ipv6_loopback():
    """``"::1"`` if this machine can bind IPv6 loopback; the test is skipped otherwise."""
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6 support")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"IPv6 loopback ::1 is not available here ({exc})")
    return "::1"


@pytest.fixture(autouse=True)
def _no_leaked_servers():
    """Fail a test that leaves a background server running."""
    before = {h.name for h in background.running()}
    yield
    leaked = [h for h in background.running() if h.name not in before]
    for h in leaked:
        h.stop()
    assert not leaked, f"test left servers running: {leaked}"


@pytest.fixture(scope="session")
def messages_tool():
    """tools/messages.py (the catalogs' extract, compile and check), imported as a module:
    it is a script, not part of the package."""
    path = Path(__file__).resolve().parents[2] / "tools" / "messages.py"
    spec = importlib.util.spec_from_file_location("netlesson_messages_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
