"""The seed tutorial's constants module, with the same names and behaviour.

The seed keeps the address, the buffer size, the listen backlog and the text
encoding in one module that both the server and the client import, so the two
sides cannot disagree.  netlesson keeps those names exactly, so code copied
from the tutorial runs unchanged against ``netlesson.constants``.

``ip_port`` is the fixed address the two-terminal scripts use.  Notebooks and
tests do not use it: they bind to port 0 and let the operating system pick a
free port, so two notebooks (or a notebook and a test run) never collide.
"""

ip_port = ('127.0.0.1', 8081)
buffer_size = 1024
back_log = 5
encoding = 'utf-8'


def str_to_byte(data):
    """Encode text for the wire (``str`` -> ``bytes``) with :data:`encoding`."""
    return data.encode(encoding)


def byte_to_str(data):
    """Decode bytes from the wire (``bytes`` -> ``str``) with :data:`encoding`.

    Like the seed's version this is strict: bytes that are not valid UTF-8
    raise :class:`UnicodeDecodeError`.  Use it on a complete message; a
    character split across two ``recv`` calls needs an incremental decoder
    (see :class:`netlesson.framing.Utf8Stream`).
    """
    return data.decode(encoding)
