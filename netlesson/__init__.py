"""netlesson: a Jupyter course on Python network programming with ``socketserver``.

Modules, one job each (a package's ``_private`` submodules are re-exported by
its ``__init__``, which is the one public name of each thing):

* :mod:`netlesson.constants` -- the seed tutorial's constants (``ip_port``, ``buffer_size`` ...)
* :mod:`netlesson.tcp`, :mod:`netlesson.udp` -- upper-case echo handlers, servers, clients
* :mod:`netlesson.classroom` -- what makes a server classroom-safe: the mix-in, the one
  bounded stop sequence, logging a handler's events
* :mod:`netlesson.serverlog` -- the bounded, thread-safe log of structured records
  (a kind, the peer, the numbers) that cells, widgets and tests read
* :mod:`netlesson.background` -- start a server in a notebook without blocking the cell
* :mod:`netlesson.framing` -- recvall, length prefixes, delimiters, split UTF-8
* :mod:`netlesson.errors` -- the exceptions, each carrying its data as attributes
* :mod:`netlesson.source` -- live source excerpts, and which class supplies an attribute
* :mod:`netlesson.diagrams` -- class diagrams, MRO chains and call flows, drawn from the
  classes and records it is given
* :mod:`netlesson.trace` -- one real request traced call by call, per thread
* :mod:`netlesson.pics` -- the diagrams in ``pics/`` (needs diagrams and trace; neither needs it)
* :mod:`netlesson.concurrency` -- the concurrency lab: model servers in a child process,
  a load generator, the comparison report
* :mod:`netlesson.widgets` -- the echo console, the MRO explorer and the socket-state table
* :mod:`netlesson.addresses` -- ``getaddrinfo``'s answers named and lined up as a table
* :mod:`netlesson.tls` -- TLS for the classroom server, the handshake in the request's thread
* :mod:`netlesson.quiz` -- predict, then check: a lesson's answer appears only after
  the student's guess
* :mod:`netlesson.exercises` -- checkers for the graded exercises, one module per exercise
* :mod:`netlesson.instructor` -- release the exercises with nbgrader
* :mod:`netlesson.grading` -- grade a class: a sandbox per notebook, verdicts students cannot forge
* :mod:`netlesson.cli` -- ``python -m netlesson ...``, the one command-line program
"""

__version__ = "0.1.0"
