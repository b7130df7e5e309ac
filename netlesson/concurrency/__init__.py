"""Four ways to serve many TCP clients, each run as its own process and measured.

``socketserver`` offers three concurrency models for the same handler, and
``asyncio`` a fourth:

=============  ==============================================================
``single``     ``socketserver.TCPServer``: one connection at a time; the next
               client waits in the listen queue until the current one leaves.
``threading``  ``socketserver.ThreadingTCPServer``: a thread per connection.
``forking``    ``socketserver.ForkingTCPServer``: a child process per connection.
``asyncio``    ``asyncio.start_server``: one thread, one event loop, a
               coroutine per connection.
=============  ==============================================================

and two more kinds exist for ``benchmarks/echo_bench.py``:

=============  ==============================================================
``seed``       a server written exactly like the seed tutorial's:
               ``ThreadingTCPServer`` and a handler that ``print()``-s every
               message (stdout goes to ``/dev/null``).
``netlesson``  :class:`netlesson.tcp.ClassroomTCPServer` with
               :class:`netlesson.tcp.UpperEchoHandler`.
=============  ==============================================================

Why a separate process for every server?  A forking server calls ``fork()``
for every client; inside a Jupyter kernel that would copy the kernel itself,
with its threads and its ZeroMQ sockets, and the copies misbehave.  Running
every kind the same way also makes the comparison fair: the measuring clients
never share an interpreter (or its GIL) with the server they measure.

The server side is a subcommand of the course's command line::

    python -m netlesson concurrency-server threading --port 0 --delay 0.01

It prints the port it bound as the first line of standard output and serves
until its standard input ends (Ctrl-D in a terminal; the parent closing the
pipe), so a server can never outlive the notebook or script that started it.

``--delay`` makes the handler pause for every message, simulating work such
as a database query (``--work sleep``: waiting, which lets other threads run)
or a computation (``--work cpu``: a busy loop, which holds the GIL).  Without
it, loopback round trips are so fast that the models differ mostly in
overhead, and the effect of concurrency is hard to see.

The package, one job per module:

* ``_kinds`` -- the kinds and the options each takes (:data:`KINDS`,
  :data:`DEFAULT_BACKLOG`);
* ``_server`` -- the child process: the handlers (:class:`ModelEchoHandler`,
  :func:`asyncio_echo`) and :func:`serve`;
* ``_process`` -- the parent side: :func:`start_server` runs the child and
  returns an :class:`EchoServerProcess`; :func:`stop_all`;
* ``_clients`` -- the load generator: :func:`run_clients` drives N concurrent
  clients x M messages against an address and returns a :class:`Measurement`;
* ``_report`` -- :func:`compare` does both for several kinds and client
  counts, and returns a :class:`Comparison` (a table and a matplotlib plot).
"""

from ._clients import DEFAULT_PAYLOAD, Measurement, NoReply, WrongReply, run_clients
from ._kinds import DEFAULT_BACKLOG, KINDS, MODEL_KINDS
from ._process import EchoServerProcess, start_server, stop_all
from ._report import Comparison, compare, ideal_rate, usable_cpus
from ._server import ModelEchoHandler, SeedStyleHandler, asyncio_echo, serve

__all__ = [
    "MODEL_KINDS",
    "KINDS",
    "DEFAULT_PAYLOAD",
    "DEFAULT_BACKLOG",
    "ModelEchoHandler",
    "SeedStyleHandler",
    "asyncio_echo",
    "serve",
    "EchoServerProcess",
    "start_server",
    "stop_all",
    "WrongReply",
    "NoReply",
    "Measurement",
    "run_clients",
    "ideal_rate",
    "usable_cpus",
    "Comparison",
    "compare",
]
