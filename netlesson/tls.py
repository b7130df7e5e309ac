"""TLS on the course's servers: wrap each accepted connection, shake hands in its own thread.

``socketserver`` knows nothing about TLS, but one overridden step is enough to add it,
the way a mix-in changes one step of ``BaseServer``'s loop::

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)          # or trustme's cert.configure_cert(context)
    server = tls.create_server(("127.0.0.1", 0), context=context)   # the upper-case echo, over TLS

Where the wrapping happens is the point of this module:

* :meth:`TLSServerMixIn.get_request` wraps the socket ``accept()`` returned with
  ``server_side=True`` and ``do_handshake_on_connect=False``.  It runs in the serving
  thread -- the one loop every client goes through -- so it does no network I/O: only
  the wrapping, which is instant.
* :meth:`TLSServerMixIn.finish_request` does the handshake, at most
  :attr:`~TLSServerMixIn.handshake_timeout` seconds, then builds the handler as
  ``BaseServer.finish_request`` does.  With ``ThreadingMixIn`` it runs in the request's
  own thread, so a client that connects and never says a word holds up only itself.

Every later step sees the wrapped socket as ``request``: the handler's ``self.request``
reads and writes plaintext (the netlesson echo handler runs unchanged), and
``shutdown_request`` / ``close_request`` close it.  Wrapping the *listening* socket
instead (``self.socket = context.wrap_socket(self.socket, server_side=True)``) would
make ``accept()`` itself do the handshake, in the serving thread: one silent client
then stops the whole server.

A failed handshake (a client that rejects the certificate, speaks plain TCP, or says
nothing until the timeout) raises in ``finish_request``; ``process_request_thread``
passes the exception to ``handle_error`` -- on a classroom server a
``"handler_error"`` record in ``server.log`` -- and the server keeps serving.
"""

from __future__ import annotations

import socketserver
import ssl

from . import tcp
from .classroom import make_server
from .i18n import core as _messages

_ = _messages.gettext

__all__ = ["TLSServerMixIn", "ClassroomTLSServer", "create_server"]


class TLSServerMixIn:
    """Mix in before a TCP server class: ``class S(TLSServerMixIn, ThreadingTCPServer)``.

    The server takes one more keyword argument, ``context``: the server-side
    :class:`ssl.SSLContext` (with its certificate chain loaded) that wraps each
    accepted connection.
    """

    #: seconds a client has to complete the TLS handshake
    handshake_timeout = 5.0

    def __init__(self, server_address, RequestHandlerClass, bind_and_activate=True, *,
                 context: ssl.SSLContext, **kwargs):
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(_("context must be an ssl.SSLContext, not {context}").format(
                context=repr(context)))
        self.context = context  # before super().__init__: nothing is accepted before that
        super().__init__(server_address, RequestHandlerClass, bind_and_activate, **kwargs)

    def get_request(self):
        """Accept a connection and wrap it for TLS; the handshake waits (serving thread)."""
        sock, client_address = super().get_request()
        try:
            wrapped = self.context.wrap_socket(sock, server_side=True,
                                               do_handshake_on_connect=False)
        except (OSError, ValueError):  # the client is already gone
            sock.close()
            raise OSError("the connection closed before TLS could start") from None
        return wrapped, client_address

    def finish_request(self, request, client_address):
        """Shake hands (at most ``handshake_timeout`` s), then build the handler (request's thread)."""
        previous = request.gettimeout()
        request.settimeout(self.handshake_timeout)
        request.do_handshake()
        request.settimeout(previous)
        super().finish_request(request, client_address)


class ClassroomTLSServer(TLSServerMixIn, tcp.ClassroomTCPServer):
    """:class:`netlesson.tcp.ClassroomTCPServer` over TLS: a thread per client, ``server.log``."""


def create_server(address=("127.0.0.1", 0), handler=tcp.UpperEchoHandler,
                  server_class: type[socketserver.BaseServer] = ClassroomTLSServer, *,
                  context: ssl.SSLContext, backlog: int | None = None, **kwargs):
    """Build a TLS server (the upper-case echo by default); a busy port raises ``PortInUseError``.

    Args:
        address: ``(host, port)``; port 0 lets the system pick a free port.
        handler: the request handler class; it reads and writes plaintext.
        server_class: a server class with :class:`TLSServerMixIn` in its bases.
        context: the server-side :class:`ssl.SSLContext`, certificate loaded.
        backlog: the listen backlog, as for :func:`netlesson.tcp.create_server`.
        **kwargs: passed to the server class (``log=`` for classroom servers).
    """
    if not issubclass(server_class, TLSServerMixIn):
        raise TypeError(_("{server_class} does not speak TLS: put TLSServerMixIn in front of "
                          "its bases").format(server_class=server_class.__name__))
    return make_server(server_class, address, handler, backlog=backlog, context=context, **kwargs)
