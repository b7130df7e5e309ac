"""Sharing one machine: a port of one's own, and who holds a port.

On a JupyterHub node every student's servers share one loopback interface.
The seed's fixed port (``constants.ip_port``, 127.0.0.1:8081) then pairs one
student's client with another student's server, and JupyterHub's own API
listens on 127.0.0.1:8081 by default.  Two tools:

* :func:`default_address` -- ``("127.0.0.1", port)`` where *port* comes from the
  environment variable :data:`PORT_VARIABLE` (``NETLESSON_PORT``) when it is
  set, else from the seed's ``constants.ip_port``.  A hub sets it per student
  (e.g. ``c.Spawner.environment = {"NETLESSON_PORT": lambda spawner:
  str(20000 + spawner.user.id)}``), so one student's two terminals still pair
  up without typing a port and two students never meet;
* :func:`port_holders` -- which sockets hold a TCP or UDP port of this machine,
  and whose they are (:class:`PortHolder`: user id and name, and the process
  id and command line when the system lets us see them).  Linux only (it reads
  ``/proc/net/tcp``, ``tcp6``, ``udp``, ``udp6`` and the ``/proc/PID/fd``
  links); elsewhere it finds nothing.

These functions return data; the command line (:mod:`netlesson.cli`) words it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import NamedTuple

from . import constants
from .i18n import core as _messages

_ = _messages.gettext

__all__ = ["PORT_VARIABLE", "default_address", "port_from_environment", "PortHolder",
           "port_holders", "parse_proc_net"]

#: the environment variable that gives a user's default port for the two-terminal commands
PORT_VARIABLE = "NETLESSON_PORT"

#: words in a command line that mark JupyterHub or its proxy
_HUB_MARKS = ("jupyterhub", "configurable-http-proxy")
#: TCP state "listening" in /proc/net/tcp (include/net/tcp_states.h)
_TCP_LISTEN = "0A"


def port_from_environment(environ=None) -> int | None:
    """The port :data:`PORT_VARIABLE` names, or ``None`` when it is unset or empty.

    Raises ``ValueError`` naming the variable when its value is not a port
    from 1 to 65535 (0, "any free port", cannot pair a client with a server).
    """
    environ = os.environ if environ is None else environ
    text = environ.get(PORT_VARIABLE, "").strip()
    if not text:
        return None
    try:
        port = int(text)
    except ValueError:
        port = None
    if port is None or not 1 <= port <= 65535:
        raise ValueError(_("the environment variable {variable}={value} is not a port: set it "
                           "to a port number from 1024 to 65535 that is yours (e.g. export "
                           "{variable}=18081), or unset it to use the seed's {port}").format(
            variable=PORT_VARIABLE, value=repr(text), port=constants.ip_port[1]))
    return port


def default_address(environ=None) -> tuple[str, int]:
    """``(host, port)`` for the two-terminal servers and clients of this user.

    The host is the seed's (127.0.0.1); the port is :data:`PORT_VARIABLE`'s
    when set, else the seed's 8081.  ``ValueError`` (naming the variable) when
    the variable holds something that is not a port.
    """
    port = port_from_environment(environ)
    host, seed_port = constants.ip_port
    return (host, seed_port if port is None else port)


class PortHolder(NamedTuple):
    """A socket that holds a port: whose it is, and, when visible, which process has it.

    ``uid`` and ``user`` (``None`` when the user id has no name) come from the
    socket table; ``pid`` and ``command`` (the command line as one string) only
    when this process may look at the holder's open files (its own user's
    processes, or everything for root).  ``jupyterhub`` is true when the holder
    is, or the holder's user runs, JupyterHub or its proxy.
    """

    protocol: str  # "tcp" or "udp"
    address: tuple  # (host, port) the socket is bound to
    uid: int
    user: str | None
    inode: int
    pid: int | None = None
    command: str | None = None
    jupyterhub: bool = False

    @property
    def mine(self) -> bool:
        """Does the socket belong to the user running this code?"""
        return self.uid == os.getuid()


def _hex_address(text: str) -> tuple[str, int]:
    """``0100007F:1F91`` -> ``('127.0.0.1', 8081)``; IPv6 in /proc's word order too."""
    host_hex, port_hex = text.split(":")
    raw = bytes.fromhex(host_hex)
    # the kernel prints each 32-bit word in host byte order
    words = b"".join(int.from_bytes(raw[i:i + 4], "little").to_bytes(4, "big")
                     for i in range(0, len(raw), 4))
    return (str(ipaddress.ip_address(words)), int(port_hex, 16))


def parse_proc_net(text: str, protocol: str) -> list[PortHolder]:
    """The bound sockets in the text of ``/proc/net/{tcp,tcp6,udp,udp6}``.

    TCP sockets count only when listening (a connection's local port is not
    "held" in the sense a server's bind fails on); UDP sockets count when bound.
    ``pid`` and ``command`` are left empty (see :func:`port_holders`).
    """
    holders = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        local, state, uid, inode = parts[1], parts[3], parts[7], parts[9]
        if protocol == "tcp" and state != _TCP_LISTEN:
            continue
        try:
            address = _hex_address(local)
            uid_number = int(uid)
        except ValueError:
            continue
        if address[1] == 0:
            continue
        holders.append(PortHolder(protocol, address, uid_number, _user_name(uid_number),
                                  int(inode)))
    return holders


def _user_name(uid: int) -> str | None:
    try:
        import pwd
    except ImportError:  # pragma: no cover - not a Unix
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _covers(bound: str, wanted: set[str]) -> bool:
    """Does a socket bound to *bound* take the port of every host in *wanted*?"""
    if bound in ("0.0.0.0", "::") or "0.0.0.0" in wanted or "::" in wanted:
        return True
    if bound.startswith("::ffff:"):
        bound = bound[len("::ffff:"):]
    return bound in wanted


def _hosts(host: str) -> set[str]:
    """The IP addresses *host* stands for (itself when it is one, or does not resolve)."""
    if not host:
        return {"0.0.0.0", "::"}
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)} or {host}
    except OSError:
        return {host}


def port_holders(address, protocol: str = "tcp", *, proc: str | os.PathLike = "/proc"
                 ) -> list[PortHolder]:
    """The sockets that hold *address*'s port for *address*'s host (Linux; ``[]`` elsewhere).

    *address* is ``(host, port)``; *protocol* ``"tcp"`` (listening sockets) or
    ``"udp"`` (bound sockets).  A socket bound to every interface (0.0.0.0,
    ``::``) holds the port for every host.  Each holder's ``pid`` and
    ``command`` are filled in when this process may read the holder's
    ``/proc/PID/fd``; ``jupyterhub`` when its command, or (for a process we
    cannot see) a JupyterHub process of the same user, is found.
    *proc* is where procfs is mounted (tests pass a directory of sample files).
    """
    proc = Path(proc)
    host, port = address[0], int(address[1])
    wanted = _hosts(host)
    found = []
    for suffix in ("", "6"):
        try:
            text = (proc / "net" / f"{protocol}{suffix}").read_text()
        except OSError:
            continue
        found += [h for h in parse_proc_net(text, protocol)
                  if h.address[1] == port and _covers(h.address[0], wanted)]
    if not found:
        return []
    owners = _socket_owners(proc, {h.inode for h in found})
    hubs = None
    result = []
    for holder in found:
        pid, command = owners.get(holder.inode, (None, None))
        hub = command is not None and _looks_like_hub(command)
        if pid is None:
            if hubs is None:
                hubs = _hub_users(proc)
            hub = holder.uid in hubs
        result.append(holder._replace(pid=pid, command=command, jupyterhub=hub))
    return result


def _pids(proc: Path):
    try:
        names = os.listdir(proc)
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def _command(proc: Path, pid: int) -> str | None:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part) or None


def _socket_owners(proc: Path, inodes: set[int]) -> dict[int, tuple[int, str | None]]:
    """inode -> (pid, command line) for the processes whose descriptors we may read."""
    links = {f"socket:[{inode}]": inode for inode in inodes}
    owners = {}
    for pid in _pids(proc):
        fd_dir = proc / str(pid) / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # another user's process, or it just ended
            continue
        for fd in fds:
            try:
                inode = links.get(os.readlink(fd_dir / fd))
            except OSError:
                continue
            if inode is not None and inode not in owners:
                owners[inode] = (pid, _command(proc, pid))
        if len(owners) == len(links):
            break
    return owners


def _looks_like_hub(command: str) -> bool:
    lowered = command.lower()
    return any(mark in lowered for mark in _HUB_MARKS)


def _hub_users(proc: Path) -> set[int]:
    """User ids that run a JupyterHub (or proxy) process (command lines are world-readable)."""
    users = set()
    for pid in _pids(proc):
        command = _command(proc, pid)
        if command is None or not _looks_like_hub(command):
            continue
        try:
            users.add((proc / str(pid)).stat().st_uid)
        except OSError:
            continue
    return users
