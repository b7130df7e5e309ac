"""netlesson: a Jupyter course on Python network programming with ``socketserver``.

Modules, one job each:

* :mod:`netlesson.constants` -- the seed tutorial's constants (``ip_port``, ``buffer_size`` ...)
* :mod:`netlesson.tcp`, :mod:`netlesson.udp` -- upper-case echo handlers, servers, clients
* :mod:`netlesson.background` -- start a server in a notebook without blocking the cell
* :mod:`netlesson.framing` -- recvall, length prefixes, delimiters, split UTF-8
* :mod:`netlesson.diagrams`, :mod:`netlesson.trace`, :mod:`netlesson.source` -- the
  class diagrams, a traced real request, and live source excerpts
* :mod:`netlesson.widgets`, :mod:`netlesson.exercises` -- notebook widgets and checkers
"""

__version__ = "0.1.0"
