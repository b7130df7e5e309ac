"""What a server log record is and how it reads: its kinds, checks and text.

:mod:`netlesson.serverlog` stores records (a bounded, thread-safe log) and
echoes them; this module holds what a record *is* -- the kinds (:data:`KINDS`)
and the fields each needs, the checks a record passes when it is written, the
:class:`LogEntry` a reader gets, and the rendering of a record's line -- so
that :mod:`netlesson.serverlog` stays about storing and echoing.  Everything
public here is also importable from :mod:`netlesson.serverlog`.
"""

from __future__ import annotations

import functools
import itertools
import operator
import string
import types
from collections.abc import Mapping
from typing import NamedTuple

from .errors import format_address

__all__ = ["KINDS", "PREVIEW_BYTES", "LogEntry", "describe_bytes", "describe_error", "render_record"]

_proxy = types.MappingProxyType

#: How many bytes of a message a record keeps, and a log line shows before it abbreviates.
PREVIEW_BYTES = 60

#: Every kind of record, and how its text is rendered: ``{peer}`` is the peer's
#: address (``127.0.0.1:5000``), ``{error}`` the exception in one line (from the
#: fields ``error_type`` and ``message``), the other
#: names are the record's fields; a field holding bytes is shown by
#: :func:`describe_bytes`.  A writer passes the exception itself as ``error=exc``;
#: the record keeps ``error_type`` and ``message`` (select by those).
KINDS = {
    # a TCP connection (netlesson.tcp.UpperEchoHandler)
    "connected": "connected: {peer}",
    # TCP and UDP: data = the bytes read (the log keeps their start, and nbytes = their length)
    "received": "received {data} from {peer}",
    "reset": "reset by client: {peer} (it aborted: closed with unread data or SO_LINGER 0)",
    "receive_failed": "receive failed from {peer}: {error}",
    "reply_failed": "reply to {peer} failed: {error}",  # TCP and UDP
    "closed": "closed: {peer} ({messages} recv, {nbytes} bytes)",
    # a datagram longer than max_packet_size (netlesson.udp); nbytes = what was kept
    "truncated": ("datagram from {peer} was longer than {nbytes} bytes: max_packet_size "
                  "cut it; echoing the first {nbytes} bytes"),
    # the server (netlesson.classroom, netlesson.background)
    "handler_error": ("exception while handling a request from {peer} (the server keeps "
                      "serving): {error}\n{traceback}"),
    "serve_error": "serve_forever stopped with an error: {error}",
    "close_error": "server_close() failed: {error}",
    "stop_deferred": ("stop() was called from the serving thread: the server closes as soon "
                      "as this request is finished"),
    "close_deferred": ("stop() was called from a handler: the port is closed, and "
                       "server_close() finishes when that handler returns"),
    "close_waiting": ("server_close() is still waiting for handler threads (a client is "
                      "still connected); the port is closed, the threads end when their "
                      "clients leave"),
    # a free sentence written with server.log(text), e.g. by a student's handler
    "note": "{text}",
}

#: Placeholders of a template that are not fields of that name: what they are made from.
_DERIVED = {"peer": (), "error": ("error_type", "message")}


def _fields_shown(template: str) -> frozenset:
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name:
            names.update(_DERIVED.get(name, (name,)))
    return frozenset(names)


#: kind -> the fields a record of that kind must have (its template shows them)
_REQUIRED = {kind: _fields_shown(template) for kind, template in KINDS.items()}
#: kind -> the placeholders its template shows, in order of appearance
_PLACEHOLDERS = {kind: tuple(dict.fromkeys(name for _, name, _, _
                                           in string.Formatter().parse(template) if name))
                 for kind, template in KINDS.items()}
#: the kinds whose text names the peer: their records must have one
_ABOUT_A_PEER = frozenset(kind for kind, template in KINDS.items() if "{peer}" in template)


def describe_bytes(data: bytes, limit: int = PREVIEW_BYTES, *, size: int | None = None) -> str:
    """``repr`` of *data*, abbreviated after *limit* bytes with the full length named.

    *size* is the length of the whole message when *data* is only its start
    (as a record keeps it).

    >>> describe_bytes(b'hello')
    "b'hello'"
    >>> describe_bytes(b'x' * 100, limit=4)
    "b'xxxx'... (100 bytes)"
    """
    size = len(data) if size is None else size
    if size <= limit:
        return repr(bytes(data))
    return f"{bytes(data[:limit])!r}... ({size} bytes)"


def describe_error(error_type: str, message: str) -> str:
    """How a record shows an error: ``ValueError: the message's first line ...``.

    >>> describe_error("ValueError", "bad\\nvery bad")
    'ValueError: bad ...'
    >>> describe_error("NotImplementedError", "")
    'NotImplementedError'
    """
    lines = str(message).strip().splitlines()
    if not lines:
        return error_type
    return f"{error_type}: {lines[0]}" + (" ..." if len(lines) > 1 else "")


def _checked(kind: str, peer, fields: dict) -> Mapping:
    """*fields* as a record keeps them (read-only), or ``ValueError``.

    An exception given as ``error`` is kept as its ``error_type`` and
    ``message``; ``data`` is cut to :data:`PREVIEW_BYTES` bytes, with its
    length in ``nbytes``.  *fields* must be a dict nobody else holds (a
    ``**fields`` argument is).
    """
    required = _REQUIRED.get(kind)
    if required is None:
        raise ValueError(f"unknown log record kind {kind!r}; one of: {', '.join(KINDS)}")
    if "error" in fields:
        error = fields.pop("error")
        if not isinstance(error, BaseException):
            raise ValueError(f"error= takes the exception itself (error=exc), not {error!r}: "
                             f"the record keeps its type and message")
        fields["error_type"] = type(error).__name__
        fields["message"] = str(error)
    if not fields.keys() >= required:
        missing = ", ".join(sorted(required.difference(fields)))
        raise ValueError(f"a {kind!r} record needs the field(s) {missing} (its text "
                         f"{KINDS[kind]!r} shows them); got: {', '.join(fields) or 'none'}")
    if peer is None and kind in _ABOUT_A_PEER:
        raise ValueError(f"a {kind!r} record is about a client: pass its address as peer")
    data = fields.get("data")
    if isinstance(data, (bytes, bytearray, memoryview)):  # keep only what a line shows
        fields["nbytes"] = len(data)
        fields["data"] = bytes(data[:PREVIEW_BYTES])
    return types.MappingProxyType(fields)


def _render(kind: str, peer, fields: Mapping) -> str:
    # A busy server echoes a line per message: only the placeholders the template shows
    # are looked at (_PLACEHOLDERS), and a peer's text is made once per peer.
    values = {}
    for name in _PLACEHOLDERS[kind]:
        if name == "peer":
            values[name] = _peer_text(peer)
        elif name == "error":
            values[name] = describe_error(fields["error_type"], fields.get("message", ""))
        else:
            value = fields[name]
            if isinstance(value, (bytes, bytearray)):
                value = describe_bytes(value, size=fields.get("nbytes") if name == "data"
                                       else None)
            values[name] = value
    return KINDS[kind].format_map(values)


@functools.lru_cache(maxsize=1024)
def _cached_address(peer) -> str:
    return format_address(peer)


def _peer_text(peer) -> str:
    try:
        return _cached_address(peer)
    except TypeError:  # an unhashable address (a list): not worth caching
        return format_address(peer)


@functools.lru_cache(maxsize=8)
def _received_parts(template: str):
    """A ``received`` template split around its two values: ``(before, between, after,
    data_first)``, ``("received ", " from ", "", True)`` for ``"received {data} from
    {peer}"``; ``None`` if it has a conversion, a format spec or other fields (then
    its records are rendered through :func:`_render`)."""
    literals, names = [], []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        literals.append(literal)
        if name is not None:
            if spec or conversion:
                return None
            names.append(name)
    if sorted(names) != ["data", "peer"]:
        return None
    literals += [""] * (3 - len(literals))  # "...{peer}" ends without a literal
    return literals[0], literals[1], literals[2], names[0] == "data"


_PEER = operator.itemgetter(4)
_FIELDS = operator.itemgetter(5)


def _lines(items) -> str:
    """Stored records' text, a line each: what ``echo`` gets for them.

    The timer thread that writes a batch holds the GIL while it renders, and the
    handlers wait for it; so the line a busy server echoes per message is made with as
    little Python as it takes.  A ``received`` record of a short message keeps the
    message itself as its fields (other records keep a mapping, a long message a
    (start, length) pair).  Each run of such records becomes its lines in one list
    comprehension, an f-string per line around ``repr`` of the message, with the
    template's text around each peer's address made once per batch.  Every other
    record is rendered through its template.
    """
    items = list(items)
    parts = _received_parts(KINDS["received"])
    fields = list(map(_FIELDS, items))
    peers = list(map(_PEER, items))
    # where each record is a short message's received record (its fields are bytes)
    short = list(map(operator.is_, map(type, fields), itertools.repeat(bytes)))
    try:
        where = {peer: _peer_text(peer) for peer in set(peers) if peer is not None}
    except TypeError:  # an unhashable address (a list): every line through its template
        parts = None
    if parts is None:
        short = [False] * len(items)
    else:
        before, between, after, data_first = parts
        if data_first:  # "received {data} from {peer}": the peer is in the line's end
            ends = {peer: f"{between}{text}{after}\n" for peer, text in where.items()}
        else:  # the peer is in the line's start
            starts = {peer: f"{before}{text}{between}" for peer, text in where.items()}
            end = f"{after}\n"
    out = []
    start, stop_all = 0, len(items)
    while start < stop_all:
        try:
            stop = short.index(False, start)  # the next record that is not one
        except ValueError:
            stop = stop_all
        if stop > start:
            run = zip(fields[start:stop], peers[start:stop])
            if data_first:
                out += [f"{before}{data!r}{ends[peer]}" for data, peer in run]
            else:
                out += [f"{starts[peer]}{data!r}{end}" for data, peer in run]
        if stop < stop_all:
            _, _, _, kind, peer, record_fields = items[stop]
            out.append(_render(kind, peer, _fields_of(record_fields)) + "\n")
        start = stop + 1
    return "".join(out)


def render_record(kind: str, peer=None, **fields) -> str:
    """The text a record of *kind* about *peer* with *fields* shows, without storing it.

    For a server that has no :class:`ServerLog` (its records go to ``logging``).
    Raises ``ValueError`` as :meth:`ServerLog.record` does.
    """
    return _render(kind, peer, _checked(kind, peer, fields))


class LogEntry(NamedTuple):
    """One record: its sequence number, a ``time.time()`` stamp, the name of the
    thread that wrote it, its ``kind`` (a key of :data:`KINDS`), the ``peer``
    address it is about (``None`` for the server's own records and notes) and
    its ``fields`` (a read-only mapping).  ``str(entry)`` and ``entry.text``
    are the line a cell shows."""

    seq: int
    time: float
    thread: str
    kind: str
    peer: tuple | None
    fields: Mapping[str, object]

    @property
    def text(self) -> str:
        return _render(self.kind, self.peer, self.fields)

    def __str__(self) -> str:
        return self.text


def _fields_of(fields) -> Mapping:
    """A stored record's fields as a mapping (a ``received`` record keeps its message, or a
    long one's (start, length) pair)."""
    if type(fields) is bytes:
        return _proxy({"data": fields, "nbytes": len(fields)})
    if type(fields) is tuple:
        return _proxy({"data": fields[0], "nbytes": fields[1]})
    return fields


def _entry(item: tuple) -> LogEntry:
    seq, when, thread, kind, peer, fields = item
    return LogEntry(seq, when, thread, kind, peer, _fields_of(fields))
