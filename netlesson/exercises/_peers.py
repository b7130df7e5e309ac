"""Is a client one of this process's own sockets?

On a shared host (a JupyterHub node) every user shares the loopback
interface: anyone can connect to the port a check server listens on, or send
it a datagram, while a student's check runs.  A check server talks to exactly
two kinds of client: the checker's own sockets and the student's client under
test -- and both live in this process, the student's kernel.  So a check
server serves a peer only if the peer's address is the local address of a
socket this process owns (for TCP: one connected to this very server); a
connection or datagram from anyone else is dropped before any of the
student's code sees it.

How we know: each of this process's file descriptors that is a socket
(listed in ``/proc/self/fd``) is asked for its own address and its peer's,
through a duplicate of the descriptor that is closed at once.  The duplicate
is wrapped with ``SOCK_NONBLOCK`` in its type, because a plain
``socket.socket(fileno=...)`` applies ``socket.getdefaulttimeout()`` -- and
so makes the *shared* open file non-blocking, the student's socket included.
That is a fraction of a millisecond for a kernel's few dozen descriptors, and
it does not grow with the number of connections on the host, as reading
``/proc/net/tcp`` does (psutil's way, about 2 ms per thousand connections on
the host; used where there is no ``/proc/self/fd`` or no ``SOCK_NONBLOCK``, as on
macOS and Windows).  Nothing is cached here.  Where the platform cannot tell
at all, every peer is accepted, as a plain server would.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat

__all__ = ["is_own_peer"]

_FD_DIR = "/proc/self/fd"


def _ip(host):
    """*host* as an ``ipaddress`` object, an IPv4-mapped IPv6 address as IPv4; ``None`` if not an IP."""
    try:
        ip = ipaddress.ip_address(str(host).partition("%")[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _same_endpoint(ours, theirs, *, wildcard: bool) -> bool:
    """Do two ``(ip, port)`` pairs name the same endpoint? (*wildcard*: ours may be 0.0.0.0/::)."""
    if not ours or not theirs or ours[1] != theirs[1]:
        return False
    mine, other = _ip(ours[0]), _ip(theirs[0])
    if mine is None or other is None:
        return str(ours[0]) == str(theirs[0])
    return mine == other or (wildcard and mine.is_unspecified)


def _descriptor_sockets(sock_type):
    """``(local, remote)`` of this process's IP sockets of *sock_type*; ``None`` if it cannot list them."""
    nonblock = getattr(socket, "SOCK_NONBLOCK", None)
    if nonblock is None:
        return None  # wrapping a duplicate could change the original's blocking mode
    try:
        names = os.listdir(_FD_DIR)
    except OSError:
        return None
    found = []
    for name in names:
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            dup = os.dup(fd)
        except (ValueError, OSError):
            continue  # not a number, or closed since listdir
        try:
            # SOCK_NONBLOCK in the type: the wrapper leaves the (shared) blocking mode alone
            sock = socket.socket(type=socket.SOCK_STREAM | nonblock, fileno=dup)
        except OSError:  # a kind of socket Python cannot wrap
            os.close(dup)
            continue
        with sock:  # closes the duplicate only
            try:
                real_type = sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
            except OSError:
                continue
            if sock.family in (socket.AF_INET, socket.AF_INET6) and real_type == sock_type:
                found.append(_endpoints(sock))
    return found


def _endpoints(sock) -> tuple:
    """``(local, remote)`` of *sock*; ``None`` for what it does not have."""
    try:
        local = sock.getsockname()[:2]
    except OSError:
        local = None
    try:
        remote = sock.getpeername()[:2]
    except OSError:
        remote = None  # listening, or an unconnected UDP socket
    return local, remote


def _psutil_sockets(kind: str):
    """The same from psutil (reads the host's whole connection table); ``None`` if it cannot."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return None
    try:
        process = psutil.Process(os.getpid())
        listing = getattr(process, "net_connections", None) or process.connections
        return [(tuple(c.laddr)[:2], tuple(c.raddr)[:2] or None) for c in listing(kind=kind)]
    except (psutil.Error, NotImplementedError, OSError):
        return None


def is_own_peer(peer, server_address, kind: str) -> bool:
    """Is *peer* (a client address as ``accept``/``recvfrom`` gives it) a socket of this process?

    For ``kind="tcp"`` the socket must also be connected to *server_address*
    (the check server's own address); for ``"udp"`` its local address must be
    *peer* (a socket bound to the wildcard address counts for any of its
    port's addresses).  ``True`` when the platform cannot tell.
    """
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    sockets = _descriptor_sockets(sock_type)
    if sockets is None:
        sockets = _psutil_sockets(kind)
    if sockets is None:
        return True
    peer = tuple(peer)[:2]
    server = tuple(server_address)[:2]
    for local, remote in sockets:
        if kind == "tcp":
            if (remote and _same_endpoint(local, peer, wildcard=False)
                    and _same_endpoint(server, remote, wildcard=True)):
                return True
        elif _same_endpoint(local, peer, wildcard=True):
            return True
    return False
