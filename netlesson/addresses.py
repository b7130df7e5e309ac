"""What ``socket.getaddrinfo`` answers, as rows a person can read.

``getaddrinfo(host, port, family, type, proto, flags)`` returns a list of
5-tuples ``(family, type, proto, canonname, sockaddr)``: each one is exactly
what ``socket.socket(family, type, proto)`` and then ``bind(sockaddr)`` or
``connect(sockaddr)`` need.  Printed raw, the numbers hide that
(``(<AddressFamily.AF_INET6: 10>, <SocketKind.SOCK_STREAM: 1>, 6, '', ('::1', 80, 0, 0))``).
This module only names and lines them up; the lesson (09_addresses) makes the
real calls itself::

    import socket
    from netlesson import addresses
    print(addresses.table(socket.getaddrinfo("::1", 8081)))

It never resolves anything: it formats what it is given.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["AddressInfo", "describe", "table"]

#: protocol numbers shown by name (``getaddrinfo`` gives plain ints for ``proto``)
_PROTOCOL_NAMES = ("IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_SCTP", "IPPROTO_UDPLITE",
                   "IPPROTO_ICMP", "IPPROTO_ICMPV6")
_PROTOCOLS = {getattr(socket, name): name for name in reversed(_PROTOCOL_NAMES)
              if hasattr(socket, name)}

#: the table's column headings, in the order of the 5-tuple
_COLUMNS = ("family", "type", "proto", "canonname", "sockaddr")


class AddressInfo(NamedTuple):
    """One answer of ``getaddrinfo``, with its numbers named.

    ``family`` (``"AF_INET"``, ``"AF_INET6"``), ``type`` (``"SOCK_STREAM"``,
    ``"SOCK_DGRAM"``, ``"SOCK_RAW"``) and ``proto`` (``"6 IPPROTO_TCP"``; a number
    without a name, such as ``0``, stays a number) are text; ``canonname`` is
    ``getaddrinfo``'s own (empty unless ``AI_CANONNAME`` was asked for);
    ``sockaddr`` is the address tuple unchanged: ``(host, port)`` for IPv4,
    ``(host, port, flowinfo, scope_id)`` for IPv6.
    """

    family: str
    type: str
    proto: str
    canonname: str
    sockaddr: tuple


def _name(value) -> str:
    """An enum member's name (``AF_INET6``), else the number as text."""
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(int(value))


def _protocol(number) -> str:
    name = _PROTOCOLS.get(int(number))
    return f"{int(number)} {name}" if name else str(int(number))


def describe(infos: Iterable[tuple]) -> list[AddressInfo]:
    """``getaddrinfo``'s 5-tuples, in their order, as :class:`AddressInfo` rows."""
    return [AddressInfo(_name(family), _name(kind), _protocol(proto), str(canonname),
                        tuple(sockaddr))
            for family, kind, proto, canonname, sockaddr in infos]


def table(infos: Iterable[tuple]) -> str:
    """``getaddrinfo``'s answers as an aligned text table, one line per answer, in order.

    Columns: family, type, proto, sockaddr, and canonname when an answer has
    one.  An empty list gives just the heading.
    """
    rows = describe(infos)
    show_canon = any(row.canonname for row in rows)
    columns = [c for c in _COLUMNS if show_canon or c != "canonname"]
    lines = [[str(getattr(row, c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in lines]) for i, c in enumerate(columns)]
    text = [_line(columns, widths)] + [_line(line, widths) for line in lines]
    return "\n".join(text)


def _line(cells, widths) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
